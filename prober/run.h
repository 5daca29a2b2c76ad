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

struct run_inputs {
  const options& opts;
  asio::ip::address address;  ///< the target, resolved
  std::string token;          ///< empty with --no-agent
  /// Called each time a port's probing ends: ports done so far, ports in all.
  std::function<void(std::size_t done, std::size_t total)> on_port_done = {};
  /// Called while application probes wait for slow services, with a line for people.
  std::function<void(const std::string&)> on_waiting = {};
};

asio::awaitable<v1::Report> run_once(run_inputs in);

/// The attempt timeout: the user's --timeout, shortened when the agent's
/// measured round trip shows the path is fast (a SYN the agent has not seen
/// after many round trips is not coming). Pure.
millis attempt_timeout(millis user_timeout, double control_rtt_ms, bool agent_capturing);

/// Exit code of a finished report: 0 when every port met its expectation and
/// the agent (unless --no-agent) was used; 1 otherwise.
int exit_code(const v1::Report& report);

}  // namespace dropspot::prober
