#include "render/prometheus.h"

#include <catch2/catch.hpp>

using namespace dropspot;

namespace {

v1::Report report(const std::string& target, bool agent) {
  v1::Report r;
  r.set_target(target);
  r.set_address("203.0.113.2");
  r.set_elapsed_ms(1500);
  r.set_runs(1);
  r.mutable_agent()->set_status(agent ? v1::AgentInfo::CONNECTED : v1::AgentInfo::UNREACHABLE);
  return r;
}

void add_port(v1::Report& r, std::uint32_t port, v1::Verdict verdict, bool ok, double decided_ms,
              v1::Protocol protocol = v1::TCP) {
  auto* p = r.add_ports();
  p->set_port(port);
  p->set_protocol(protocol);
  p->set_verdict(verdict);
  p->set_as_expected(ok);
  p->set_decided_ms(decided_ms);
}

}  // namespace

TEST_CASE("prometheus: one series per port with its verdict, sorted, HELP and TYPE once, no timestamps") {
  auto web = report("web1.example", true);
  add_port(web, 443, v1::DROPPED_BY_HOST_FIREWALL, false, 870);
  add_port(web, 80, v1::OPEN, true, 12.5);
  add_port(web, 53, v1::OPEN, true, 3, v1::UDP);
  web.set_ok(false);
  auto db = report("db \"1\"\\x", false);  // label values escaped as the format says
  add_port(db, 5432, v1::NO_LISTENER, false, 1);
  db.set_ok(false);
  const auto text = render_prometheus({web, db});
  CHECK(text.find("# TYPE dropspot_port_verdict gauge\n"
                  "dropspot_port_verdict{target=\"db "
                  "\\\"1\\\"\\\\x\",protocol=\"tcp\",port=\"5432\",verdict=\"NO_LISTENER\"} 1\n"
                  "dropspot_port_verdict{target=\"web1.example\",protocol=\"tcp\",port=\"80\",verdict=\"OPEN\"} 1\n"
                  "dropspot_port_verdict{target=\"web1.example\",protocol=\"tcp\",port=\"443\",verdict="
                  "\"DROPPED_BY_HOST_FIREWALL\"} 1\n"
                  "dropspot_port_verdict{target=\"web1.example\",protocol=\"udp\",port=\"53\",verdict=\"OPEN\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("dropspot_port_ok{target=\"web1.example\",protocol=\"tcp\",port=\"443\"} 0\n") != std::string::npos);
  CHECK(text.find("dropspot_port_ok{target=\"web1.example\",protocol=\"tcp\",port=\"80\"} 1\n") != std::string::npos);
  CHECK(text.find("dropspot_port_decision_seconds{target=\"web1.example\",protocol=\"tcp\",port=\"443\"} 0.87\n") !=
        std::string::npos);
  CHECK(text.find("dropspot_agent_up{target=\"web1.example\"} 1\n") != std::string::npos);
  CHECK(text.find("dropspot_agent_up{target=\"db \\\"1\\\"\\\\x\"} 0\n") != std::string::npos);
  CHECK(text.find("dropspot_run_duration_seconds{target=\"web1.example\"} 1.5\n") != std::string::npos);
  CHECK(text.find("dropspot_target_ok{target=\"web1.example\"} 0\n") != std::string::npos);
  for (const char* family : {"dropspot_port_verdict", "dropspot_port_ok", "dropspot_port_decision_seconds",
                             "dropspot_agent_up", "dropspot_target_ok", "dropspot_run_duration_seconds"}) {
    const auto help = std::string("# HELP ") + family + " ";
    CHECK(text.find(help) != std::string::npos);
    CHECK(text.find(help) == text.rfind(help));
  }
  CHECK(text.find("probe_success") == std::string::npos);
  // Every sample line: name{labels} value, nothing after the value (no timestamp).
  std::size_t samples = 0;
  for (std::size_t at = 0; at < text.size();) {
    const auto end = text.find('\n', at);
    const auto line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    const auto close = line.rfind('}');
    REQUIRE(close != std::string::npos);
    CHECK(line.find(' ', close + 2) == std::string::npos);
  }
  CHECK(samples == 4 * 3 + 2 * 4);  // 4 ports x verdict, ok, seconds; 2 targets x agent, ok, duration, runs
}

TEST_CASE("prometheus: a target not tested has no port series and target_ok 0; /probe adds probe_success") {
  v1::Report nowhere;
  nowhere.set_target("nowhere.invalid");
  nowhere.set_error("cannot resolve");
  nowhere.set_ok(false);
  auto text = render_prometheus({nowhere});
  CHECK(text.find("dropspot_port_verdict{") == std::string::npos);
  CHECK(text.find("dropspot_target_ok{target=\"nowhere.invalid\"} 0\n") != std::string::npos);
  CHECK(text.find("dropspot_runs{target=\"nowhere.invalid\"} 0\n") != std::string::npos);

  auto web = report("web1.example", true);
  add_port(web, 80, v1::OPEN, true, 12.5);
  web.set_ok(true);
  text = render_prometheus({web}, probe_metrics{true, 0.25});
  CHECK(text.find("# TYPE probe_success gauge\nprobe_success 1\n") != std::string::npos);
  CHECK(text.find("probe_duration_seconds 0.25\n") != std::string::npos);
  text = render_prometheus({web}, probe_metrics{false, 2});
  CHECK(text.find("probe_success 0\n") != std::string::npos);
}

TEST_CASE("prometheus: a name tested at two addresses: each series carries its address") {
  auto v4 = report("www.example", true);
  add_port(v4, 80, v1::OPEN, true, 2);
  auto v6 = report("www.example", true);
  v6.set_address("2001:db8:2::2");
  add_port(v6, 80, v1::DROPPED_IN_TRANSIT, false, 900);
  auto other = report("db.example", true);
  add_port(other, 5432, v1::OPEN, true, 2);
  const auto text = render_prometheus({v4, v6, other});
  CHECK(text.find("dropspot_port_verdict{target=\"www.example\",address=\"203.0.113.2\",protocol=\"tcp\",port=\"80\","
                  "verdict=\"OPEN\"} 1\n") != std::string::npos);
  CHECK(text.find("dropspot_port_verdict{target=\"www.example\",address=\"2001:db8:2::2\",protocol=\"tcp\",port="
                  "\"80\",verdict=\"DROPPED_IN_TRANSIT\"} 1\n") != std::string::npos);
  CHECK(text.find("dropspot_agent_up{target=\"www.example\",address=\"2001:db8:2::2\"} 1\n") != std::string::npos);
  // A name with one address: no address label, as before.
  CHECK(text.find("dropspot_port_ok{target=\"db.example\",protocol=\"tcp\",port=\"5432\"} 1\n") != std::string::npos);
}
