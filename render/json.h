#pragma once
// Protobuf messages as proto3 JSON (protobuf.dev's "ProtoJSON Format"), in
// the layout protobuf's own writer gives with add_whitespace and
// always_print_primitive_fields: one space of indent per level,
// lowerCamelCase names, enums by name, 64-bit integers as strings, every
// field of a message that is present (unset sub-messages and unset proto3
// `optional` fields left out), map entries sorted by key. Protobuf's writer
// builds a tree node per field and took a fifth of the prober's CPU on a
// 3000-port report; this walks the message once through reflection.
#include <string>

namespace google::protobuf {
class FieldDescriptor;
class Message;
}  // namespace google::protobuf

namespace dropspot {

/// Appends `message` as JSON at nesting depth `depth` (its fields indented
/// depth + 1 spaces). `as_empty`, a repeated field of the message, is written
/// as an empty list whatever it holds (a caller writes its items itself).
/// Never fails.
void append_json(std::string& out, const google::protobuf::Message& message, int depth = 0,
                 const google::protobuf::FieldDescriptor* as_empty = nullptr);

}  // namespace dropspot
