#pragma once
// The agent's own metrics, for `agent --metrics ADDR:PORT` (off by default):
// the counters live in one registry for the process (prometheus-cpp's
// counters are safe from any thread: sessions run on the io thread, host
// inspection on threads of its own), served by common/http.h.
#include <cstdint>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace dropspot::agent::metrics {

/// The registry behind the counters (GET /metrics).
prometheus::Registry& registry();

/// A session ended: "completed", "authentication failed", ... (session_outcome's words).
void session_ended(std::string_view outcome);
/// A connection turned away before a session: "tls" (the handshake failed or
/// timed out), "limits" (too many sessions, or from one source), "backing off"
/// (after failed authentications).
void connection_refused(std::string_view reason);
/// Packets the kernel dropped before the capture read them (pcap_stats), per session.
void capture_dropped(std::uint64_t packets);
/// A source of host facts that could not be read: "nftables", "iptables",
/// "iptables-legacy", "firewalld", "saved-rules", "host-facts" (not ready in time).
void inspection_error(std::string_view source);

}  // namespace dropspot::agent::metrics
