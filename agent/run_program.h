#pragma once
// Running the host's own tools (nft, iptables-save, systemctl, journalctl, ip)
// for the host inspection: no shell, a deadline, stdout captured.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace dropspot::agent {

/// Runs a program (no shell) with a deadline, stdout captured; nothing when it
/// is missing, fails, or times out (then `error` says which). The program is
/// looked up in PATH, then /usr/sbin, /sbin, /usr/bin and /bin.
std::optional<std::string> run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                       std::string& error);

}  // namespace dropspot::agent
