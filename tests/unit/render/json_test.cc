// render/json: the same text as protobuf's own JSON writer (add_whitespace,
// lowerCamelCase, fields at their default left out) for the messages the
// prober and the agent print, except that lists are printed when empty; and
// JSON that protobuf reads back to the same message.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dropspot.pb.h"
#include "render/json.h"
#include "render/report.h"

using namespace dropspot;

namespace {

std::string protobuf_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string out;
  REQUIRE(google::protobuf::util::MessageToJsonString(m, &out, options).ok());
  return out;
}

/// The same JSON values, whatever the order of members: protobuf's writer
/// puts proto3 `optional` fields last, ours where they are declared.
bool same_json(const std::string& a, const std::string& b) {
  return nlohmann::json::parse(a) == nlohmann::json::parse(b);
}

/// `json` without the lines of empty lists (`"notes": [],`), the comma
/// before a removed last member dropped: what protobuf's writer leaves out.
std::string without_empty_lists(const std::string& json) {
  std::vector<std::string> kept;
  std::size_t at = 0;
  while (at < json.size()) {
    auto end = json.find('\n', at);
    if (end == std::string::npos) end = json.size();
    std::string line = json.substr(at, end - at);
    at = end + 1;
    const auto t = line.find_first_not_of(' ');
    const bool empty_list =
        t != std::string::npos && line[t] == '"' && (line.ends_with(": []") || line.ends_with(": [],"));
    if (empty_list) {
      if (!line.ends_with(",") && !kept.empty() && kept.back().ends_with(",")) kept.back().pop_back();
      continue;
    }
    kept.push_back(line);
  }
  std::string out;
  for (const auto& l : kept) out += l + "\n";
  // An object whose members were all empty lists: protobuf writes {}.
  for (std::size_t p; (p = out.find("{\n")) != std::string::npos;) {
    const auto close = out.find_first_not_of(' ', p + 2);
    if (close == std::string::npos || out[close] != '}') break;
    out.replace(p, close - p + 1, "{}");
  }
  return out;
}

/// Ours, with the line end protobuf's writer puts after the whole.
std::string ours(const google::protobuf::Message& m) {
  std::string out;
  append_json(out, m);
  return out + "\n";
}

/// A report with every kind of field the schema has: nested and repeated
/// messages, enums, 64-bit integers, doubles, strings that need escaping,
/// proto3 `optional` fields set and unset, a one-entry map.
v1::Report rich_report() {
  v1::Report r;
  r.set_target("vps.example");
  r.set_address("203.0.113.2");
  r.set_elapsed_ms(1234.5678);
  r.add_notes(
      "a note with \"quotes\", a \\ backslash, a tab\t, <html> & a \x01 control, DEL \x7f, and UTF-8: é ü 日本");
  auto* agent = r.mutable_agent();
  agent->set_status(v1::AgentInfo::CONNECTED);
  agent->set_rtt_ms(0.1);
  agent->add_interfaces("lo");
  agent->add_interfaces("eth0");
  auto* p = r.add_ports();
  p->set_port(80);
  p->set_verdict(v1::OPEN);
  p->set_decided_ms(1e-7);
  auto* ev = p->mutable_evidence();
  auto* a = ev->add_attempts();
  a->set_outcome(v1::Attempt::CONNECTED);
  a->set_start_unix_us(1796097548587340ULL);
  a->set_elapsed_ms(286.435398);
  auto* pk = ev->add_agent_packets();
  pk->set_time_unix_us(std::numeric_limits<std::uint64_t>::max());
  pk->set_kind(v1::PacketEvent::SYN_ACK);
  pk->mutable_options()->set_mss(1460);  // window_scale left unset
  pk->mutable_options()->add_kinds(2);
  ev->add_agent_packets()->set_direction(v1::PacketEvent::OUTBOUND);  // options unset: left out
  p->mutable_app()->set_kind("http");
  (*p->mutable_app()->mutable_fields())["status"] = "200";
  auto* q = r.add_ports();
  q->set_port(443);
  q->set_verdict(static_cast<v1::Verdict>(99));  // a number the enum does not name
  q->set_decided_ms(1.0 / 3.0);
  r.add_ports();  // all defaults
  return r;
}

}  // namespace

TEST_CASE("json: the text protobuf's writer gives, for a report with every kind of field") {
  const auto r = rich_report();
  CHECK(same_json(without_empty_lists(ours(r)), protobuf_json(r)));
  CHECK(without_empty_lists(ours(v1::Report())) == protobuf_json(v1::Report()));
  v1::PortReport empty;
  CHECK(without_empty_lists(ours(empty)) == protobuf_json(empty));
  // write_json streams the ports one by one into their place: the same text.
  CHECK(render_json(r) == ours(r));
  CHECK(render_json(v1::Report()) == ours(v1::Report()));
  v1::Report one;
  one.add_ports()->set_port(22);
  CHECK(without_empty_lists(render_json(one)) == protobuf_json(one));
  // The text itself, where no optional field is set: an attempt.
  v1::Attempt a;
  a.set_outcome(v1::Attempt::TIMED_OUT);
  a.set_start_unix_us(1796097548587340ULL);
  a.set_elapsed_ms(2000.5);
  a.set_error("timed out <after> \"2 s\"");
  CHECK(ours(a) == protobuf_json(a));
}

TEST_CASE("json: defaults left out, lists kept, a set optional printed even at 0 or false") {
  v1::Report r;
  r.set_schema_version(1);
  r.set_ok(false);
  auto* p = r.add_ports();
  p->set_port(80);
  p->set_as_expected(false);
  auto* a = p->mutable_evidence()->add_attempts();
  a->set_outcome(v1::Attempt::UNREACHABLE);
  a->set_icmp_type(11);
  a->set_icmp_code(0);  // time exceeded in transit: 0 is the code
  const auto text = ours(r);
  INFO(text);
  CHECK(text.find("\"ok\": false") != std::string::npos);
  CHECK(text.find("\"asExpected\": false") != std::string::npos);
  CHECK(text.find("\"icmpCode\": 0") != std::string::npos);
  CHECK(text.find("\"error\"") == std::string::npos);                       // "" left out
  CHECK(text.find("\"target\"") == std::string::npos);                      // "" left out
  CHECK(text.find("\"elapsedMs\"") == std::string::npos);                   // 0 left out
  CHECK(text.find("\"verdict\"") == std::string::npos);                     // VERDICT_UNSPECIFIED left out
  CHECK(text.find("\"notes\": []") != std::string::npos);                   // a list, even empty
  CHECK(text.rfind("{\n \"schemaVersion\": 1,\n \"ok\": false,", 0) == 0);  // they open the report
  v1::Report back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(text, &back).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(r, back));
  CHECK(back.has_ok());
  CHECK(back.ports(0).evidence().attempts(0).has_icmp_code());
}

TEST_CASE("json: control-channel messages: oneof members, bytes as base64") {
  for (const std::string& mac :
       {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0\xff\x10\x80", 4)}) {
    v1::Envelope e;
    e.mutable_auth()->set_mac(mac);
    INFO("mac of " << mac.size() << " bytes");
    CHECK(without_empty_lists(ours(e)) == protobuf_json(e));
  }
  v1::Envelope none;
  CHECK(without_empty_lists(ours(none)) == protobuf_json(none));
  v1::Envelope done;
  done.mutable_probes_done();  // an empty message, present
  CHECK(without_empty_lists(ours(done)) == protobuf_json(done));
}

TEST_CASE("json: doubles as protobuf prints them; non-finite ones as strings") {
  for (double v : {0.0, -0.0, 1.0, 0.1, 123456789.123, 1e21, 1e-300, 2.5e-5, 970.568599, 1.0 / 3.0,
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::quiet_NaN(),
                   std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    v1::Attempt r;
    r.set_elapsed_ms(v);
    INFO("value " << v);
    CHECK(ours(r) == protobuf_json(r));
  }
}

TEST_CASE("json: a map of several entries reads back to the same message, keys in order") {
  auto r = rich_report();
  auto& fields = *r.mutable_ports(0)->mutable_app()->mutable_fields();
  fields["zeta"] = "last";
  fields["alpha"] = "first";
  fields["note"] = "line\nbreak";
  const auto text = ours(r);
  v1::Report back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(text, &back).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(r, back));
  CHECK(text.find("\"alpha\"") < text.find("\"note\""));
  CHECK(text.find("\"note\"") < text.find("\"zeta\""));
}
