#pragma once
// The prober's command line (contract in DESIGN.md), parsed and validated
// into plain values. Parsing never touches the network.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/endpoint.h"
#include "common/result.h"
#include "render/report.h"

namespace CLI {
class App;  // <CLI/CLI.hpp> costs ~7 s of compile time in every file that includes it
}

namespace dropspot::prober {

enum class output_format { text, json, junit, prometheus };

/// One --expect item: ports (both empty = every port) and a class or verdict.
struct expectation {
  std::vector<std::uint16_t> ports;      ///< TCP
  std::vector<std::uint16_t> udp_ports;  ///< "53/udp=open"
  std::string what;                      ///< "open", "blocked", "closed" or a verdict name
};

/// Raw strings as CLI11 collects them.
struct raw_options {
  std::string positional_target;     ///< `prober HOST ...`
  std::vector<std::string> targets;  ///< --target, repeatable
  std::string targets_file;          ///< --targets-file
  int parallel = 0;                  ///< 0: default_parallel
  bool ipv4_only = false;            ///< -4
  bool ipv6_only = false;            ///< -6
  bool all_addresses = false;        ///< --all-addresses
  std::string output;
  std::string ports;
  std::vector<std::string> agents;
  std::string ssh;
  std::string ssh_command;
  std::string remote_agent = "sudo -n agent --stdio";
  std::string token_file;
  bool no_agent = false;
  std::vector<std::string> probes;
  std::string dns_name;
  std::string udp_payload;
  std::string timeout = "2s";
  std::string app_timeout = "30s";
  int retries = 1;
  bool insecure = false;
  std::string ca_file;
  std::vector<std::string> expects;
  std::string wait;
  std::string format = "text";
  bool verbose = false;
  bool quiet = false;
  std::string color = "auto";
};

/// Which of a name's addresses are tested (issue 24).
struct address_choice {
  bool v4 = true;    ///< IPv4 addresses (not with -6)
  bool v6 = true;    ///< IPv6 addresses (not with -4)
  bool all = false;  ///< --all-addresses: every one, else the first of each family
  friend bool operator==(const address_choice&, const address_choice&) = default;
};

/// Validated options.
struct options {
  std::string target;
  address_choice addresses;
  std::vector<std::uint16_t> ports;      ///< TCP ports under test
  std::vector<std::uint16_t> udp_ports;  ///< UDP ports under test ("53/udp")
  std::vector<endpoint_spec> agents;     ///< in order of attempts; port filled in
  std::string ssh;
  std::string ssh_command;
  std::string remote_agent;
  std::string token_file;
  bool no_agent = false;
  std::map<std::uint16_t, std::string> probes;      ///< --probe PORT=KIND
  std::map<std::uint16_t, std::string> udp_probes;  ///< --probe PORT/udp=KIND
  std::string dns_name;                             ///< --dns-name: what the dns probe asks for
  std::string udp_payload;                          ///< --udp-payload, as bytes
  millis timeout{2000};
  /// The longest an application probe waits for the service: a greeting
  /// (postscreen holds SMTP's for 6 s), a response, the TLS handshake.
  millis app_timeout{30000};
  int retries = 1;
  bool insecure = false;
  std::string ca_file;
  std::vector<expectation> expects;
  millis wait{0};
  output_format format = output_format::text;
  verbosity detail = verbosity::normal;  ///< -q / -v
  color_mode color = color_mode::automatic;
  std::string output;  ///< --output FILE: the report written there (atomically), not to stdout
};

/// Several targets (--target repeated, --targets-file): each its own
/// options (the agent defaults to each target), run side by side.
struct fleet_options {
  std::vector<options> targets;
  std::size_t parallel = 1;  ///< targets probed at once
};

/// One line of a --targets-file: `host [ports] [key=value...]`.
struct target_line {
  std::size_t line = 0;  ///< 1-based
  std::string host;
  std::string ports;  ///< empty: --ports
  std::vector<std::pair<std::string, std::string>> settings;
};

/// Targets probed at once unless --parallel says otherwise, and the most it may say.
inline constexpr std::size_t default_parallel = 8;
inline constexpr std::size_t max_parallel = 64;
/// The most targets one run takes (a fleet, not an address space).
inline constexpr std::size_t max_targets = 4096;

/// Pure: a --targets-file's text (one target a line, `#` comments, blank
/// lines skipped; keys agent, ssh, expect, probe, timeout, app-timeout,
/// the first two and the last three as the options of the same name). The
/// error names the line.
result<std::vector<target_line>> parse_targets_file(std::string_view text);

/// Registers every option on app, storing into raw.
void setup_options(CLI::App& app, raw_options& raw);

/// A --targets-file line's ports and settings over raw's: a key given
/// on the line replaces the option of that name (repeated keys add up).
void apply_target_line(raw_options& raw, const target_line& line);

/// Checks and converts one target's options; the error is one line for stderr.
result<options> validate_options(const raw_options& raw);

/// Checks and converts every target's: the command line's (the argument,
/// each --target) then the file's lines, each line's ports and settings
/// over the command line's. One target: validate_options' errors as they are.
result<fleet_options> validate_fleet(const raw_options& raw, const std::vector<target_line>& file_lines = {});

/// Probe kinds accepted by --probe for TCP ports.
bool is_probe_kind(std::string_view kind);
/// Probe kinds accepted by --probe for UDP ports.
bool is_udp_probe_kind(std::string_view kind);

/// The most --udp-payload may hold: one datagram that passes any path without fragments.
inline constexpr std::size_t max_udp_payload = 1200;

}  // namespace dropspot::prober
