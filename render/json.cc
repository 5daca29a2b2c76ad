#include "render/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

namespace dropspot {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void newline(std::string& out, int depth) {
  out += '\n';
  out.append(static_cast<std::size_t>(depth), ' ');
}

/// A JSON string. Escapes what protobuf's writer escapes among ASCII: the
/// quote, the backslash, control characters, DEL, and < > (for HTML).
/// Other bytes pass as they are (proto3 strings are UTF-8).
bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == 0x7f; }

void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    // What needs no escape goes in one piece.
    std::size_t j = i;
    while (j < s.size() && !needs_escape(static_cast<unsigned char>(s[j]))) ++j;
    out.append(s.data() + i, j - i);
    if (j == s.size()) break;
    i = j + 1;
    const auto c = static_cast<unsigned char>(s[j]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      default: {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        out += escaped;
      }
    }
  }
  out += '"';
}

/// The shortest of %.15g and %.17g that reads back as the same value, as
/// protobuf's SimpleDtoa; non-finite values as the strings ProtoJSON names.
template <class Int>
void append_int(std::string& out, Int v, bool quoted) {
  char text[24];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  if (quoted) out += '"';
  out.append(text, end);
  if (quoted) out += '"';
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", v);
  if (std::strtod(text, nullptr) != v) std::snprintf(text, sizeof text, "%.17g", v);
  out += text;
}

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    append_double(out, v);
    return;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", static_cast<double>(v));
  if (std::strtof(text, nullptr) != v) std::snprintf(text, sizeof text, "%.9g", static_cast<double>(v));
  out += text;
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out += '"';
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(n >> shift) & 63];
  }
  if (const auto left = bytes.size() - i; left > 0) {
    auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (left == 2) n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += left == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  out += '"';
}

/// One value of field f: element `index` of a repeated field, or the
/// singular value when index < 0.
void append_value(std::string& out, const Message& m, const FieldDescriptor* f, int index, int depth) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      append_int(out, rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), false);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      append_int(out, rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), false);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      append_int(out, rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), true);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      append_int(out, rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), true);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      append_double(out, rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      append_float(out, rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (const auto* value = f->enum_type()->FindValueByNumber(number))
        append_string(out, value->name());
      else
        append_int(out, number, false);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s =
          rep ? r->GetRepeatedStringReference(m, f, index, &scratch) : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES)
        append_base64(out, s);
      else
        append_string(out, s);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      append_json(out, rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), depth);
      break;
  }
}

/// A map field as an object, entries sorted by key (protobuf's order is its
/// hash table's).
void append_map(std::string& out, const Message& m, const FieldDescriptor* f, int depth) {
  const Reflection* r = m.GetReflection();
  const int n = r->FieldSize(m, f);
  if (n == 0) {
    out += "{}";
    return;
  }
  const auto* key_field = f->message_type()->map_key();
  const auto* value_field = f->message_type()->map_value();
  std::vector<std::pair<std::string, const Message*>> entries;
  entries.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const Message& entry = r->GetRepeatedMessage(m, f, i);
    std::string key;
    append_value(key, entry, key_field, -1, depth);
    if (key.empty() || key.front() != '"') key = '"' + key + '"';  // numbers and bools are quoted as keys
    entries.emplace_back(std::move(key), &entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out += '{';
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    newline(out, depth + 1);
    out += entries[i].first;
    out += ": ";
    append_value(out, *entries[i].second, value_field, -1, depth + 1);
  }
  newline(out, depth);
  out += '}';
}

}  // namespace

void append_json(std::string& out, const Message& message, int depth, const FieldDescriptor* as_empty) {
  const auto* d = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  out += '{';
  bool any = false;
  const auto field = [&](const FieldDescriptor* f) {
    if (any) out += ',';
    any = true;
    newline(out, depth + 1);
    append_string(out, f->json_name());
    out += ": ";
    if (f->is_map()) {
      append_map(out, message, f, depth + 1);
    } else if (f->is_repeated()) {
      const int n = f == as_empty ? 0 : r->FieldSize(message, f);
      if (n == 0) {
        out += "[]";
        return;
      }
      out += '[';
      for (int j = 0; j < n; ++j) {
        if (j > 0) out += ',';
        newline(out, depth + 2);
        append_value(out, message, f, j, depth + 2);
      }
      newline(out, depth + 1);
      out += ']';
    } else {
      append_value(out, message, f, -1, depth + 1);
    }
  };
  // Protobuf's order: the fields outside any oneof in declaration order
  // (sub-messages only when set), then the members of oneofs that are set,
  // by field number. As protobuf's writer
  // does by default, a singular field without presence is left out when it
  // holds its default ("", 0, false, the enum's 0): where 0 or false is a
  // fact (an ICMP code, ok), the field is `optional` and printed when set.
  // Lists are printed even when empty, so that a reader can always iterate.
  // One difference from protobuf's order: a proto3 `optional` field stands
  // where it is declared (Report's ok opens the report).
  std::vector<const FieldDescriptor*> set_in_oneofs;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->real_containing_oneof() != nullptr) {
      if (r->HasField(message, f)) set_in_oneofs.push_back(f);
    } else if (f->is_repeated() || r->HasField(message, f)) {
      field(f);
    }
  }
  std::sort(set_in_oneofs.begin(), set_in_oneofs.end(),
            [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
  for (const auto* f : set_in_oneofs) field(f);
  if (any) newline(out, depth);
  out += '}';
}

}  // namespace dropspot
