#pragma once
// The prober's end of the control channel: reach an agent (trying each
// address in order), prove the token, open a session.
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <memory>
#include <string>

#include "common/message_port.h"
#include "dropspot.pb.h"
#include "prober/options.h"

namespace dropspot::prober {

struct agent_session {
  v1::AgentInfo info;                  ///< status and what we learned
  std::shared_ptr<message_port> port;  ///< set only when CONNECTED
  v1::SessionAck ack;
};

struct control_settings {
  std::vector<endpoint_spec> agents;  ///< in order
  std::string target;                 ///< --target as given
  asio::ip::address target_address;   ///< used for agents named like the target
  std::string token;
  millis timeout{2000};
};

/// Never throws for network failures: they become the status in info.
asio::awaitable<agent_session> open_agent_session(const control_settings& settings, const v1::SessionStart& start);

/// Tells the agent we are done and collects its summary (bounded wait).
asio::awaitable<std::error_code> finish_agent_session(agent_session& session, v1::SessionSummary& summary,
                                                     millis deadline);

}  // namespace dropspot::prober
