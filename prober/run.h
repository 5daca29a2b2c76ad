#pragma once
// One probe run: open the agent session, probe every port while the agent's
// observations stream in, decide each port as soon as the evidence allows,
// localise drops in transit, and assemble the report.
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <functional>
#include <string>

#include "dropspot.pb.h"
#include "prober/options.h"

namespace dropspot::prober {

class shared_session;

struct run_inputs {
  const options& opts;
  asio::ip::address address;  ///< the target, resolved
  std::string token;          ///< empty with --no-agent
  /// Called each time a port's probing ends: ports done so far, ports in all.
  std::function<void(std::size_t done, std::size_t total)> on_port_done = {};
  /// Called while application probes wait for slow services, with a line for people.
  std::function<void(const std::string&)> on_waiting = {};
  /// Runs side by side in this process (several targets): each takes its
  /// share of the file descriptors.
  std::size_t share = 1;
  /// The agent session this run shares with the runs of the name's other
  /// addresses, and its lane in it (run_addresses); null: its own session.
  shared_session* shared = nullptr;
  std::size_t lane = 0;
};

asio::awaitable<v1::Report> run_once(run_inputs in);

/// One run per address of the name (in.address is ignored), side by side
/// over one agent session that captures for each of our source addresses
/// (issue 24); the reports in the addresses' order. `addresses` has two or more.
asio::awaitable<std::vector<v1::Report>> run_addresses(run_inputs in, std::vector<asio::ip::address> addresses);

/// The attempt timeout: the user's --timeout, shortened when the agent's
/// measured round trip shows the path is fast (a SYN the agent has not seen
/// after many round trips is not coming). Pure.
millis attempt_timeout(millis user_timeout, double control_rtt_ms, bool agent_capturing);

/// Exit code of a finished report (DESIGN.md): 0 every port as expected and
/// the agent (unless --no-agent) used; 1 some port not as expected, or
/// nothing tested (Report.error); 3 every port as expected but the agent,
/// asked for, could not be used (a broken monitor, not a broken deploy).
int exit_code(const v1::Report& report);

/// The report of a run that tested nothing: `why` (the target's name does
/// not resolve: a failure of the check, not bad usage; the name may be
/// right and DNS wrong).
v1::Report untested_report(const std::string& target, const std::string& why);

}  // namespace dropspot::prober
