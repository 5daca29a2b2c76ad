// The pure parts of one probe run: how long an attempt waits, and the exit code.
#include "prober/run.h"
#include "prober/fleet.h"

#include "prober/platform.h"
#include "common/protocol.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using namespace dropspot::prober;
using namespace std::chrono_literals;

TEST_CASE("attempt timeout: the user's, unless the agent's round trip shows a fast path") {
  CHECK(attempt_timeout(2000ms, 0.07, true) == 100ms);    // the lab: 5 round trips, at least 100 ms
  CHECK(attempt_timeout(2000ms, 30.0, true) == 150ms);    // 5 x 30 ms
  CHECK(attempt_timeout(2000ms, 100.0, true) == 500ms);   // a home line to a VPS (bench.sh section 6)
  CHECK(attempt_timeout(2000ms, 500.0, true) == 2000ms);  // 5 x 500 ms is more than the user allows
  CHECK(attempt_timeout(300ms, 5.0, true) == 100ms);
  CHECK(attempt_timeout(50ms, 0.07, true) == 50ms);       // never longer than the user's
  CHECK(attempt_timeout(2000ms, 0.07, false) == 2000ms);  // no capture: nothing to derive from
  CHECK(attempt_timeout(2000ms, 0, true) == 2000ms);      // no round trip measured
}

namespace {

v1::Report report_with(v1::AgentInfo::Status agent, std::initializer_list<bool> as_expected) {
  v1::Report r;
  r.mutable_agent()->set_status(agent);
  for (bool ok : as_expected) r.add_ports()->set_as_expected(ok);
  return r;
}

}  // namespace

TEST_CASE("exit code: 0 as expected, 1 a port not (a broken deploy), 3 only the agent missing (a broken monitor)") {
  CHECK(exit_code(report_with(v1::AgentInfo::CONNECTED, {true, true})) == 0);
  CHECK(exit_code(report_with(v1::AgentInfo::DISABLED, {true})) == 0);  // --no-agent
  CHECK(exit_code(report_with(v1::AgentInfo::CONNECTED, {true, false})) == 1);
  CHECK(exit_code(report_with(v1::AgentInfo::UNREACHABLE, {true})) == 3);  // asked for, not reached
  CHECK(exit_code(report_with(v1::AgentInfo::AUTH_FAILED, {true})) == 3);
  CHECK(exit_code(report_with(v1::AgentInfo::ERROR, {true})) == 3);
  CHECK(exit_code(report_with(v1::AgentInfo::UNREACHABLE, {true, false})) == 1);  // a port failing comes first
  CHECK(exit_code(report_with(v1::AgentInfo::CONNECTED, {})) == 0);
}

TEST_CASE("a target whose name does not resolve: a failed check (exit 1) with its reason, no ports") {
  const auto r = untested_report("vps.invalid", "--target: cannot resolve vps.invalid: Name or service not known");
  CHECK(exit_code(r) == 1);
  CHECK(r.target() == "vps.invalid");
  CHECK(r.error() == "--target: cannot resolve vps.invalid: Name or service not known");
  CHECK(r.ports_size() == 0);
  CHECK(r.schema_version() == report_schema_version);
  CHECK_FALSE(r.ok());
}

TEST_CASE("the SYN's MSS from TCP_INFO: advmss plus the timestamp option Linux took off after the handshake") {
  CHECK(platform::syn_mss_from_advmss(1448, true) == 1460);  // Ethernet, timestamps agreed: the SYN said 1460
  CHECK(platform::syn_mss_from_advmss(1460, false) == 1460);
  CHECK(platform::syn_mss_from_advmss(1428, true) == 1440);  // IPv6
  CHECK(platform::syn_mss_from_advmss(0, true) == 0);        // unknown stays unknown
}

TEST_CASE("exit code of several targets: 1 when any target fails, else 3 when an agent is missing, else 0") {
  const auto ok = report_with(v1::AgentInfo::CONNECTED, {true});
  const auto bad = report_with(v1::AgentInfo::CONNECTED, {false});
  const auto no_agent = report_with(v1::AgentInfo::UNREACHABLE, {true});
  v1::Report untested;
  untested.set_error("cannot resolve");
  CHECK(fleet_exit_code({ok, ok}) == 0);
  CHECK(fleet_exit_code({ok, no_agent}) == 3);
  CHECK(fleet_exit_code({no_agent, bad, ok}) == 1);
  CHECK(fleet_exit_code({ok, untested}) == 1);
  CHECK(fleet_exit_code({}) == 0);
}

TEST_CASE("a name's addresses: one of each family, IPv4 first; -4, -6, --all-addresses") {
  const auto a = [](const char* s) { return asio::ip::make_address(s); };
  const std::vector<asio::ip::address> resolved{a("2001:db8:2::2"), a("203.0.113.2"), a("2001:db8:2::3"),
                                                a("203.0.113.3"), a("::ffff:203.0.113.2")};
  CHECK(choose_addresses(resolved, {}, "www").value() ==
        std::vector<asio::ip::address>{a("203.0.113.2"), a("2001:db8:2::2")});
  CHECK(choose_addresses(resolved, {true, false, false}, "www").value() ==
        std::vector<asio::ip::address>{a("203.0.113.2")});
  CHECK(choose_addresses(resolved, {false, true, false}, "www").value() ==
        std::vector<asio::ip::address>{a("2001:db8:2::2")});
  CHECK(choose_addresses(resolved, {true, true, true}, "www").value() ==
        std::vector<asio::ip::address>{a("203.0.113.2"), a("203.0.113.3"), a("2001:db8:2::2"), a("2001:db8:2::3")});
  // A name with an A record only: as ever, one address.
  CHECK(choose_addresses({a("203.0.113.2")}, {}, "v4").value() == std::vector<asio::ip::address>{a("203.0.113.2")});
  CHECK(choose_addresses({a("203.0.113.2")}, {false, true, false}, "v4").error() ==
        "v4 has no IPv6 address (no AAAA record): -6 leaves nothing to test");
  CHECK(choose_addresses({a("2001:db8:2::2")}, {true, false, false}, "v6").error() ==
        "v6 has no IPv4 address (no A record): -4 leaves nothing to test");
}
