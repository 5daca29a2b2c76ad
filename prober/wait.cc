#include "prober/wait.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>

#include "common/ports.h"

namespace dropspot::prober {

std::optional<millis> next_pause(std::uint32_t runs_made, millis elapsed, millis deadline) {
  if (runs_made == 0) return millis{0};
  if (elapsed >= deadline) return std::nullopt;
  millis backoff = first_backoff;
  for (std::uint32_t i = 1; i < runs_made && backoff < max_backoff; ++i) backoff *= 2;
  backoff = std::min(backoff, max_backoff);
  return std::min(backoff, deadline - elapsed);
}

bool is_ready(const v1::Report& report) { return exit_code(report) == 0; }

bool is_hopeless(const v1::Report& report) { return report.agent().status() == v1::AgentInfo::AUTH_FAILED; }

asio::awaitable<std::vector<v1::Report>> run_until_ready(run_inputs in, std::vector<asio::ip::address> addresses,
                                                         millis deadline, run_observer observer) {
  auto executor = co_await asio::this_coro::executor;
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started); };
  asio::steady_timer timer(executor);
  std::uint32_t runs = 0;
  std::vector<v1::Report> reports;
  for (;;) {
    run_inputs inputs = in;
    if (addresses.size() <= 1) {
      auto report = co_await run_once(std::move(inputs));
      reports.clear();
      reports.push_back(std::move(report));
    } else {
      reports = co_await run_addresses(std::move(inputs), addresses);
    }
    ++runs;
    for (auto& r : reports) r.set_runs(runs);
    const auto now = elapsed();
    const bool ready = std::all_of(reports.begin(), reports.end(), [](const v1::Report& r) { return is_ready(r); });
    // The progress line speaks of the first address not ready yet.
    const auto shown = std::find_if(reports.begin(), reports.end(), [](const v1::Report& r) { return !is_ready(r); });
    if (observer) observer(shown != reports.end() ? *shown : reports.front(), runs, now);
    if (ready) {
      if (deadline.count() > 0)
        for (auto& r : reports) r.set_ready_after_ms(static_cast<double>(now.count()));
      break;
    }
    if (std::any_of(reports.begin(), reports.end(), [](const v1::Report& r) { return is_hopeless(r); })) break;
    const auto pause = next_pause(runs, now, deadline);
    if (!pause) break;
    timer.expires_after(*pause);
    co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  co_return reports;
}

asio::awaitable<v1::Report> run_until_ready(run_inputs in, millis deadline, run_observer observer) {
  // Named objects: GCC 12 mishandles temporaries inside co_await expressions.
  std::vector<asio::ip::address> one{in.address};
  auto reports = co_await run_until_ready(std::move(in), std::move(one), deadline, std::move(observer));
  co_return std::move(reports.front());
}

}  // namespace dropspot::prober

namespace dropspot::prober {

std::string wait_progress_line(const v1::Report& last, std::uint32_t runs, millis elapsed, millis deadline) {
  int ok = 0;
  std::string waiting;
  for (const auto& p : last.ports()) {
    if (p.as_expected()) {
      ++ok;
    } else if (waiting.size() < 40) {
      waiting += (waiting.empty() ? "" : ", ") + port_label(p.port(), p.protocol() == v1::UDP) + " (" +
                 v1::Verdict_Name(p.verdict()) + ")";
    }
  }
  std::string s = "run " + std::to_string(runs) + ", " + format_duration(elapsed / 100 * 100) + " of " +
                  format_duration(deadline) + ": " + std::to_string(ok) + "/" + std::to_string(last.ports_size()) +
                  " ports as expected";
  const auto status = last.agent().status();
  if (status != v1::AgentInfo::CONNECTED && status != v1::AgentInfo::DISABLED)
    s += ", agent " + v1::AgentInfo::Status_Name(status);
  if (!waiting.empty()) s += ", waiting for " + waiting;
  return s;
}

std::string app_wait_line(const std::vector<app_waiting>& waiting, millis limit) {
  const app_waiting* longest = nullptr;
  for (const auto& w : waiting)
    if (longest == nullptr || w.waited > longest->waited) longest = &w;
  if (longest == nullptr || longest->waited < millis(1000)) return {};
  std::string s = "waiting for the " + longest->kind + " service on port " + std::to_string(longest->port) + ": " +
                  format_duration(longest->waited / 1000 * 1000) + " of up to " + format_duration(limit);
  if (waiting.size() > 1) s += " (+" + std::to_string(waiting.size() - 1) + " more)";
  return s;
}

}  // namespace dropspot::prober
