// firewalld's zone and service XML (agent/firewalld) over the fixture tree
// tests/data/host/rocky (a Rocky Linux 9 host: /usr/lib/firewalld defaults,
// /etc/firewalld permanent configuration).
#include <catch2/catch.hpp>

#include "agent/firewalld.h"

using namespace dropspot;
using namespace dropspot::agent;

namespace {

const std::string root = std::string(DROPSPOT_TEST_DATA) + "/host/rocky";

std::optional<asio::ip::address> addr(const char* a) { return asio::ip::make_address(a); }

}  // namespace

TEST_CASE("firewalld XML: zone elements, rich rules, services with includes, bad input") {
  auto z = parse_firewalld_zone("work", R"(<?xml version="1.0" encoding="utf-8"?>
<!-- an admin's comment -->
<zone target="%%REJECT%%">
  <short>Work &amp; more</short>
  <interface name="ens3"/>
  <source address="2001:db8::/32"/>
  <service name="ssh"/>
  <port protocol="tcp" port="8000-8010"/>
  <port port="53" protocol="udp"/>
  <rule family="ipv6" priority="-10">
    <source address="2001:db8:bad::/48" invert="True"/>
    <port port="22" protocol="tcp"/>
    <drop/>
  </rule>
  <rule><service name="ftp"/><log prefix="ftp"/><reject type="icmp-port-unreachable"/></rule>
  <rule><forward-port port="80" protocol="tcp" to-port="8080"/></rule>
</zone>)");
  REQUIRE(z);
  CHECK(z->target == "%%REJECT%%");
  CHECK(z->interfaces == std::vector<std::string>{"ens3"});
  CHECK(z->sources == std::vector<std::string>{"2001:db8::/32"});
  REQUIRE(z->ports.size() == 2);
  CHECK(z->ports[0].covers(8005));
  CHECK_FALSE(z->ports[1].covers(53));  // udp
  REQUIRE(z->rich_rules.size() == 3);
  CHECK(z->rich_rules[0].source_invert);
  CHECK(z->rich_rules[0].action == "drop");
  CHECK(z->rich_rules[0].text ==
        "rule family=\"ipv6\" priority=\"-10\" source NOT address=\"2001:db8:bad::/48\" port port=\"22\" "
        "protocol=\"tcp\" drop");
  CHECK(z->rich_rules[1].text == "rule service name=\"ftp\" log reject type=\"icmp-port-unreachable\"");
  CHECK(z->rich_rules[2].action.empty());  // forward-port: not about SYNs to this host's port

  auto s = parse_firewalld_service(
      "web-all", "<service><include service=\"http\"/><port protocol=\"tcp\" port=\"8443\"/></service>");
  REQUIRE(s);
  CHECK(s->includes == std::vector<std::string>{"http"});
  CHECK(s->ports.at(0).low == 8443);

  CHECK_FALSE(parse_firewalld_zone("x", "<zone><service name=\"ssh\"></zone>"));
  CHECK_FALSE(parse_firewalld_zone("x", "<service/>"));
  CHECK_FALSE(parse_firewalld_service("x", "not xml"));
  CHECK(parse_firewalld_default_zone("# c\nDefaultZone=internal\n") == "internal");
  CHECK(parse_firewalld_default_zone("") == "public");
}

TEST_CASE("firewalld config: /etc overrides /usr/lib file by file") {
  auto cfg = read_firewalld_config(root);
  REQUIRE(cfg);
  CHECK(cfg->default_zone == "public");
  CHECK(cfg->notes.empty());
  REQUIRE(cfg->zones.count("public"));
  CHECK(cfg->zones.at("public").file == "/etc/firewalld/zones/public.xml");
  CHECK(cfg->zones.at("public").interfaces == std::vector<std::string>{"eth0"});
  CHECK(cfg->zones.at("drop").file == "/usr/lib/firewalld/zones/drop.xml");
  CHECK(cfg->zones.at("drop").target == "DROP");
  CHECK(cfg->services.count("https"));
  CHECK(firewalld_running(root));
  CHECK_FALSE(firewalld_running(std::string(DROPSPOT_TEST_DATA) + "/host/debian"));
  CHECK_FALSE(read_firewalld_config(std::string(DROPSPOT_TEST_DATA) + "/host/debian"));
}

TEST_CASE("firewalld: the zone of the source or interface allows or rejects the port") {
  auto cfg = *read_firewalld_config(root);
  auto http = evaluate(cfg, 80, addr("203.0.113.5"), "eth0");
  CHECK(http.allowed);
  CHECK(http.zone == "public");
  CHECK(http.why == "firewalld zone public (interface eth0) allows service http (80/tcp)");

  auto https = evaluate(cfg, 443, addr("203.0.113.5"), "eth0");
  CHECK_FALSE(https.allowed);
  CHECK(https.action == "reject");
  CHECK(https.service_for_port == "https");
  // Real firewalld services that list 8080 (RH-Satellite-6 among a dozen
  // ports, jenkins alone): neither is named, --add-port is.
  CHECK(evaluate(cfg, 8080, addr("203.0.113.5"), "eth0").service_for_port.empty());
  CHECK(evaluate(cfg, 25, addr("203.0.113.5"), "eth0").service_for_port == "smtp");
  CHECK(https.why ==
        "firewalld zone public (interface eth0) does not allow 443/tcp (services: ssh dhcpv6-client "
        "cockpit http; ports: 8000-8010/tcp; target default: rejected)");

  // rich rules: a reject for one source network comes before the port range that allows it
  auto ranged = evaluate(cfg, 8005, addr("203.0.113.5"), "eth0");
  CHECK(ranged.allowed);
  CHECK(ranged.why == "firewalld zone public (interface eth0) allows port 8000-8010/tcp");
  auto rejected = evaluate(cfg, 8005, addr("198.51.100.7"), "eth0");
  CHECK_FALSE(rejected.allowed);
  CHECK(rejected.why ==
        "firewalld zone public (interface eth0): rich rule rule family=\"ipv4\" source "
        "address=\"198.51.100.0/24\" port port=\"8005\" protocol=\"tcp\" reject rejects 8005/tcp");
  CHECK(evaluate(cfg, 25, addr("192.0.2.10"), "eth0").allowed);
  CHECK_FALSE(evaluate(cfg, 25, addr("192.0.2.11"), "eth0").allowed);
  CHECK_FALSE(evaluate(cfg, 25, std::nullopt, "eth0").allowed);  // any source: the source rule does not count

  // zone by source first, then by interface, else the default zone
  auto by_source = evaluate(cfg, 3306, addr("10.1.2.3"), "eth0");
  CHECK(by_source.allowed);
  CHECK(by_source.why == "firewalld zone internal (source 10.0.0.0/8) allows service mysql (3306/tcp)");
  CHECK(evaluate(cfg, 3306, addr("203.0.113.5"), "eth1").why ==
        "firewalld zone internal (interface eth1) allows service mysql (3306/tcp)");
  auto fallback = evaluate(cfg, 3306, addr("203.0.113.5"), "eth9");
  CHECK_FALSE(fallback.allowed);
  CHECK(fallback.zone == "public");
  CHECK(fallback.why.rfind("firewalld zone public (default zone, interface eth9 is bound to no zone) does not allow",
                           0) == 0);
  // a zone with target DROP
  cfg.zones.at("drop").interfaces = {"eth2"};
  auto dropped = evaluate(cfg, 22, addr("203.0.113.5"), "eth2");
  CHECK(dropped.action == "drop");
  CHECK(dropped.why.find("target DROP: dropped") != std::string::npos);
}

TEST_CASE("firewalld: a UDP port is allowed by the zone's udp ports and services, not by their tcp ones") {
  auto cfg = *read_firewalld_config(root);
  auto dhcp = evaluate(cfg, 546, addr("203.0.113.5"), "eth0", true);  // dhcpv6-client: 546/udp
  CHECK(dhcp.allowed);
  CHECK(dhcp.why == "firewalld zone public (interface eth0) allows service dhcpv6-client (546/udp)");
  CHECK_FALSE(evaluate(cfg, 546, addr("203.0.113.5"), "eth0").allowed);  // not for TCP
  auto ranged = evaluate(cfg, 8003, addr("203.0.113.5"), "eth0", true);  // 8000-8010/tcp only
  CHECK_FALSE(ranged.allowed);
  CHECK(ranged.why.find("does not allow 8003/udp") != std::string::npos);
  CHECK(ranged.service_for_port.empty());
  CHECK_FALSE(evaluate(cfg, 80, addr("203.0.113.5"), "eth0", true).allowed);  // http is 80/tcp
}
