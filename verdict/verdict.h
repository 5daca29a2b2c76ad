#pragma once
// The verdict engine: everything known about one port (the prober's attempts,
// the agent's packets and listeners, hop localisation, the application probe)
// in, one v1::PortReport (verdict, summary, evidence, advice) out.
// Pure code: no sockets, no clock, no files; times come in as values.
//
// Matching (see match_flows in verdict/matching.cc): the agent's inbound SYNs are
// grouped into flows by their source address and port (retransmissions share
// one flow). A flow belongs to the attempt whose local port it carries; when
// NAT changed the port, leftover flows go to leftover attempts by time. A
// SYN-ACK or RST leaving the host belongs to the flow whose 4-tuple it
// mirrors; an ICMP error belongs to the flow whose client port it quotes
// (either port field of the event may carry it).
//
// Times: Attempt.start_unix_us is on the prober's clock, PacketEvent
// .time_unix_us on the agent's. port_input::agent_clock_offset_us (agent clock
// minus prober clock, e.g. SessionAck.agent_time_unix_us minus the prober's
// receive time plus rtt/2) converts them; the PortReport's agent_packets carry
// corrected (prober clock) times.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"  // normalize_address, listener_accepts, icmp_error_name
#include "dropspot.pb.h"

namespace dropspot {

/// Everything known about one port when its verdict is decided.
struct port_input {
  std::uint32_t port = 0;
  bool udp = false;  ///< a UDP port (verdict/udp.cc): datagrams, not connections
  /// UDP: whether the service answers the probe (false for WireGuard, an
  /// empty datagram): a bound socket that stays silent is then OPEN.
  bool reply_expected = true;
  /// UDP: a reply is expected and a socket is bound for the port, so a
  /// datagram that arrived and met silence may still be answered: a program
  /// answers, not the kernel (a recursive DNS lookup takes its time). The
  /// evidence check then waits for the attempt's own timeout.
  bool awaiting_service = false;
  std::string probe = "tcp";   ///< probe kind: tcp|http|https|smtp|smtps|ssh|banner; udp|dns|ntp|wireguard|quic
  std::string target;          ///< the host as the user wrote it (used in advice commands)
  std::string target_address;  ///< the address the prober connected to
  /// The agent as the report shows it: status and message (why it is not
  /// CONNECTED), capture_active, peer_address (how it sees us), rtt_ms,
  /// refused_ports (--allow-ports), path and endpoint.
  v1::AgentInfo agent;
  std::int64_t agent_clock_offset_us = 0;  ///< agent clock minus prober clock
  std::uint64_t capture_drops = 0;         ///< SessionSummary.packets_dropped: evidence may be missing
  std::vector<v1::Attempt> attempts;       ///< the prober's attempts, in order
  std::vector<v1::PacketEvent> packets;    ///< the agent's packets for this port, any order
  bool listeners_known = true;             ///< false when the agent could not list sockets
  std::vector<v1::Listener> listeners;     ///< the agent's listeners on this port
  std::vector<std::string> agent_notes;    ///< PortFacts.notes, copied into the evidence
  std::vector<std::string> firewall;       ///< matching firewall rules the agent found
  bool firewall_inspected = false;         ///< the agent read the rulesets (empty firewall: no rule blocks)
  std::vector<std::string> host_services;  ///< PortFacts.services: units, journal lines, moved ports
  std::string service_summary;             ///< PortFacts.service_summary ("nginx.service failed")
  std::vector<std::string> saved_rules;    ///< PortFacts.saved_rules: live rules differ from the saved ones
  std::vector<std::string> host_advice;    ///< PortFacts.advice: commands for this host, first in the advice
  /// PortFacts.icmp_firewall: host rules that drop the ICMP path-MTU discovery needs
  std::vector<std::string> icmp_firewall;
  std::string prober_address;                  ///< our source address as the prober knows it (for NAT)
  std::optional<v1::TcpOptions> sent_options;  ///< the SYN options our kernel sends (MSS...)
  std::optional<v1::HopLocation> hop;          ///< last hop that forwarded the SYN
  std::optional<v1::AppResult> app;            ///< application probe; ok=false means APP_FAILED
  /// The path-MTU search's finding (prober/mtu_search.h): full-size packets
  /// vanish; the verdict is PATH_MTU_BLACKHOLE.
  std::optional<v1::PathMtu> mtu_search;
  bool app_complete = false;  ///< the application probe's answer came whole (bulk data flowed)
  /// Whether all the probe's request was acknowledged, where our OS tells
  std::optional<bool> request_acked;
  std::uint32_t kernel_path_mtu = 0;  ///< the path MTU our kernel held for the server after the probe (0: unknown)
  std::uint32_t full_size = 0;        ///< our SYN's MSS plus headers: the packets' size on a clean path (0: unknown)
};

/// True when the agent's packet evidence counts for this port: the agent is
/// CONNECTED, its capture is active and it did not refuse the port. Otherwise
/// the verdict is client-only (OPEN, CLOSED, FILTERED).
bool agent_capturing(const port_input& in);

/// Decides one port. Fills port, probe, verdict, summary (one line), evidence
/// (attempts, agent_packets, listeners, notes, hop, firewall), advice (the
/// commands to run next) and app. Leaves expect, as_expected and decided_ms
/// to the caller (see apply_expectation).
///
/// With the agent capturing, a flow per attempt decides:
///   connected, SYN seen                 -> OPEN (APP_FAILED when app.ok is false)
///   connected, no SYN seen              -> INTERCEPTED
///   connected, the host sent RST        -> INTERCEPTED
///   timed out, no SYN seen              -> DROPPED_IN_TRANSIT (after hop N with a HopLocation)
///   refused/unreachable, no SYN seen    -> REJECTED_IN_TRANSIT
///   SYN seen, SYN-ACK left, no connect  -> REPLY_LOST
///   SYN seen, ICMP error left           -> REJECTED_BY_HOST_FIREWALL
///   SYN seen, RST left                  -> REJECTED_BY_HOST_FIREWALL (a listener accepts the
///                                          address), LISTENER_WRONG_ADDRESS (listeners only on
///                                          loopback/another address), NO_LISTENER (none)
///   SYN seen, nothing left              -> LISTENER_WRONG_ADDRESS (listeners only elsewhere),
///                                          else DROPPED_BY_HOST_FIREWALL
///   SYN seen, no RST left, refused      -> REJECTED_IN_TRANSIT (a reset the server never sent)
/// Several attempts: a connected one wins (a note tells of the loss), else
/// the attempt whose SYN got furthest, the later one on ties; disagreement is
/// noted. FAILED attempts (local errors) count only when nothing else exists.
/// Without agent capture: OPEN / APP_FAILED, CLOSED (refused), FILTERED
/// (timeout, ICMP, local error), with a note saying why the drop cannot be
/// localised. No attempts at all: VERDICT_UNSPECIFIED.
v1::PortReport decide_port(const port_input& in);

/// Whether waiting longer for the agent could still change the verdict.
struct evidence_check {
  bool complete = false;
  /// Not complete, but the running attempt has told what it can: its SYN
  /// never reached the agent (a barrier after it came back without it), or
  /// the host's reply left and did not arrive. End this attempt now; the
  /// retry policy (more_attempts) says what follows.
  bool end_attempt = false;
  std::string why;           ///< for logs: which rule decided
  double recheck_in_ms = 0;  ///< when not complete: ask again after this long (0: on the next event)
};

/// Tuning of agent_evidence_complete.
struct evidence_timing {
  double rtt_factor = 3;      ///< grace = max(min_grace_ms, rtt_factor * control RTT)
  double min_grace_ms = 200;  ///< the agent batches observations; loopback RTTs are tiny
  /// The attempts the prober makes at most (--retries + 1): while some are
  /// left, a reply that left the host and never arrived is not the end of
  /// the story, since one lost SYN-ACK is not a path that loses them all.
  std::size_t attempts_allowed = 1;
  /// The latest barrier the agent has answered (a Ping sent at this time on
  /// the prober's clock; its Pong came after every packet the agent had
  /// captured when the Ping arrived); 0: none yet.
  std::uint64_t barrier_unix_us = 0;
  /// How long after an attempt's start a barrier must have left to prove
  /// its SYN missing: the SYN and the Ping cross the same path, the Ping
  /// this much later (jitter, a slower control path).
  double barrier_margin_ms = 10;
  /// How long after the host's reply left an attempt that has not connected
  /// is given up (the reply was lost), as a factor of the control RTT (floor
  /// min_reply_wait_ms).
  double reply_wait_rtt_factor = 1.0;
  double min_reply_wait_ms = 50;
  /// When the prober received the agent's report of the host's reply to the
  /// running attempt (prober clock); 0: not known, the reply's time is used.
  std::uint64_t reply_heard_unix_us = 0;
  /// When the prober received the agent's report of the running attempt's
  /// SYN (prober clock); 0: not known. A barrier that left barrier_margin_ms
  /// after it and came back without a reply proves the host silent.
  std::uint64_t syn_heard_unix_us = 0;
};

/// What became of one attempt, seen from both ends (the retry policy's input).
enum class attempt_fate {
  running,      ///< not ended yet
  connected,    ///< the handshake completed at the prober
  answered,     ///< refused or unreachable: an answer, from the host or the path
  host_silent,  ///< the agent saw the SYN arrive and nothing leave: the host dropped it
  syn_unseen,   ///< timed out, and the agent never saw the SYN
  reply_lost,   ///< timed out, and the agent saw the host's reply leave
  failed,       ///< a local error: nothing was sent
};

/// The fate of every attempt of in.attempts, in order (agent capturing).
std::vector<attempt_fate> attempt_fates(const port_input& in);

/// How many attempts a port gets before its verdict may name a loss on the
/// path (see more_attempts).
struct attempt_budget {
  std::size_t same_unseen = 2;      ///< SYNs that never arrived, all alike (--retries + 1)
  std::size_t same_reply_lost = 6;  ///< replies lost, all alike: a lost reply is rarer proof
  std::size_t lossy = 16;           ///< mixed fates (random loss): at most this many in all
  std::size_t lossy_batch = 4;      ///< started together, on a lossy path
};

/// The retry policy with the agent: how many attempts to start now, side by
/// side (fresh source ports), for a port whose ended attempts had these
/// fates; 0 when the port is decided. A handshake or an answer ends it, as
/// does a SYN the host dropped. A verdict that names a loss on the path
/// needs that fate for every attempt of a budget (DROPPED_IN_TRANSIT:
/// same_unseen, REPLY_LOST: same_reply_lost); mixed fates are random loss,
/// tried lossy_batch at a time up to `lossy` attempts. FAILED attempts
/// (local errors) are retried up to same_unseen in all.
std::size_t more_attempts(const std::vector<attempt_fate>& fates, const attempt_budget& budget);

/// Is the agent's evidence for the last attempt of in.attempts complete, so
/// the prober may decide now instead of waiting? The last attempt may still be
/// running (outcome OUTCOME_UNSPECIFIED, local_port set, start_unix_us set).
/// Complete when:
///   - the agent is not capturing this port, or there is no agent evidence to wait for
///     (FAILED attempt);
///   - the attempt's SYN and the host's reply (SYN-ACK, RST or ICMP) were seen,
///     and the attempt connected or got the reply, or it was the last attempt
///     allowed (a reply lost with attempts left waits for the next attempt);
///   - the attempt ended (connected, refused, unreachable, timed out) and grace passed
///     since, for packets still in flight on the control channel;
///   - the attempt is still running, its SYN was seen and a barrier that left
///     after the prober heard of it came back with no reply, or grace passed
///     since the SYN (nothing left the host: DROPPED_BY_HOST_FIREWALL) or since the host's reply
///     on the last attempt allowed (the reply was lost): the prober may stop
///     waiting for its own timeout.
/// Not complete while a running attempt has no SYN seen; once a barrier
/// (timing.barrier_unix_us) left barrier_margin_ms after the attempt's start
/// and still no SYN came, end_attempt: the SYN is not coming. A running
/// attempt whose reply left the host with attempts left gets end_attempt
/// once the reply had time to arrive (timing.reply_heard_unix_us: when the
/// prober heard of it, else the reply's own time). now_unix_us is on the
/// prober's clock.
evidence_check agent_evidence_complete(const port_input& in, std::uint64_t now_unix_us, double control_rtt_ms,
                                       const evidence_timing& timing = {});

/// Inferences across ports for Report.notes: port 25 dropped in transit while
/// 587/465 reach the server (OP25B); every port dropped in transit (provider
/// filter or wrong address); some ports dropped in transit while others reach
/// the server; several ports blocked by the host firewall (default-deny,
/// unsaved rules); HSTS (80 vs 443); connections succeeding while the agent
/// saw no SYN on any port.
std::vector<std::string> cross_port_notes(const v1::Report& report);

/// Notes comparing the reports of one name's addresses (issue 24): for each
/// port whose verdicts differ between the addresses, one line saying how it
/// fares over each family and what to check for the family that fails
/// ("port 80 works over IPv4 (203.0.113.2) and is dropped in transit over
/// IPv6 (2001:db8:2::2): clients that prefer IPv6 ... will fail; check the
/// AAAA record, ..."). Reports that tested nothing are left out; none when
/// fewer than two addresses were tested.
std::vector<std::string> address_notes(const std::vector<v1::Report>& reports);

/// Facts about the path rather than a port (the SYN's TTL, source address
/// translation) are said once: a path note that two or more ports carry
/// word for word leaves their evidence and becomes one report note naming
/// them ("ports 22,80: the SYN arrived with TTL 62: ...").
void gather_path_notes(v1::Report& report);

/// The --expect class of a verdict, decided so that a class says what a client
/// outside experiences and why:
///   "open"    OPEN
///   "blocked" DROPPED_IN_TRANSIT, REJECTED_IN_TRANSIT, DROPPED_BY_HOST_FIREWALL,
///             REJECTED_BY_HOST_FIREWALL, REPLY_LOST, FILTERED
///             (a filter or the path stops the connection)
///   "closed"  NO_LISTENER, LISTENER_WRONG_ADDRESS, CLOSED
///             (the server's kernel refuses: nothing serves this address)
///   ""        APP_FAILED, INTERCEPTED, VERDICT_UNSPECIFIED: in no class, since
///             they are neither "reachable" nor "unreachable"; expect them by name.
std::string_view expectation_class(v1::Verdict verdict);

/// True when `what` (a class "open"/"blocked"/"closed" or a verdict name, any
/// case) accepts the verdict. An unknown word accepts nothing.
bool verdict_meets(v1::Verdict verdict, std::string_view what);

/// Sets port.expect to `what` and port.as_expected to verdict_meets.
void apply_expectation(v1::PortReport& port, std::string_view what);

}  // namespace dropspot
