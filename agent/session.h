#pragma once
// One control session on the agent, as a small state machine:
//   await_hello -> await_auth -> await_start -> capturing -> done
// Nothing about the host is said and no capture starts before the peer has
// proved knowledge of the token (or came in through SSH, on --stdio).
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/message_port.h"
#include "common/ports.h"
#include "common/protocol.h"
#include "dropspot.pb.h"

namespace dropspot::agent {

/// A running capture; stops when destroyed.
class capture_handle {
 public:
  virtual ~capture_handle() = default;
  virtual std::vector<std::string> interfaces() const = 0;
  virtual std::uint64_t packets_seen() const = 0;
  virtual std::uint64_t packets_dropped() const = 0;
  virtual std::string pcap_file() const { return {}; }
  /// Hands every frame the kernel has captured so far to the sink now,
  /// without waiting for the event loop (a barrier: see the Ping in
  /// docs/control-protocol.md).
  virtual void drain() {}
};

struct capture_request {
  asio::ip::address peer;
  std::vector<std::uint16_t> ports;        ///< TCP
  std::vector<std::uint16_t> udp_ports{};  ///< UDP
  /// The prober's other addresses (SessionStart.prober_addresses), captured for as the peer.
  std::vector<asio::ip::address> also{};
  /// The peer, then `also`.
  std::vector<asio::ip::address> addresses() const;
};

using packet_sink = std::function<void(const v1::PacketEvent&)>;

/// What a session may use of the host. Each piece may be empty (not available).
struct session_services {
  /// Starts capturing for the request; on failure returns nullptr and sets note.
  std::function<std::unique_ptr<capture_handle>(const capture_request&, packet_sink, std::string& note)> start_capture;
  /// Listening TCP sockets on the given ports, and bound UDP sockets on the UDP ones.
  std::function<std::vector<v1::Listener>(const std::vector<std::uint16_t>& tcp, const std::vector<std::uint16_t>& udp)>
      listeners;
  /// The host's facts per port and prober address (firewall rules that block it,
  /// units...). Blocking (runs nft, iptables-save, systemctl): the session
  /// calls it on a thread of its own at the start. It returns what finishes
  /// the facts (fast) once the packets are known: given the interface each
  /// port's first inbound SYN arrived on, so interface matches are exact. The
  /// session waits for it, within a bound, before sending the summary.
  std::function<std::function<std::vector<v1::PortFacts>(const std::map<port_key, std::string>& syn_interfaces)>(
      const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
      const std::vector<std::uint16_t>& udp_ports)>
      host_facts;
};

struct session_config {
  std::string token;                       ///< empty: no token configured
  bool require_token = true;               ///< false on --stdio, where SSH authenticated the peer
  std::vector<std::uint16_t> allow_ports;  ///< empty: all
  std::chrono::milliseconds max_session{300'000};
  std::chrono::milliseconds auth_deadline{10'000};
  /// After ProbesDone: how long the summary waits for the host facts.
  std::chrono::milliseconds host_facts_grace = dropspot::host_facts_grace;
  std::size_t max_ports = 4096;
  std::string hostname;
  std::string os_name;      ///< os-release's PRETTY_NAME (SessionAck.agent_os)
  std::string peer_origin;  ///< --stdio: where the peer address came from (SessionAck.peer_origin)
};

enum class session_outcome {
  completed,    ///< the prober finished and got its summary
  auth_failed,  ///< wrong MAC or no proof
  version_mismatch,
  protocol_error,  ///< malformed or unexpected message
  timed_out,       ///< a deadline passed
  closed,          ///< the peer went away
};

const char* to_string(session_outcome o);

asio::awaitable<session_outcome> run_session(std::shared_ptr<message_port> port, asio::ip::address peer,
                                             std::uint16_t peer_port, const session_config& config,
                                             const session_services& services);

/// At most this many prober addresses besides the peer (SessionStart.prober_addresses).
inline constexpr std::size_t max_prober_addresses = 4;

/// The prober's other addresses of a session request: each a unicast address
/// (IPv4-mapped ones as IPv4), the peer and repeats left out. Pure; false
/// with `why` on a bad one or too many.
bool accept_prober_addresses(const google::protobuf::RepeatedPtrField<std::string>& given,
                             const asio::ip::address& peer, std::vector<asio::ip::address>& out, std::string& why);

/// The ports of a request the agent accepts (pure; exposed for tests).
void split_allowed_ports(const std::vector<std::uint32_t>& requested, const std::vector<std::uint16_t>& allow,
                         std::vector<std::uint16_t>& accepted, std::vector<std::uint16_t>& refused);

}  // namespace dropspot::agent
