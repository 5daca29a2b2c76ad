#pragma once
// The pieces of a run (prober/run.cc) that stand alone: a port's probe kind
// and expectation from the options, the session request and how the agent
// is reached, how many attempts at once, and the reading of the agent's
// packets (which are our requests and the host's replies, whose flow).
#include <asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/ports.h"
#include "dropspot.pb.h"
#include "prober/control_client.h"
#include "prober/options.h"

namespace dropspot::prober {

/// The probe kind for a port: --probe, else by well-known port.
std::string probe_kind(const options& o, port_key key);

/// The expectation for a port: the last --expect naming it, else the last
/// one naming no port, else "open".
std::string expectation_for(const options& o, port_key key);

/// The session request for every port under test (with its probe plan).
v1::SessionStart session_request(const options& o, const std::vector<port_key>& keys);

/// How the control channel is reached, from the options.
control_settings control_for(const options& o, const asio::ip::address& target, const std::string& token);

/// Random bytes for a UDP probe's IDs (a DNS query's, QUIC's connection IDs).
std::string random_bytes(std::size_t n);

/// Attempts in flight with the agent capturing (each lasts a few round trips,
/// floor 100 ms, so this sends at most about 10000 SYNs per second).
inline constexpr std::size_t agent_concurrency = 1024;

/// want, or fewer when file descriptors are short: each attempt holds a
/// socket, and so does each connection waiting for its application probe;
/// `share` runs side by side split them. Raises the soft RLIMIT_NOFILE
/// towards the hard one first (once).
std::size_t attempts_in_flight(std::size_t want, std::size_t share);

/// The agent saw a request of ours arrive: a SYN, or a UDP port's datagram.
bool is_inbound_request(const v1::PacketEvent& p);

/// The host answered a request: a SYN-ACK or RST, a UDP reply, or an ICMP
/// error leaving it about a UDP port (port-unreachable).
bool is_outbound_reply(const v1::PacketEvent& p);

/// Some packet is a request of ours that arrived.
bool saw_inbound_syn(const std::vector<v1::PacketEvent>& packets);

/// Every attempt so far timed out (there is at least one).
bool all_timed_out(const std::vector<v1::Attempt>& attempts);

/// The prober's port of a packet the agent saw: the source of what came in,
/// the destination of what left; an ICMP error's quote, either way, has the
/// service's port on one side and ours on the other.
std::uint32_t client_port_of(const v1::PacketEvent& p);

/// One flow of a port: the port and the client's source port.
std::uint64_t flow_key(port_key port, std::uint32_t client_port);

/// Routers between us and the server, from the TTL of a SYN the agent saw
/// (initial TTLs are 64, 128 or 255); 0 when unknown.
int routers_from_ttl(std::uint32_t ttl);

}  // namespace dropspot::prober
