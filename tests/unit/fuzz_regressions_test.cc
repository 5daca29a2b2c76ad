// Inputs the fuzzers (fuzz/) found or that their review showed, as unit
// tests: each crashed, hung or escaped its parser's result before its fix.
// The same inputs are in fuzz/corpus/<target>/crash-*.
#include <catch2/catch.hpp>
#include <chrono>

#include "agent/firewall/firewall.h"
#include "prober/app/parse.h"

using namespace dropspot::agent;

namespace {

syn_packet ssh_syn() {
  syn_packet p;
  p.source = asio::ip::make_address("198.51.100.7");
  p.destination = asio::ip::make_address("203.0.113.2");
  p.port = 22;
  p.in_interface = "eth0";
  return p;
}

const std::string nft_chain =
    R"({"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter", "hook": "input", "prio": 0,)"
    R"( "policy": "accept"}})";

std::string nft_rules(const std::string& rules) { return R"({"nftables": [)" + nft_chain + rules + "]}"; }

}  // namespace

TEST_CASE("fuzz regression: an nft match without left or right is 'may match', not undefined behaviour") {
  // nlohmann's const operator[] on a missing key reads past the object.
  auto rules = parse_nft_json(nft_rules(R"(, {"rule": {"family": "inet", "table": "t", "chain": "input",)"
                                        R"( "handle": 4, "expr": [{"match": {"op": "=="}}, {"drop": null}]}})"));
  REQUIRE(rules.ok());
  const auto finding = evaluate(rules.value(), ssh_syn());
  CHECK(finding.action == fw_action::drop);
  CHECK_FALSE(finding.notes.empty());
}

TEST_CASE("fuzz regression: an nft field of the wrong JSON type fails the parse instead of throwing") {
  auto rules = parse_nft_json(R"({"nftables": [{"chain": {"family": 7, "table": "t", "name": "input"}}]})");
  REQUIRE_FALSE(rules.ok());
  CHECK(rules.error().find("unexpected structure") != std::string::npos);
  auto not_object = parse_nft_json(R"({"nftables": [{"chain": []}]})");
  REQUIRE_FALSE(not_object.ok());
}

TEST_CASE("fuzz regression: a statement of the wrong JSON type is reported, not thrown, by evaluate") {
  const std::string json = nft_rules(R"(, {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 4,)"
                                     R"( "expr": [{"match": {"op": "==", "left": {"payload": 5}, "right": 22}},)"
                                     R"( {"drop": null}]}})");
  // Rendered from JSON, the rule fails the parse; quoted from the text, the evaluation meets it.
  auto unreadable = parse_nft_json(json);
  REQUIRE_FALSE(unreadable.ok());
  CHECK(unreadable.error().find("unexpected structure") != std::string::npos);
  auto rules = parse_nft_json(json, "table inet t {\n  chain input {\n    tcp dport 22 drop # handle 4\n  }\n}\n");
  REQUIRE(rules.ok());
  const auto finding = evaluate(rules.value(), ssh_syn());
  CHECK_FALSE(finding.blocks());
  REQUIRE(finding.notes.size() == 1);
  CHECK(finding.notes[0].find("not evaluated") != std::string::npos);
}

TEST_CASE("fuzz regression: nft JSON nested absurdly deep is refused") {
  std::string deep = R"({"nftables": [)" + std::string(5000, '[') + std::string(5000, ']') + "]}";
  auto rules = parse_nft_json(deep);
  REQUIRE_FALSE(rules.ok());
  CHECK(rules.error().find("deeper") != std::string::npos);
}

TEST_CASE("fuzz regression: iptables jumps that fan out stop after a bounded number of chains") {
  // Two rules jumping to a chain that does the same, 32 deep: 2^32 visits before.
  const auto t0 = std::chrono::steady_clock::now();
  auto rules = parse_iptables_save(
      "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -j A\n-A A -j A\n-A A -j A\n"
      "-A INPUT -p tcp --dport 22 -j DROP\nCOMMIT\n");
  REQUIRE(rules.ok());
  const auto finding = evaluate(rules.value(), ssh_syn(), "iptables");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(finding.action == fw_action::drop);
  bool stopped = false;
  for (const auto& n : finding.notes) stopped = stopped || n.find("evaluation stopped") != std::string::npos;
  CHECK(stopped);
}

TEST_CASE("fuzz regression: nft jumps that fan out stop after a bounded number of chains") {
  const auto jump = [](const char* chain) {
    return std::string(R"(, {"rule": {"family": "inet", "table": "t", "chain": ")") + chain +
           R"(", "expr": [{"jump": {"target": "a"}}]}})";
  };
  const std::string a_chain = R"(, {"chain": {"family": "inet", "table": "t", "name": "a"}})";
  auto rules = parse_nft_json(nft_rules(a_chain + jump("input") + jump("a") + jump("a")));
  REQUIRE(rules.ok());
  const auto t0 = std::chrono::steady_clock::now();
  const auto finding = evaluate(rules.value(), ssh_syn());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK_FALSE(finding.blocks());
  bool stopped = false;
  for (const auto& n : finding.notes) stopped = stopped || n.find("evaluation stopped") != std::string::npos;
  CHECK(stopped);
}

TEST_CASE("fuzz regression: an HTTP status above 599 is not an HTTP response") {
  using namespace dropspot::prober::app;
  CHECK(parse_http_head("HTTP/1ent-Length7 615\r\nConnection: close\r\n\r\n", 4096).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 999 Odd\r\n\r\n", 4096).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 599 Edge\r\n\r\n", 4096).status == parse_status::done);
}
