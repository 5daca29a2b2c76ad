#pragma once
// The control channel through the user's own SSH login: the prober starts the
// system's ssh client running the agent with --stdio and speaks the control
// protocol over its pipes. Nothing needs opening in the provider's filter
// beyond the SSH port the user already reaches.
#include <asio/awaitable.hpp>
#include <memory>
#include <string>
#include <string_view>
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

/// The Windows command line for argv (pure): each word as the C runtime's
/// parser (CommandLineToArgvW; OpenSSH for Windows reads its arguments so)
/// gives it back. A word with a blank or a double quote, or an empty one, goes
/// in double quotes; a double quote is escaped with a backslash, and the
/// backslashes just before a double quote (or before the closing one) are
/// doubled. Other backslashes stay as they are (C:\Users\me\.ssh\id_ed25519).
std::string windows_command_line(const std::vector<std::string>& argv);

/// Where the prober looks for the ssh program on Windows, in order (pure).
/// A name with a folder (C:\tools\ssh.exe, .\ssh) is the one file, also
/// with ".exe" when it has no extension; a bare name (ssh) is looked for in
/// each folder of PATH, then in SYSTEM_ROOT\System32\OpenSSH, where Windows
/// 10 1809 and later install their OpenSSH client. Never in the current
/// folder (CreateProcess would look there first: a planted ssh.exe).
std::vector<std::string> ssh_program_candidates(std::string_view program, std::string_view path_env,
                                                std::string_view system_root);

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
