#pragma once
// One agent session for every address of a name (issue 24): the runs of a
// dual-stack name's IPv4 and IPv6 addresses (prober/run.cc) probe side by
// side over one session, each a lane with its own stream of the agent's
// packets, picked out by the packets' address family (and, when a family
// has several lanes, by the server's address); Pongs, the ack and the
// summary go to every lane, each lane taking the host facts for its own
// address. The session ends once every lane is done with it.
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dropspot.pb.h"
#include "prober/control_client.h"

namespace dropspot::prober {

/// Where a lane stands: the address it tests and its own source address.
struct lane_address {
  asio::ip::address target;
  std::optional<asio::ip::address> local;
};

/// The lanes a packet the agent reported belongs to (indexes into `lanes`):
/// those of its address family; of several, the one whose target is the
/// packet's server-side address, else all of them. Pure.
std::vector<std::size_t> lanes_for_packet(const v1::PacketEvent& packet, const std::vector<lane_address>& lanes);

/// The summary as one lane sees it: the ports' facts for its address
/// (PortFacts.client_address: its own source address, else the agent's one
/// of its family; facts without an address, from an agent before issue 24,
/// serve every lane). Pure.
v1::SessionSummary summary_for_lane(const v1::SessionSummary& summary, const lane_address& lane,
                                    const std::vector<std::string>& capture_addresses);

/// The address of the lane's family among those the agent captures for
/// (SessionAck.capture_addresses), as the agent sees it; empty when none. Pure.
std::string agent_view_of(const lane_address& lane, const std::vector<std::string>& capture_addresses);

/// Whether the agent's capture speaks for a lane's packets: empty when it
/// does, else why not (a line for the report): an older agent captures for
/// the control channel's address only; and an address of ours that is
/// private (RFC 1918, 100.64/10, fc00::/7, link-local) in another family than
/// the channel's is behind a NAT whose public address the agent cannot know,
/// so none of our packets would match (silence there is not a drop). Pure.
std::string lane_uncaptured_because(const lane_address& lane, const std::string& peer,
                                    const std::vector<std::string>& capture_addresses);

/// A private address (RFC 1918, 100.64.0.0/10, fc00::/7, link-local): one a
/// NAT stands in front of. Pure.
bool is_private_address(const asio::ip::address& a);

class shared_session {
 public:
  /// One lane per address, in order; `session` is open (or not: then
  /// every lane has the client's view only).
  shared_session(const asio::any_io_executor& executor, agent_session session, std::vector<lane_address> lanes);

  agent_session& session() { return session_; }
  std::size_t lanes() const { return lanes_.size(); }
  const lane_address& lane(std::size_t i) const { return lanes_[i]; }
  /// The agent's addresses for us (SessionAck.capture_addresses).
  std::vector<std::string> capture_addresses() const;

  /// Lane `i`'s stream: filled as the agent's messages come. Once every
  /// lane's is attached, the agent's messages are read (until the channel
  /// ends) and dispatched.
  void attach(std::size_t i, agent_stream& stream);
  /// Lane `i` has sent every port's first attempt: once all have, the
  /// summary is asked for.
  void all_started(std::size_t i);
  /// Lane `i` is done probing (or failed): returns once every lane is, and
  /// the session has ended (the summary, or why not, in each lane's stream).
  /// A lane's second call returns at once.
  asio::awaitable<void> finish(std::size_t i, millis deadline);

 private:
  void start();

  asio::any_io_executor executor_;
  agent_session session_;
  agent_stream master_;
  std::vector<lane_address> lanes_;
  std::vector<agent_stream*> streams_;
  std::vector<bool> started_;
  std::vector<bool> finished_;
  bool ended_ = false;
  asio::steady_timer all_finished_;
};

}  // namespace dropspot::prober
