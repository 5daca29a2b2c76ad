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
