#include "render/prometheus.h"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <charconv>
#include <map>

namespace dropspot {

namespace {

using prometheus::Labels;

std::string protocol_label(const v1::PortReport& p) { return p.protocol() == v1::UDP ? "udp" : "tcp"; }

/// Numbers as numbers: port 443 after port 80.
std::uint64_t as_number(const std::string& s) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && end == s.data() + s.size() ? n : UINT64_MAX;
}

bool label_less(const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
  for (std::size_t i = 0; i < std::min(a.label.size(), b.label.size()); ++i) {
    const auto& x = a.label[i];
    const auto& y = b.label[i];
    if (x.name != y.name) return x.name < y.name;
    if (x.value == y.value) continue;
    if (x.name == "port") return as_number(x.value) < as_number(y.value);
    return x.value < y.value;
  }
  return a.label.size() < b.label.size();
}

/// Labels in the order people read them: target, address, protocol, port, then the rest.
int label_rank(const std::string& name) {
  if (name == "target") return 0;
  if (name == "address") return 1;
  if (name == "protocol") return 2;
  if (name == "port") return 3;
  return 4;
}

}  // namespace

std::string render_prometheus(const std::vector<v1::Report>& reports, const std::optional<probe_metrics>& probe) {
  prometheus::Registry registry;
  const auto gauge = [&](const char* name, const char* help) -> prometheus::Family<prometheus::Gauge>& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
  };
  auto& verdict = gauge("dropspot_port_verdict",
                        "The port's verdict (label verdict: OPEN, NO_LISTENER, DROPPED_BY_HOST_FIREWALL...); always 1");
  auto& ok = gauge("dropspot_port_ok", "1 when the port is as expected (--expect, default open), else 0");
  auto& decided = gauge("dropspot_port_decision_seconds", "Seconds from the run's start until the port's verdict");
  auto& agent_up = gauge("dropspot_agent_up", "1 when the agent's evidence was used, else 0");
  auto& target_ok =
      gauge("dropspot_target_ok", "1 when every port is as expected and the agent was used when asked for, else 0");
  auto& duration = gauge("dropspot_run_duration_seconds", "Seconds the diagnosis of the target took");
  auto& runs = gauge("dropspot_runs", "Probe runs made for the target (more than one with --wait)");
  // A name tested at several addresses (IPv4 and IPv6): its series carry the address.
  std::map<std::string, std::size_t> per_name;
  for (const auto& r : reports) ++per_name[r.target()];
  for (const auto& r : reports) {
    const std::string& target = r.target();
    Labels t{{"target", target}};
    if (per_name[target] > 1) t["address"] = r.address();
    for (const auto& p : r.ports()) {
      Labels port = t;
      port["port"] = std::to_string(p.port());
      port["protocol"] = protocol_label(p);
      Labels with_verdict = port;
      with_verdict["verdict"] = v1::Verdict_Name(p.verdict());
      verdict.Add(with_verdict).Set(1);
      ok.Add(port).Set(p.as_expected() ? 1 : 0);
      decided.Add(port).Set(p.decided_ms() / 1000.0);
    }
    agent_up.Add(t).Set(r.agent().status() == v1::AgentInfo::CONNECTED ? 1 : 0);
    target_ok.Add(t).Set(r.ok() ? 1 : 0);
    duration.Add(t).Set(r.elapsed_ms() / 1000.0);
    runs.Add(t).Set(r.runs() > 0 ? r.runs() : (r.error().empty() ? 1 : 0));
  }
  if (probe) {
    gauge("probe_success", "1 when every port is as expected (blackbox_exporter's meaning), else 0")
        .Add({})
        .Set(probe->success ? 1 : 0);
    gauge("probe_duration_seconds", "Seconds the probe took").Add({}).Set(probe->duration_seconds);
  }
  auto families = registry.Collect();
  for (auto& f : families) {
    for (auto& m : f.metric)
      std::sort(m.label.begin(), m.label.end(), [](const auto& a, const auto& b) {
        return label_rank(a.name) != label_rank(b.name) ? label_rank(a.name) < label_rank(b.name) : a.name < b.name;
      });
    std::stable_sort(f.metric.begin(), f.metric.end(), label_less);
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace dropspot
