#include "agent/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <string>

namespace dropspot::agent::metrics {

namespace {

struct counters {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& sessions =
      prometheus::BuildCounter()
          .Name("dropspot_agent_sessions_total")
          .Help("Sessions ended, by outcome (completed, authentication failed, timed out, ...)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& refused =
      prometheus::BuildCounter()
          .Name("dropspot_agent_connections_refused_total")
          .Help("Control connections turned away before a session, by reason (tls, limits, backing off)")
          .Register(registry);
  prometheus::Counter& dropped = prometheus::BuildCounter()
                                     .Name("dropspot_agent_capture_dropped_packets_total")
                                     .Help("Packets the kernel dropped before the capture read them (lost evidence)")
                                     .Register(registry)
                                     .Add({});
  prometheus::Family<prometheus::Counter>& inspection =
      prometheus::BuildCounter()
          .Name("dropspot_agent_inspection_errors_total")
          .Help("Host facts that could not be read, by source (nftables, iptables, firewalld, ...)")
          .Register(registry);
};

counters& the() {
  static counters c;
  return c;
}

}  // namespace

prometheus::Registry& registry() { return the().registry; }

void session_ended(std::string_view outcome) { the().sessions.Add({{"outcome", std::string(outcome)}}).Increment(); }

void connection_refused(std::string_view reason) { the().refused.Add({{"reason", std::string(reason)}}).Increment(); }

void capture_dropped(std::uint64_t packets) {
  if (packets > 0) the().dropped.Increment(static_cast<double>(packets));
}

void inspection_error(std::string_view source) { the().inspection.Add({{"source", std::string(source)}}).Increment(); }

}  // namespace dropspot::agent::metrics
