#include "common/net.h"

#include <asio/ip/address.hpp>
#include <catch2/catch.hpp>

using namespace dropspot;

TEST_CASE("address prefixes: as users, rulesets and iptables write them; nothing for what is no prefix") {
  const auto a = asio::ip::make_address("203.0.113.2");
  const auto six = asio::ip::make_address("2001:db8:2::2");
  CHECK(address_in_cidr(a, "203.0.113.0/24") == true);
  CHECK(address_in_cidr(a, "203.0.113.2") == true);
  CHECK(address_in_cidr(a, "203.0.113.3") == false);
  CHECK(address_in_cidr(a, "203.0.113.128/25") == false);
  CHECK(address_in_cidr(a, "0.0.0.0/0") == true);
  CHECK(address_in_cidr(a, "203.0.0.0/255.255.0.0") == true);  // iptables' dotted mask
  CHECK(address_in_cidr(six, "2001:db8::/32") == true);
  CHECK(address_in_cidr(six, "2001:db8:3::/48") == false);
  CHECK(address_in_cidr(six, "203.0.113.0/24") == false);  // across families
  CHECK(address_in_cidr(asio::ip::make_address("::ffff:203.0.113.2"), "203.0.113.0/24") == true);
  for (const char* bad : {"203.0.113.0/33", "2001:db8::/129", "203.0.113.0/", "203.0.113.0/x", "myset", "",
                          "203.0.113.0/-1", "2001:db8::/255.0.0.0"})
    CHECK_FALSE(address_in_cidr(a, bad).has_value());
  CHECK(in_range(a, asio::ip::make_address("203.0.113.1"), asio::ip::make_address("203.0.113.9")));
  CHECK_FALSE(in_range(six, asio::ip::make_address("203.0.113.1"), asio::ip::make_address("203.0.113.9")));
}
