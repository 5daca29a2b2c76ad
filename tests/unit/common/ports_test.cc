#include <catch2/catch.hpp>

#include "common/ports.h"

using dropspot::format_port_list;
using dropspot::parse_port_list;
using V = std::vector<std::uint16_t>;

TEST_CASE("port lists parse single ports, ranges and duplicates") {
  CHECK(parse_port_list("22").value() == V{22});
  CHECK(parse_port_list("443,22,80").value() == V{22, 80, 443});
  CHECK(parse_port_list("8000-8003").value() == V{8000, 8001, 8002, 8003});
  CHECK(parse_port_list(" 22 , 80-81 ,80").value() == V{22, 80, 81});
  CHECK(parse_port_list("65535").value() == V{65535});
  CHECK(parse_port_list("1-65535").value().size() == 65535);
  CHECK(parse_port_list("5-5").value() == V{5});
}

TEST_CASE("bad port lists are refused with a message naming the item") {
  const char* bad[] = {"",      "abc",  "22,", ",22",    "0",   "65536", "22,,80",
                       "80-22", "-5",   "5-",  "1.5",    "+22", "22a",   "99999999999999999999",
                       "22 80", "0x50", "-",   "80--90", "٣"};
  for (const char* text : bad) {
    INFO("input: " << text);
    auto r = parse_port_list(text);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.error().empty());
  }
  CHECK(parse_port_list("abc").error().find("'abc'") != std::string::npos);
  CHECK(parse_port_list("80-22").error().find("start is above end") != std::string::npos);
  CHECK(parse_port_list("65536").error().find("out of range") != std::string::npos);
}

TEST_CASE("port lists format compactly") {
  CHECK(format_port_list({22, 80, 81, 82, 443}) == "22,80-82,443");
  CHECK(format_port_list({}).empty());
}

TEST_CASE("port_of_listen: the port of a listen address as configuration files and systemd write it") {
  CHECK(*dropspot::port_of_listen("80") == 80);
  CHECK(*dropspot::port_of_listen("0.0.0.0:8080") == 8080);
  CHECK(*dropspot::port_of_listen("[::]:443") == 443);
  CHECK(*dropspot::port_of_listen("*:25") == 25);
  CHECK_FALSE(dropspot::port_of_listen("[::1]"));
  CHECK_FALSE(dropspot::port_of_listen("/run/php/php-fpm.sock"));
  CHECK_FALSE(dropspot::port_of_listen("0.0.0.0:0"));
  CHECK_FALSE(dropspot::port_of_listen("host:http"));
}

TEST_CASE("port lists with transports: /udp, /tcp, ranges, both for one number") {
  using dropspot::format_port_specs;
  using dropspot::parse_port_specs;
  auto p = parse_port_specs("22,80,53/udp,51820/UDP,5000-5002/udp,443/tcp,53").value();
  CHECK(p.tcp == V{22, 53, 80, 443});
  CHECK(p.udp == V{53, 5000, 5001, 5002, 51820});
  CHECK(p.size() == 9);
  CHECK(format_port_specs(p) == "22,53,80,443,53/udp,5000-5002/udp,51820/udp");
  CHECK(parse_port_specs(format_port_specs(p)).value().udp == p.udp);
  CHECK(format_port_specs(parse_port_specs("53/udp").value()) == "53/udp");
  CHECK(parse_port_specs("80").value().udp.empty());
  for (const char* bad : {"53/icmp", "/udp", "53/", "22,,53/udp", "0/udp", "70000/udp", "53/udp/udp", "5-1/udp", ""}) {
    INFO("input: " << bad);
    auto r = parse_port_specs(bad);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.error().empty());
  }
  CHECK(parse_port_specs("53/icmp").error().find("unknown protocol 'icmp' (tcp or udp)") != std::string::npos);
  CHECK(dropspot::port_label(53, true) == "53/udp");
  CHECK(dropspot::port_label(53, false) == "53");
  const auto keys = dropspot::port_keys({80}, {53});
  REQUIRE(keys.size() == 2);
  CHECK(dropspot::key_port(keys[1]) == 53);
  CHECK(dropspot::key_udp(keys[1]));
  CHECK_FALSE(dropspot::key_udp(keys[0]));
  CHECK(dropspot::key_label(keys[1]) == "53/udp");
}
