#include "agent/limits.h"

#include <catch2/catch.hpp>

using namespace dropspot::agent;
using namespace std::chrono_literals;
using verdict = source_limits::verdict;

namespace {

const source_limits::clock::time_point t0{std::chrono::hours(1000)};

source_limits_config small() {
  source_limits_config c;
  c.max_connections = 2;
  c.free_failures = 3;
  c.first_backoff = 1s;
  c.max_backoff = 8s;
  c.forget_after = 60s;
  c.max_sources = 4;
  return c;
}

}  // namespace

TEST_CASE("source_key: IPv4 as is, IPv6 by /64, v4-mapped as IPv4", "[limits]") {
  CHECK(source_key(asio::ip::make_address("198.51.100.2")) == "198.51.100.2");
  CHECK(source_key(asio::ip::make_address("2001:db8:1::2")) == "2001:db8:1::/64");
  CHECK(source_key(asio::ip::make_address("2001:db8:1::ffff:1")) == "2001:db8:1::/64");
  CHECK(source_key(asio::ip::make_address("2001:db8:3::2")) == "2001:db8:3::/64");
  CHECK(source_key(asio::ip::make_address("::ffff:198.51.100.130")) == "198.51.100.130");
}

TEST_CASE("source_limits: connections per source are capped, others unaffected", "[limits]") {
  source_limits limits(small());
  CHECK(limits.admit("a", t0) == verdict::accept);
  CHECK(limits.admit("a", t0) == verdict::accept);
  CHECK(limits.admit("a", t0) == verdict::too_many);
  CHECK(limits.open("a") == 2);
  CHECK(limits.admit("b", t0) == verdict::accept);
  limits.release("a");
  CHECK(limits.open("a") == 1);
  CHECK(limits.admit("a", t0) == verdict::accept);
  // A release that was never admitted changes nothing.
  limits.release("never");
  CHECK(limits.open("never") == 0);
}

TEST_CASE("source_limits: free failures, then a doubling backoff up to the cap", "[limits]") {
  source_limits limits(small());
  auto now = t0;
  for (int i = 0; i < 3; ++i) {
    CHECK(limits.admit("a", now) == verdict::accept);
    limits.auth_failed("a", now);
    limits.release("a");
  }
  CHECK(limits.failures("a") == 3);
  CHECK(limits.wait("a", now) == 0ms);
  CHECK(limits.admit("a", now) == verdict::accept);
  limits.auth_failed("a", now);  // 4th: 1 s
  limits.release("a");
  CHECK(limits.wait("a", now) == 1000ms);
  CHECK(limits.admit("a", now + 999ms) == verdict::backing_off);
  limits.release("a");  // a backing_off connection is counted open too
  CHECK(limits.open("a") == 0);
  now += 1s;
  CHECK(limits.admit("a", now) == verdict::accept);
  limits.auth_failed("a", now);  // 5th: 2 s
  limits.release("a");
  CHECK(limits.wait("a", now) == 2000ms);
  limits.auth_failed("a", now);  // 6th: 4 s
  CHECK(limits.wait("a", now) == 4000ms);
  limits.auth_failed("a", now);  // 7th: 8 s
  limits.auth_failed("a", now);  // 8th: still 8 s, the cap
  CHECK(limits.wait("a", now) == 8000ms);
  for (int i = 0; i < 100; ++i) limits.auth_failed("a", now);
  CHECK(limits.wait("a", now) == 8000ms);
  // Another source is never delayed by a's failures.
  CHECK(limits.admit("b", now) == verdict::accept);
  CHECK(limits.wait("b", now) == 0ms);
}

TEST_CASE("source_limits: a backing-off source still holds at most max_connections", "[limits]") {
  source_limits limits(small());
  for (int i = 0; i < 4; ++i) limits.auth_failed("a", t0);
  CHECK(limits.admit("a", t0) == verdict::backing_off);
  CHECK(limits.admit("a", t0) == verdict::backing_off);
  CHECK(limits.admit("a", t0) == verdict::too_many);
}

TEST_CASE("source_limits: success or time forgets failures", "[limits]") {
  source_limits limits(small());
  for (int i = 0; i < 3; ++i) limits.auth_failed("a", t0);
  limits.auth_succeeded("a");
  CHECK(limits.failures("a") == 0);
  limits.auth_failed("a", t0);
  CHECK(limits.wait("a", t0) == 0ms);  // counting starts again

  for (int i = 0; i < 5; ++i) limits.auth_failed("b", t0);
  CHECK(limits.wait("b", t0) > 0ms);
  const auto later = t0 + 61s;
  CHECK(limits.admit("b", later) == verdict::accept);
  CHECK(limits.failures("b") == 0);
  limits.auth_failed("b", later);
  CHECK(limits.wait("b", later) == 0ms);
}

TEST_CASE("source_limits: the table stays bounded; open connections are never forgotten", "[limits]") {
  source_limits limits(small());  // max_sources 4
  CHECK(limits.admit("held", t0) == verdict::accept);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "s" + std::to_string(i);
    limits.auth_failed(key, t0 + std::chrono::seconds(i));
    CHECK(limits.admit(key, t0 + std::chrono::seconds(i)) == verdict::accept);
    limits.release(key);
    CHECK(limits.size() <= 4);
  }
  CHECK(limits.open("held") == 1);
  // A source with nothing to remember leaves no entry.
  source_limits plain(small());
  CHECK(plain.admit("x", t0) == verdict::accept);
  plain.release("x");
  CHECK(plain.size() == 0);
}
