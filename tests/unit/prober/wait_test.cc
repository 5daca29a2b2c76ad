#include <catch2/catch.hpp>

#include "render/report.h"
#include "prober/wait.h"

using namespace dropspot;
using namespace dropspot::prober;
using namespace std::chrono_literals;

TEST_CASE("wait: no --wait means a single run") {
  CHECK_FALSE(next_pause(1, 0ms, 0ms).has_value());
  CHECK_FALSE(next_pause(1, 3000ms, 0ms).has_value());
}

TEST_CASE("wait: the backoff doubles from 500 ms up to 5 s") {
  const millis deadline = 10min;
  CHECK(next_pause(1, 1s, deadline) == 500ms);
  CHECK(next_pause(2, 1s, deadline) == 1000ms);
  CHECK(next_pause(3, 1s, deadline) == 2000ms);
  CHECK(next_pause(4, 1s, deadline) == 4000ms);
  CHECK(next_pause(5, 1s, deadline) == 5000ms);
  CHECK(next_pause(60, 1s, deadline) == 5000ms);
  CHECK(next_pause(4'000'000'000u, 1s, deadline) == 5000ms);  // no overflow
}

TEST_CASE("wait: the pause ends at the deadline, and nothing starts after it") {
  CHECK(next_pause(5, 58'000ms, 60s) == 2000ms);  // the last run starts at the deadline
  CHECK(next_pause(1, 1900ms, 2s) == 100ms);
  CHECK_FALSE(next_pause(2, 2000ms, 2s).has_value());
  CHECK_FALSE(next_pause(2, 2500ms, 2s).has_value());
}

namespace {

v1::Report waited_report(v1::AgentInfo::Status status, std::vector<bool> as_expected) {
  v1::Report r;
  r.mutable_agent()->set_status(status);
  std::uint32_t port = 80;
  for (bool ok : as_expected) {
    auto* p = r.add_ports();
    p->set_port(port++);
    p->set_verdict(ok ? v1::OPEN : v1::NO_LISTENER);
    p->set_expect("open");
    p->set_as_expected(ok);
  }
  return r;
}

}  // namespace

TEST_CASE("wait: ready when every port is as expected and the agent was used") {
  CHECK(is_ready(waited_report(v1::AgentInfo::CONNECTED, {true, true})));
  CHECK(is_ready(waited_report(v1::AgentInfo::DISABLED, {true})));
  CHECK_FALSE(is_ready(waited_report(v1::AgentInfo::CONNECTED, {true, false})));
  CHECK_FALSE(is_ready(waited_report(v1::AgentInfo::UNREACHABLE, {true})));
  CHECK(is_hopeless(waited_report(v1::AgentInfo::AUTH_FAILED, {true})));
  CHECK_FALSE(is_hopeless(waited_report(v1::AgentInfo::UNREACHABLE, {true})));
}

TEST_CASE("wait: the progress line names the ports still waited for") {
  auto r = waited_report(v1::AgentInfo::CONNECTED, {true, false});
  CHECK(wait_progress_line(r, 3, 4250ms, 60s) ==
        "run 3, 4.2s of 1m: 1/2 ports as expected, waiting for 81 (NO_LISTENER)");
  auto u = waited_report(v1::AgentInfo::UNREACHABLE, {true});
  CHECK(wait_progress_line(u, 1, 0ms, 20s) == "run 1, 0ms of 20s: 1/1 ports as expected, agent UNREACHABLE");
}

TEST_CASE("wait: the text report says how many runs and when the target became ready") {
  auto r = waited_report(v1::AgentInfo::CONNECTED, {true});
  r.set_elapsed_ms(800);
  r.set_runs(3);
  r.set_ready_after_ms(2500);
  r.mutable_agent()->set_pcap_file("/var/lib/dropspot/dropspot-x.pcap");
  auto text = render_text(r, text_style{});
  CHECK(text.find("run 3 of --wait: ready after 2.5 s\n") != std::string::npos);
  CHECK(text.find("every port as expected\n") != std::string::npos);
  CHECK(text.find("capture kept on the agent host: /var/lib/dropspot/dropspot-x.pcap") != std::string::npos);
  r.set_ready_after_ms(0);
  r.mutable_ports(0)->set_as_expected(false);
  text = render_text(r, text_style{});
  CHECK(text.find("run 3 of --wait: not ready by the deadline\n") != std::string::npos);
  CHECK(text.find("every port as expected") == std::string::npos);
  r.set_runs(1);
  CHECK(render_text(r, text_style{}).find("of --wait") == std::string::npos);
}

TEST_CASE("app wait line: the longest wait after a second, and how many more") {
  using dropspot::prober::app_wait_line;
  using dropspot::prober::app_waiting;
  CHECK(app_wait_line({}, 30s).empty());
  CHECK(app_wait_line({{25, "smtp", 900ms}}, 30s).empty());  // a second is not slow
  CHECK(app_wait_line({{25, "smtp", 4300ms}}, 30s) == "waiting for the smtp service on port 25: 4s of up to 30s");
  CHECK(app_wait_line({{80, "http", 1200ms}, {25, "smtp", 6100ms}, {22, "ssh", 0ms}}, 30s) ==
        "waiting for the smtp service on port 25: 6s of up to 30s (+2 more)");
}
