#include "prober/exporter.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using namespace dropspot::prober;

TEST_CASE("exporter: the query decoded, in order; bad escapes and floods refused") {
  const auto q =
      parse_query("target=vps.example.com&ports=22%2C80&expect=80%3Dopen&probe=8080=http&x+y=a+b&flag").value();
  REQUIRE(q.size() == 6);
  CHECK(q[0] == std::pair<std::string, std::string>{"target", "vps.example.com"});
  CHECK(q[1].second == "22,80");
  CHECK(q[2].second == "80=open");
  CHECK(q[3].second == "8080=http");  // '=' inside a value is the value's
  CHECK(q[4] == std::pair<std::string, std::string>{"x y", "a b"});
  CHECK(q[5] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(parse_query("").value().empty());
  CHECK(parse_query("&&").value().empty());
  for (const char* bad : {"target=%", "target=%4", "target=%zz", "target=a%00b"}) CHECK_FALSE(parse_query(bad).ok());
  std::string many;
  for (int i = 0; i < 65; ++i) many += "a=1&";
  CHECK(parse_query(many).error() == "more than 64 parameters");
  CHECK_FALSE(parse_query(std::string(5000, 'a')).ok());
}

TEST_CASE("exporter: /probe's parameters as a targets-file line; ssh never over HTTP") {
  auto line = probe_request({{"target", "vps.example.com"},
                             {"ports", "22,80"},
                             {"expect", "80=open"},
                             {"agent", "vps.example.com:7412"},
                             {"timeout", "1s"}})
                  .value();
  CHECK(line.host == "vps.example.com");
  CHECK(line.ports == "22,80");
  REQUIRE(line.settings.size() == 3);
  CHECK(line.settings[1] == std::pair<std::string, std::string>{"agent", "vps.example.com:7412"});
  // And as the prober checks a line: the same options.
  raw_options raw;
  raw.targets = {line.host};
  apply_target_line(raw, line);
  const auto o = validate_options(raw).value();
  CHECK(o.ports == std::vector<std::uint16_t>{22, 80});
  CHECK(o.agents.at(0).port == 7412);
  CHECK(o.timeout.count() == 1000);

  CHECK(probe_request({{"ports", "22"}}).error() == "no target: /probe?target=HOST&ports=22,80,443");
  CHECK(probe_request({{"target", "a"}, {"target", "b"}}).error() == "target given twice (one target a request)");
  CHECK(probe_request({{"target", "a"}, {"ssh", "root@a"}}).error() ==
        "unknown parameter 'ssh' (target, ports, agent, expect, probe, timeout, app-timeout)");
  CHECK_FALSE(probe_request({{"target", ""}}).ok());
  CHECK_FALSE(probe_request({{"target", "a"}, {"ports", "1"}, {"ports", "2"}}).ok());
}

TEST_CASE("exporter: --allow-target by name, by address or prefix, or any") {
  std::vector<allow_rule> rules;
  for (const char* text : {"VPS.example.com.", "203.0.113.0/24", "2001:db8:2::2"})
    rules.push_back(parse_allow_rule(text).value());
  CHECK(rules[0].text == "vps.example.com");
  CHECK_FALSE(rules[0].prefix);
  CHECK(rules[1].prefix);
  const auto addr = [](const char* a) { return std::optional(asio::ip::make_address(a)); };
  CHECK(target_allowed(rules, "vps.example.com", addr("192.0.2.9")));  // by its name
  CHECK(target_allowed(rules, "vps.EXAMPLE.com.", std::nullopt));
  CHECK(target_allowed(rules, "web.example.com", addr("203.0.113.7")));  // by the address it resolved to
  CHECK(target_allowed(rules, "2001:db8:2::2", addr("2001:db8:2::2")));
  CHECK_FALSE(target_allowed(rules, "web.example.com", addr("198.51.100.1")));
  CHECK_FALSE(target_allowed(rules, "web.example.com", std::nullopt));
  CHECK_FALSE(target_allowed(rules, "2001:db8:2::3", addr("2001:db8:2::3")));
  CHECK_FALSE(target_allowed({}, "vps.example.com", addr("203.0.113.7")));
  CHECK(target_allowed({parse_allow_rule("*").value()}, "anything", addr("198.51.100.1")));
  CHECK_FALSE(parse_allow_rule("203.0.113.0/33").ok());
  CHECK_FALSE(parse_allow_rule("not a host").ok());
  CHECK_FALSE(parse_allow_rule("").ok());
}
