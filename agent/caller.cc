#include "agent/caller.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "agent/host_files.h"
#include "common/endpoint.h"
#include "common/net.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot::agent {

namespace {

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// sshd (OpenSSH up to 9.7 names every process so), sshd-session (9.8 and later).
bool is_sshd(std::string_view command) { return command.starts_with("sshd"); }

std::string describe_uid(std::uint32_t uid) { return "uid " + std::to_string(uid); }

}  // namespace

std::optional<process_status> parse_process_status(std::string_view text) {
  std::optional<std::uint32_t> ppid, uid;
  for (std::string_view line : split(text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    auto fields = words(line.substr(colon + 1));
    if (fields.empty()) continue;
    if (key == "PPid") ppid = parse_u32(fields[0]);
    if (key == "Uid") uid = parse_u32(fields[0]);  // real, effective, saved, filesystem
  }
  if (!ppid || !uid) return std::nullopt;
  return process_status{*ppid, *uid};
}

caller identify_caller(const caller_snapshot& snapshot) {
  caller who;
  for (const auto& a : snapshot.ancestors) {
    if (a.real_uid != 0) {
      who.on_behalf_of = a.real_uid;
      break;
    }
  }
  // The sockets of root-owned sshd processes above us: the login's own
  // connection. (The user's unprivileged sshd child also holds the sockets of
  // the user's port forwards; those are never looked at.)
  std::unordered_set<std::uint64_t> inodes;
  for (const auto& a : snapshot.ancestors)
    if (a.real_uid == 0 && is_sshd(a.command)) inodes.insert(a.sockets.begin(), a.sockets.end());
  for (const auto& s : snapshot.tcp) {
    if (s.state != tcp_established || !inodes.contains(s.inode)) continue;
    who.ssh = ssh_client{unmapped(s.remote), s.remote_port};
    break;
  }
  return who;
}

result<stdio_peer> choose_stdio_peer(const std::string& peer_option, const char* ssh_connection, const caller& who) {
  using R = result<stdio_peer>;
  std::string_view option = trim(peer_option);
  if (!option.empty() && !is_ip_literal(option)) return R::failure("--peer: " + quote(option) + " is not an address");

  if (who.on_behalf_of) {
    const std::string user = describe_uid(*who.on_behalf_of);
    if (!who.ssh)
      return R::failure("--stdio runs on behalf of " + user +
                        " outside an SSH login: on a user's behalf the agent diagnoses only the address of that "
                        "user's own SSH connection (run it through `prober --ssh`, or as root)");
    if (!option.empty() && unmapped(asio::ip::make_address(std::string(option))) != who.ssh->address)
      return R::failure("--peer " + std::string(option) + " is not the address of the SSH connection of " + user +
                        " (" + who.ssh->address.to_string() +
                        "): on a user's behalf the agent diagnoses only that address");
    return stdio_peer{who.ssh->address, who.ssh->port, "the SSH login of " + user};
  }

  stdio_peer peer;
  std::string_view candidate = option;
  peer.origin = "--peer";
  if (candidate.empty() && ssh_connection != nullptr) {
    std::string_view text = trim(ssh_connection);
    candidate = text.substr(0, text.find(' '));
    peer.origin = "SSH_CONNECTION";
  }
  if (candidate.empty())
    return R::failure(
        "--stdio needs the prober's address: --peer ADDR, or run it from an SSH session "
        "(SSH_CONNECTION)");
  if (!is_ip_literal(candidate)) return R::failure(peer.origin + ": " + quote(candidate) + " is not an address");
  peer.address = unmapped(asio::ip::make_address(std::string(candidate)));
  if (who.ssh && who.ssh->address == peer.address) {
    peer.ssh_port = who.ssh->port;
  } else if (ssh_connection != nullptr) {
    auto fields = split(trim(ssh_connection), ' ');
    if (fields.size() >= 2)
      if (auto port = parse_port(fields[1])) peer.ssh_port = *port;
  }
  return peer;
}

caller_snapshot read_caller_snapshot(const std::string& proc_root) {
  caller_snapshot snapshot;
  std::uint32_t pid = static_cast<std::uint32_t>(::getppid());
  // A tree deeper than this is not a login; the bound only stops a loop.
  for (int depth = 0; pid != 0 && depth < 64; ++depth) {
    const std::string dir = proc_root + "/" + std::to_string(pid);
    std::string status_text, comm;
    if (!read_text(dir + "/status", status_text)) break;
    auto status = parse_process_status(status_text);
    if (!status) break;
    read_text(dir + "/comm", comm);
    ancestor a;
    a.pid = pid;
    a.real_uid = status->real_uid;
    a.command = std::string(trim(comm));
    a.sockets = socket_inodes_of(pid, proc_root);
    snapshot.ancestors.push_back(std::move(a));
    if (pid == 1) break;
    pid = status->ppid;
  }
  for (const char* file : {"/net/tcp", "/net/tcp6"}) {
    std::string text;
    if (!read_text(proc_root + file, text)) continue;
    auto sockets = parse_proc_net_tcp_sockets(text);
    snapshot.tcp.insert(snapshot.tcp.end(), sockets.begin(), sockets.end());
  }
  return snapshot;
}

}  // namespace dropspot::agent
