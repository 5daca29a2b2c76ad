#pragma once
// The prober's end of the control channel: reach an agent (trying each
// address in order), prove the token, open a session.
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/message_port.h"
#include "common/ports.h"
#include "dropspot.pb.h"
#include "prober/options.h"
#include "prober/ssh_transport.h"

namespace dropspot::prober {

struct agent_session {
  v1::AgentInfo info;                  ///< status and what we learned
  std::shared_ptr<message_port> port;  ///< set only when CONNECTED
  v1::SessionAck ack;
  /// The agent took the sealed session request (AuthOk.session_started):
  /// the session was requested and probing may start; the receiver reads
  /// the SessionAck (and fills `ack` and `info`) as the first message.
  bool ack_pending = false;
  /// Cancelled (fires) when the receiver has finished; see finish_agent_session.
  std::shared_ptr<asio::steady_timer> receiver_done;
  /// Cancelled (fires) when the summary came or the receiver finished.
  std::shared_ptr<asio::steady_timer> summary_came;
  bool summary_requested = false;          ///< ProbesDone sent (request_summary)
  std::uint64_t summary_requested_us = 0;  ///< when it left (the summary is a barrier for what came before)
};

/// The control channel's MSS over TCP: packets of at most 1280 bytes (IPv6's
/// minimum MTU, which every path must pass) either way.
constexpr int control_mss(bool v6) { return v6 ? 1280 - 60 : 1280 - 40; }

struct control_settings {
  std::vector<endpoint_spec> agents;  ///< in order
  std::string target;                 ///< --target as given
  asio::ip::address target_address;   ///< used for agents named like the target
  std::string token;
  millis timeout{2000};
  std::optional<ssh_settings> ssh;  ///< --ssh: tried first
};

/// Never throws for network failures: they become the status in info.
asio::awaitable<agent_session> open_agent_session(const control_settings& settings, const v1::SessionStart& start);

/// What the agent streams during a session, gathered by receive_observations.
struct agent_stream {
  std::map<port_key, std::vector<v1::PacketEvent>> packets;  ///< by service port (UDP ones keyed as such)
  std::optional<v1::SessionSummary> summary;
  std::string lost;  ///< why the channel ended early, if it did
  bool finished = false;
  /// False: packets go to on_packet only (a shared session's lanes keep them).
  bool keep_packets = true;
  /// Called for every packet as it arrives (the prober decides early from it).
  std::function<void(const v1::PacketEvent&)> on_packet;
  /// Called for every Pong, after the packets the agent sent before it.
  std::function<void(std::uint64_t nonce)> on_pong;
  /// Called when a pending SessionAck came (true) or the session was
  /// refused instead (false; agent_session.info says why).
  std::function<void(bool acknowledged)> on_ack;
  /// Called when the summary came (after every packet the agent had
  /// captured when the ProbesDone arrived: a barrier too).
  std::function<void()> on_summary;
};

/// Fills session.ack and what the report's AgentInfo takes from it.
void apply_ack(agent_session& session, const v1::SessionAck& ack);

/// Says on stderr what escaped a coroutine nobody awaits (common/spawn.h on_escape).
void report_internal_error(const std::string& what);

/// Reads the agent's messages (the pending ack, observations, pongs, the
/// summary, observations after it) until the channel ends. Run it
/// concurrently with the probes; it completes `stream` and wakes
/// finish_agent_session.
asio::awaitable<void> receive_observations(agent_session& session, agent_stream& stream);

/// Sends ProbesDone once: the agent answers with its summary (host facts,
/// capture counters) and goes on capturing until the channel closes.
void request_summary(agent_session& session, const asio::any_io_executor& executor);

/// Requests the summary (if not yet) and waits (bounded, from now) for it;
/// closes the channel. Returns only once the receiver has ended, so that
/// session and stream may go (receiver_done must be set).
asio::awaitable<std::error_code> finish_agent_session(agent_session& session, agent_stream& stream, millis deadline);

}  // namespace dropspot::prober
