#pragma once
// Reports as Prometheus' text exposition format (version 0.0.4), built with
// prometheus-cpp's core (Debian's prometheus-cpp-dev): its registry and text
// serializer write the HELP and TYPE lines, the label escaping and the
// numbers, so what we hand Prometheus is what its own client library writes.
// One series per port, the verdict a label of a small fixed set (the
// verdict names): the failure reason blackbox_exporter cannot give. Pure.
#include <optional>
#include <string>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot {

/// For `prober serve`'s /probe (blackbox_exporter's pattern): probe_success
/// (1 when every port is as expected) and probe_duration_seconds as well.
struct probe_metrics {
  bool success = false;
  double duration_seconds = 0;
};

/// The exposition of the reports, series sorted (by target, protocol, port,
/// verdict), no timestamps, base units (seconds):
///   dropspot_port_verdict{target,port,protocol,verdict} 1
///   dropspot_port_ok{target,port,protocol}               1 as expected, else 0
///   dropspot_port_decision_seconds{target,port,protocol} from the run's start
///   dropspot_agent_up{target}                            1 the agent's evidence was used
///   dropspot_target_ok{target}                           1 every port as expected and the agent used
///   dropspot_run_duration_seconds{target}
///   dropspot_runs{target}                                runs made (--wait)
/// A target whose name did not resolve has no port series and
/// dropspot_target_ok 0. protocol is "tcp" or "udp".
std::string render_prometheus(const std::vector<v1::Report>& reports,
                              const std::optional<probe_metrics>& probe = std::nullopt);

}  // namespace dropspot
