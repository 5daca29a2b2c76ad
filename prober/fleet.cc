#include "prober/fleet.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <iostream>
#include <optional>

#include "common/net.h"
#include "common/os.h"
#include "prober/run.h"
#include "verdict/verdict.h"
#include "prober/wait.h"

namespace dropspot::prober {

asio::ip::address preferred_address(const asio::ip::tcp::resolver::results_type& results) {
  // Prefer IPv4 when the name has both, like most clients.
  for (const auto& entry : results)
    if (entry.endpoint().address().is_v4()) return entry.endpoint().address();
  return results.begin()->endpoint().address();
}

result<std::vector<asio::ip::address>> choose_addresses(const std::vector<asio::ip::address>& resolved,
                                                        const address_choice& choice, const std::string& name) {
  using R = result<std::vector<asio::ip::address>>;
  std::vector<asio::ip::address> chosen;
  for (const bool v6 : {false, true}) {
    if (v6 ? !choice.v6 : !choice.v4) continue;
    for (const auto& resolved_address : resolved) {
      const auto a = unmapped(resolved_address);
      if (a.is_v6() != v6 || std::find(chosen.begin(), chosen.end(), a) != chosen.end()) continue;
      chosen.push_back(a);
      if (!choice.all) break;
    }
  }
  if (chosen.empty() && !resolved.empty())
    return R::failure(name + " has no " + (choice.v6 ? "IPv6 address (no AAAA record)" : "IPv4 address (no A record)") +
                      ": -" + (choice.v6 ? "6" : "4") + " leaves nothing to test");
  if (chosen.empty()) return R::failure(name + ": no address");
  return chosen;
}

namespace {

/// Resolves the target once (A and AAAA); every probe and the default agent use it.
asio::awaitable<result<std::vector<asio::ip::address>>> resolve_target(std::string host, address_choice choice) {
  using R = result<std::vector<asio::ip::address>>;
  std::vector<asio::ip::address> all;
  // An address needs no resolver (Asio's runs getaddrinfo on a thread of its
  // own: a few milliseconds of a lab sweep's start).
  std::error_code not_literal;
  if (auto literal = asio::ip::make_address(host, not_literal); !not_literal) {
    all.push_back(literal);
  } else {
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [ec, results] = co_await resolver.async_resolve(host, "", asio::experimental::as_tuple(asio::use_awaitable));
    if (ec || results.empty())
      co_return R::failure("--target: cannot resolve " + host + ": " + (ec ? ec.message() : "no address"));
    for (const auto& entry : results) all.push_back(entry.endpoint().address());
  }
  auto chosen = choose_addresses(all, choice, host);
  if (!chosen) co_return R::failure("--target: " + chosen.error());
  co_return chosen;
}

/// A line on stderr that rewrites itself; only on a terminal.
class progress_line {
 public:
  explicit progress_line(bool enabled) : enabled_(enabled) {}
  ~progress_line() { clear(); }
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;
  void show(const std::string& text) {
    if (!enabled_) return;
    std::cerr << "\r\x1b[K" << text << std::flush;
    shown_ = true;
  }
  void clear() {
    if (shown_) std::cerr << "\r\x1b[K" << std::flush;
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

/// Many ports: a run takes long enough to show progress.
constexpr std::size_t progress_min_ports = 8;

/// One target at its addresses (one run, or one per address over one agent
/// session), run until ready; progress (one target only) on `progress`.
asio::awaitable<std::vector<v1::Report>> diagnose_at(const options& opts, std::vector<asio::ip::address> addresses,
                                                     const std::string& token, progress_line* progress,
                                                     std::size_t share) {
  const bool show_ports = opts.wait.count() > 0 || opts.ports.size() + opts.udp_ports.size() >= progress_min_ports;
  std::uint32_t runs_made = 0;
  // A named object: GCC 12 mishandles temporaries inside co_await expressions.
  run_inputs inputs{opts, addresses.front(), token};
  inputs.share = share;
  if (progress) {
    inputs.on_port_done = [&](std::size_t done, std::size_t total) {
      std::string s = (runs_made > 0 ? "run " + std::to_string(runs_made + 1) + ": " : std::string()) +
                      std::to_string(done) + "/" + std::to_string(total) + " ports probed";
      if (show_ports) progress->show(s);
    };
    inputs.on_waiting = [progress](const std::string& line) { progress->show(line); };
  }
  auto reports = co_await run_until_ready(std::move(inputs), std::move(addresses), opts.wait,
                                          [&](const v1::Report& last, std::uint32_t runs, millis elapsed) {
                                            runs_made = runs;
                                            if (progress && opts.wait.count() > 0)
                                              progress->show(wait_progress_line(last, runs, elapsed, opts.wait));
                                          });
  const auto compared = address_notes(reports);
  for (auto& report : reports) {
    for (const auto& note : compared) report.add_address_notes(note);
    report.set_ok(exit_code(report) == 0);
  }
  co_return reports;
}

/// One target: resolved, then diagnose_at.
asio::awaitable<std::vector<v1::Report>> diagnose(const options& opts, const std::string& token,
                                                  progress_line* progress, std::size_t share) {
  auto addresses = co_await resolve_target(opts.target, opts.addresses);
  if (!addresses) {
    if (progress) std::cerr << "prober: " << addresses.error() << "\n";
    auto report = untested_report(opts.target, addresses.error());
    report.set_ok(false);
    co_return std::vector<v1::Report>{std::move(report)};
  }
  co_return co_await diagnose_at(opts, std::move(addresses).value(), token, progress, share);
}

void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

}  // namespace

std::vector<v1::Report> diagnose_target(const options& opts, const std::string& token, bool progress) {
  std::vector<v1::Report> reports;
  progress_line line(progress && os::ansi_terminal(stderr));
  asio::io_context io(1);
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { reports = co_await diagnose(opts, token, &line, 1); }, rethrow);
  io.run();
  return reports;
}

v1::Report diagnose_address(const options& opts, const asio::ip::address& address, const std::string& token,
                            millis limit) {
  std::optional<v1::Report> report;
  {
    asio::io_context io(1);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          // Named objects: GCC 12 mishandles temporaries inside co_await expressions.
          std::vector<asio::ip::address> one{address};
          auto reports = co_await diagnose_at(opts, std::move(one), token, nullptr, 1);
          report = std::move(reports.front());
        },
        rethrow);
    io.run_for(limit);
    // Not done: the io_context's end destroys the run's coroutines, closing their sockets.
  }
  if (report) return *report;
  auto late = untested_report(opts.target, "the diagnosis did not finish within " + format_duration(limit) +
                                               " (the scrape's timeout, or --max-duration)");
  late.set_address(address.to_string());
  late.set_ok(false);
  return late;
}

std::vector<v1::Report> diagnose_fleet(const fleet_options& fleet, const std::string& token, fleet_observer observer) {
  std::vector<std::vector<v1::Report>> reports(fleet.targets.size());
  const std::size_t workers = std::clamp<std::size_t>(fleet.parallel, 1, std::max<std::size_t>(reports.size(), 1));
  std::size_t next = 0, done = 0;
  asio::io_context io(1);
  // Each worker takes the next target when its last one is done.
  for (std::size_t w = 0; w < workers; ++w)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < fleet.targets.size()) {
            const auto i = next++;
            reports[i] = co_await diagnose(fleet.targets[i], token, nullptr, workers);
            ++done;
            if (observer) observer(done, reports.size());
          }
        },
        rethrow);
  io.run();
  std::vector<v1::Report> all;
  for (auto& target : reports)
    for (auto& r : target) all.push_back(std::move(r));
  return all;
}

int fleet_exit_code(const std::vector<v1::Report>& reports) {
  int code = 0;
  for (const auto& r : reports) {
    const int c = exit_code(r);
    if (c == 1) return 1;
    if (c != 0) code = c;
  }
  return code;
}

}  // namespace dropspot::prober
