#pragma once
// --wait: repeat the probe run with backoff until every expectation holds or
// the deadline passes (pipelines that deploy, then check).
#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "dropspot.pb.h"
#include "prober/run.h"

namespace dropspot::prober {

/// The backoff between runs: 500 ms after the first run, doubling, at most 5 s.
constexpr millis first_backoff{500};
constexpr millis max_backoff{5000};

/// The pause before the next run, given the runs made so far (1 or more) and
/// the time since the first run started; nullopt when the deadline (--wait)
/// has passed and no run may start. The pause never reaches past the
/// deadline, so the last run starts at the deadline at the latest. Pure.
std::optional<millis> next_pause(std::uint32_t runs_made, millis elapsed, millis deadline);

/// True when the report would exit 0: every port met its expectation and the
/// agent was used (or --no-agent).
bool is_ready(const v1::Report& report);

/// True when a further run cannot change the outcome: the agent refused our
/// token (waiting does not fix a wrong token).
bool is_hopeless(const v1::Report& report);

/// Called after each run with the run's report, the runs made and the time
/// since the first run started.
using run_observer = std::function<void(const v1::Report&, std::uint32_t runs, millis elapsed)>;

/// Runs run_once until is_ready, is_hopeless or next_pause says stop; returns
/// the last run's report with runs set, and ready_after_ms (time from the first
/// run's start until the ready run ended) when it became ready. With a zero
/// deadline this is one run.
asio::awaitable<v1::Report> run_until_ready(run_inputs in, millis deadline, run_observer observer = {});

/// The same for every address of a name (run_addresses over one agent
/// session when there are several): until every report is ready; the
/// observer sees the first report not ready yet.
asio::awaitable<std::vector<v1::Report>> run_until_ready(run_inputs in, std::vector<asio::ip::address> addresses,
                                                         millis deadline, run_observer observer = {});

}  // namespace dropspot::prober

namespace dropspot::prober {

/// The progress line shown on a terminal between runs, without a newline:
/// "run 3, 4.2s of 1m: 3/4 ports as expected, waiting for 80 (NO_LISTENER)".
/// Pure; escapes nothing from the network (verdict names and numbers only).
std::string wait_progress_line(const v1::Report& last, std::uint32_t runs, millis elapsed, millis deadline);

/// An application probe in progress: its kind and how long it has waited.
struct app_waiting {
  std::uint16_t port = 0;
  std::string kind;  ///< "smtp"
  millis waited{0};
};

/// The progress line while application probes wait for slow services, after
/// one has waited a second: "waiting for the smtp service on port 25: 4s of
/// up to 30s (+1 more)"; empty while none has waited that long. Pure.
std::string app_wait_line(const std::vector<app_waiting>& waiting, millis limit);

}  // namespace dropspot::prober
