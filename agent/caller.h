#pragma once
// Who asked for `agent --stdio`, from the process tree above the agent and
// not from anything the caller can set (environment, arguments).
//
// A sudo rule such as `alice ALL=(root) NOPASSWD: /usr/bin/agent --stdio --peer *`
// lets alice start the agent as root. The agent then runs on alice's behalf:
// some process above it (sudo, alice's shell, her sshd session) has alice's
// real uid. On her behalf it diagnoses only alice's own address, the client
// end of the SSH connection she logged in on, which it finds in the socket of
// the root-owned sshd process of her session (the privileged monitor, or
// `sshd -i`). Root itself, all the way up, may name any --peer.
//
// The decisions are pure functions of a snapshot (unit-tested with made-up
// trees); read_caller_snapshot reads it from /proc.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/listeners.h"
#include "common/result.h"

namespace dropspot::agent {

/// One process above the agent.
struct ancestor {
  std::uint32_t pid = 0;
  std::uint32_t real_uid = 0;
  std::string command;                 ///< /proc/<pid>/comm
  std::vector<std::uint64_t> sockets;  ///< inodes of its socket fds
};

/// What /proc says about the agent's callers.
struct caller_snapshot {
  std::vector<ancestor> ancestors;   ///< parent first, up to pid 1
  std::vector<proc_tcp_socket> tcp;  ///< /proc/net/tcp and tcp6 of the agent's network namespace
};

/// The "PPid:" and the real uid (first "Uid:" field) of /proc/<pid>/status content.
struct process_status {
  std::uint32_t ppid = 0;
  std::uint32_t real_uid = 0;
};
std::optional<process_status> parse_process_status(std::string_view text);

/// The address and port an SSH client connected from.
struct ssh_client {
  asio::ip::address address;  ///< v4-mapped addresses given as IPv4
  std::uint16_t port = 0;
};

/// Who runs the agent.
struct caller {
  /// The first non-root real uid above the agent: it runs on that user's
  /// behalf (sudo, doas, a setuid wrapper). Nothing when root all the way up.
  std::optional<std::uint32_t> on_behalf_of;
  /// The client end of the SSH connection of the caller's login: an
  /// established TCP socket held by a root-owned sshd process above the agent.
  std::optional<ssh_client> ssh;
};
caller identify_caller(const caller_snapshot& snapshot);

/// The prober's address for this session, and where it came from.
struct stdio_peer {
  asio::ip::address address;   ///< v4-mapped addresses given as IPv4
  std::uint16_t ssh_port = 0;  ///< the SSH client's port (its packets are not evidence), 0 unknown
  std::string origin;          ///< for the report: "--peer", "SSH_CONNECTION", "the SSH login of uid 1000"
};

/// Chooses the peer: --peer (an address, never a name), else SSH_CONNECTION's
/// first field. On a user's behalf, only the address of that user's own SSH
/// connection: a --peer naming another is refused, and outside an SSH login
/// there is nothing to diagnose. Fails with one line for the user.
result<stdio_peer> choose_stdio_peer(const std::string& peer_option, const char* ssh_connection, const caller& who);

/// Reads the ancestors of this process and the TCP sockets from <proc_root>.
/// Processes that cannot be read end the walk; never throws.
caller_snapshot read_caller_snapshot(const std::string& proc_root = "/proc");

}  // namespace dropspot::agent
