#include <catch2/catch.hpp>

#include "common/endpoint.h"

using namespace dropspot;

TEST_CASE("hosts: names and literals are accepted") {
  for (const char* ok : {"example.com", "a-b.example.", "203.0.113.2", "2001:db8::2", "localhost", "x"}) {
    INFO(ok);
    CHECK(validate_host(ok).ok());
  }
}

TEST_CASE("hosts: junk is refused") {
  for (const char* bad :
       {"", "-a.com", "a-.com", "a..b", "exa mple.com", "a/b", "http://x", "a;rm -rf", "\x01host", "."}) {
    INFO(bad);
    CHECK_FALSE(validate_host(bad).ok());
  }
  CHECK_FALSE(validate_host(std::string(64, 'a') + ".com").ok());
  CHECK_FALSE(validate_host(std::string(300, 'a')).ok());
}

TEST_CASE("endpoints parse host, port and bracketed IPv6") {
  auto e = parse_endpoint("agent.example:443").value();
  CHECK(e.host == "agent.example");
  CHECK(e.port == 443);
  e = parse_endpoint("[2001:db8::2]:7411").value();
  CHECK(e.host == "2001:db8::2");
  CHECK(e.port == 7411);
  e = parse_endpoint("2001:db8::2").value();
  CHECK(e.host == "2001:db8::2");
  CHECK(e.port == 0);
  e = parse_endpoint("203.0.113.2").value();
  CHECK(e.port == 0);
  for (const char* bad : {"host:", "host:0", "host:70000", "[2001:db8::2", "[x]:1", "[2001:db8::2]x", "a:b:c"}) {
    INFO(bad);
    CHECK_FALSE(parse_endpoint(bad).ok());
  }
  CHECK(format_endpoint("2001:db8::2", 7411) == "[2001:db8::2]:7411");
  CHECK(format_endpoint("h", 1) == "h:1");
}
