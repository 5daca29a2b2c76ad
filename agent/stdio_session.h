#pragma once
// `agent --stdio`: one control session on standard input and output, run by
// the prober through the user's own SSH login (no port to open). The SSH
// login authenticated the peer; a token, if configured, is not needed here.
#include <cstdint>
#include <optional>
#include <string>

#include "agent/options.h"
#include "common/result.h"

namespace dropspot::agent {

/// The prober's address on this path: --peer if given (and not empty), else
/// the first field of SSH_CONNECTION ("client_ip client_port server_ip
/// server_port"). Pure: the environment value is a parameter.
result<std::string> stdio_peer_address(const std::string& peer_option, const char* ssh_connection);

/// The SSH client's source port from SSH_CONNECTION (0 when unknown): the
/// control connection, whose packets are not evidence.
std::uint16_t ssh_client_port(const char* ssh_connection);

/// Runs one session on fds 0/1; logs go to stderr. Exit code: 0 when the
/// session completed, 1 when it failed, 2 for bad usage.
int run_stdio(const options& opts);

}  // namespace dropspot::agent
