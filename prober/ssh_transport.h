#pragma once
// The control channel through the user's own SSH login: the prober starts the
// system's ssh client running the agent with --stdio and speaks the control
// protocol over its pipes. Nothing needs opening in the provider's filter
// beyond the SSH port the user already reaches.
#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/message_port.h"
#include "common/result.h"

namespace dropspot::prober {

struct ssh_settings {
  std::string destination;   ///< --ssh [USER@]HOST[:PORT]
  std::string ssh_command;   ///< --ssh-command, e.g. "ssh -i key -J jump"; empty: "ssh"
  std::string remote_agent;  ///< --remote-agent, e.g. "sudo -n agent --stdio"
  int connect_timeout_s = 10;
};

/// The argv to run (pure): the ssh command split on spaces (quotes group
/// words), then -o BatchMode=yes (never prompt: a prompt would hang us),
/// -o ConnectTimeout, -p PORT when given, -- USER@HOST, and the remote
/// command with --peer taken from the server side's SSH_CONNECTION.
result<std::vector<std::string>> ssh_argv(const ssh_settings& settings);

/// What went wrong, in words, from ssh's exit status and stderr (pure).
struct ssh_failure {
  enum class kind { unreachable, auth_failed, error } what = kind::error;
  std::string message;  ///< one line for the report
  std::string advice;   ///< the next step
};
ssh_failure classify_ssh_failure(int exit_status, const std::string& stderr_text);

/// A message_port over a running ssh child. close() ends the child.
class ssh_port;

/// Starts ssh; nullptr and `error` when it cannot even start.
std::shared_ptr<ssh_port> start_ssh(const asio::any_io_executor& executor, const ssh_settings& settings,
                                    std::string& error);

/// After the channel failed: waits (bounded) for ssh to exit and explains why.
asio::awaitable<ssh_failure> explain_ssh_failure(ssh_port& port);

/// The port as a message_port (for agent_session).
std::shared_ptr<message_port> as_message_port(const std::shared_ptr<ssh_port>& port);

/// Reads ssh's stderr until it closes; spawn it next to the session.
asio::awaitable<void> collect_ssh_stderr(std::shared_ptr<ssh_port> port);

}  // namespace dropspot::prober
