#pragma once
// The agent's command line (contract in DESIGN.md).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "common/result.h"

namespace CLI {
class App;  // <CLI/CLI.hpp> costs ~7 s of compile time in every file that includes it
}

namespace dropspot::agent {

struct raw_options {
  std::vector<std::string> listen;
  std::string token_file;
  std::vector<std::string> interfaces;
  std::string allow_ports;
  std::string pcap_dir;
  std::string state_dir;
  std::string host_root;
  std::vector<std::string> saved_rules;
  bool stdio = false;
  std::string peer;
  unsigned max_sessions = 16;
  std::string max_session = "5m";
  unsigned max_per_source = 8;
  std::string auth_timeout = "10s";
  unsigned max_ports = 4096;
  std::string user;
  std::string metrics;
};

struct options {
  std::vector<endpoint_spec> listen;  ///< default [::]:7411
  std::string token_file;
  std::vector<std::string> interfaces;
  std::vector<std::uint16_t> allow_ports;  ///< empty: every port
  std::string pcap_dir;
  std::string state_dir;
  std::string host_root = "/";           ///< --host-root: /etc and /run of the host inspection read under it
  std::vector<std::string> saved_rules;  ///< --saved-rules: the firewall rules that survive a reboot
  bool stdio = false;
  std::string peer;
  unsigned max_sessions = 16;
  std::chrono::milliseconds max_session{300'000};
  unsigned max_per_source = 8;                     ///< open control connections per source address (IPv6: per /64)
  std::chrono::milliseconds auth_timeout{10'000};  ///< TLS handshake + hello + token proof, together
  unsigned max_ports = 4096;                       ///< ports one session may ask about
  std::string user;                                ///< --user: run as this user once the ports are bound
  std::optional<endpoint_spec> metrics;            ///< --metrics ADDR:PORT: GET /metrics there (off by default)
};

void setup_options(CLI::App& app, raw_options& raw);
/// --host-root and --saved-rules, for the server and for `agent check`.
void add_host_options(CLI::App& app, std::string& host_root, std::vector<std::string>& saved_rules);
result<options> validate_options(const raw_options& raw);

/// `agent --stdio` is what a sudo rule grants a user (docs/agent.md), so it
/// takes from its command line only what narrows one diagnosis session:
/// --peer, --allow-ports, and --max-ports / --max-session no higher than their
/// defaults. Anything that writes files, chooses what is read, binds sockets or
/// picks interfaces is refused, as is a subcommand. `given`: the names of the
/// options and subcommands on the command line ("--pcap-dir", "check").
/// Returns the one-line refusal, or nothing when the command line is accepted.
std::optional<std::string> refuse_stdio_options(const std::vector<std::string>& given, const raw_options& raw);

}  // namespace dropspot::agent
