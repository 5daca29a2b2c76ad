#pragma once
// The verdict engine's parts, shared between its files (not for use outside
// verdict/): the matching of packets to attempts, listener fit, per-attempt
// judgement, notes and advice. verdict/verdict.h is the public face.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "verdict/verdict.h"

namespace dropspot::verdict_detail {

using v1::Attempt;
using v1::PacketEvent;
using v1::Verdict;

inline std::string num(std::uint64_t n) { return std::to_string(n); }

// ---------------------------------------------------------------------------
// Matching the agent's packets to the prober's attempts (matching.cc)
// ---------------------------------------------------------------------------

/// One connection as the agent saw it: the SYNs from one source address and
/// port (retransmissions included) and what followed. A UDP port's flow is
/// alike: its datagrams in `syns`, the service's replies in `synacks`, the
/// host's ICMP errors (port-unreachable, a firewall's reject) in `icmps`.
struct flow {
  std::string src;  ///< normalised
  std::uint32_t src_port = 0;
  std::string dst;                       ///< normalised; the server's address as the SYN carried it
  std::vector<std::size_t> syns;         ///< inbound SYNs
  std::vector<std::size_t> synacks;      ///< outbound SYN-ACKs
  std::vector<std::size_t> rsts;         ///< outbound RSTs
  std::vector<std::size_t> icmps;        ///< outbound ICMP errors (host firewall reject)
  std::vector<std::size_t> client_rsts;  ///< inbound RSTs from the prober's side
  std::vector<std::size_t> client_acks;  ///< inbound ACK/data: the handshake completed
  std::vector<std::size_t> icmps_in;     ///< inbound ICMP errors about our replies
  int attempt = -1;

  bool replied() const { return !synacks.empty() || !rsts.empty() || !icmps.empty(); }
};

struct matching {
  std::vector<PacketEvent> packets;  ///< times on the prober's clock, sorted
  std::vector<flow> flows;           ///< in order of first SYN
  std::vector<std::size_t> stray;    ///< packets that belong to no flow
  std::vector<int> flow_of_attempt;  ///< index into flows or -1, per attempt

  const PacketEvent& at(std::size_t i) const { return packets[i]; }
  std::uint64_t time(std::size_t i) const { return packets[i].time_unix_us(); }
  const flow* flow_for(std::size_t attempt) const {
    const int f = attempt < flow_of_attempt.size() ? flow_of_attempt[attempt] : -1;
    return f < 0 ? nullptr : &flows[static_cast<std::size_t>(f)];
  }
  /// Earliest reply leaving the host, or npos.
  std::size_t first_reply(const flow& f) const {
    std::size_t best = npos;
    for (const auto* list : {&f.synacks, &f.rsts, &f.icmps})
      for (auto i : *list)
        if (best == npos || time(i) < time(best)) best = i;
    return best;
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

/// The port's report as every verdict starts it: port, protocol, probe,
/// the attempts, listeners, firewall, services, saved rules, hop and app.
void fill_common(const port_input& in, v1::PortReport& r);
/// Advice says each command once: appends s unless r has it already.
void add_advice_once(v1::PortReport& r, std::string s);
/// A UDP port's verdict (udp.cc).
v1::PortReport decide_udp_port(const port_input& in);

/// When an attempt ended, on the prober's clock.
std::uint64_t attempt_end_us(const Attempt& a);
/// How far apart the two clocks may seem: max(50 ms, 2 x control RTT).
double tolerance_ms(const port_input& in);
/// Groups the agent's packets into flows and gives each attempt its flow.
matching match_flows(const port_input& in);

// ---------------------------------------------------------------------------
// Listeners (listeners.cc)
// ---------------------------------------------------------------------------

struct listener_view {
  enum fit_kind { none, accepts, elsewhere, unknown } fit = none;
  std::vector<const v1::Listener*> accepting;
  std::vector<const v1::Listener*> other;  ///< listening, but not for this address
};

listener_view check_listeners(const port_input& in, const std::string& destination);
/// "nginx (pid 812, nginx.service) on 127.0.0.1:80 and ...".
std::string listener_list(const std::vector<const v1::Listener*>& ls, std::uint32_t port);
/// "nginx listens on 127.0.0.1:80 only, not on 203.0.113.2".
std::string wrong_address_summary(const listener_view& lv, std::uint32_t port, const std::string& dst);
/// The configuration directive that sets the bind address, by process name.
std::string bind_fix(const v1::Listener& l, std::uint32_t port, const std::string& address);

// ---------------------------------------------------------------------------
// Per-attempt verdicts (judge.cc)
// ---------------------------------------------------------------------------

/// How far an attempt's SYN got; the furthest attempt decides.
int rank(Verdict v);

struct judged {
  Verdict verdict = v1::VERDICT_UNSPECIFIED;
  std::string summary;
  std::vector<std::string> notes;  ///< notes that only hold when this attempt decides
  bool failed_locally = false;     ///< from a FAILED attempt
};

/// Which of the judged attempts decides the port: one that left this machine
/// before one that failed locally, then the one that got furthest (rank),
/// the later on ties; -1 when none has a verdict.
int deciding_attempt(const std::vector<judged>& per);

/// One attempt with the agent capturing: its flow decides.
judged judge_attempt(const port_input& in, const matching& m, std::size_t index);
/// Client-only verdict of one attempt (no agent capture).
judged judge_client_only(const Attempt& a);

// ---------------------------------------------------------------------------
// Notes (notes.cc)
// ---------------------------------------------------------------------------

/// "12 ms", "0.4 ms", "1500 ms".
std::string ms_text(double ms);
/// What the deciding flow shows: NAT, TTL, TCP options, retransmissions, late packets.
void flow_notes(const port_input& in, const matching& m, const flow& f, const Attempt* a,
                std::vector<std::string>& notes);
/// Why the verdict is client-only, in one sentence.
std::string client_only_reason(const port_input& in);
/// What the application probe noticed (its "note" field), and redirects to HTTPS and HSTS policies of an HTTP probe.
void app_notes(const port_input& in, std::vector<std::string>& notes);

// ---------------------------------------------------------------------------
// Advice (advice.cc)
// ---------------------------------------------------------------------------

/// The host as the advice names it: the target, its address, or "HOST".
std::string host_of(const port_input& in);

/// What the advice needs to know beyond the verdict.
struct advice_context {
  std::string dst;              ///< the server's address as the SYN carried it
  bool syn_seen = false;        ///< the agent saw the deciding attempt's SYN
  bool failed_locally = false;  ///< the deciding attempt never left this machine
};

std::vector<std::string> advise(Verdict v, const port_input& in, const listener_view& lv, const advice_context& ctx);

// ---------------------------------------------------------------------------
// Path MTU (mtu.cc)
// ---------------------------------------------------------------------------

/// An ICMP 'fragmentation needed' or ICMPv6 'packet too big': a path-MTU
/// signal, not a rejection.
bool is_fragmentation_needed(const PacketEvent& p);

/// The agent's packets about the path's MTU on this port.
struct mtu_evidence {
  std::size_t icmp_arrived = 0;     ///< ICMP 'fragmentation needed' / 'packet too big' about the server's packets
  std::uint32_t icmp_mtu = 0;       ///< the smallest next-hop MTU they named (0: none named)
  std::size_t resent = 0;           ///< the server's data segments sent again
  std::uint32_t resent_size = 0;    ///< the largest of them, IP bytes
  std::size_t handshakes = 0;       ///< our ACKs that arrived (a handshake completed)
  std::size_t received = 0;         ///< our data segments that arrived
  std::uint32_t received_size = 0;  ///< the largest of them, IP bytes
  std::string interface;            ///< where the agent saw the flow (for advice)
};
mtu_evidence agent_mtu_evidence(const port_input& in);

/// The search's finding (with the agent's ICMP), or a smaller path MTU that
/// path-MTU discovery handles; nullopt when nothing below the full size is known.
std::optional<v1::PathMtu> path_mtu_of(const port_input& in, const mtu_evidence& agent);

/// A handshake that completed (OPEN, or APP_FAILED from the stall) becomes
/// PATH_MTU_BLACKHOLE with the search's finding; an OPEN port whose path has
/// a smaller MTU that discovery handles gets a note. Sets evidence.path_mtu.
void apply_path_mtu(const port_input& in, judged& j, std::vector<std::string>& notes, v1::PortReport& r);

/// PATH_MTU_BLACKHOLE's commands: tracepath, MSS clamping, the MTU, ICMP.
std::vector<std::string> path_mtu_advice(const port_input& in);

}  // namespace dropspot::verdict_detail
