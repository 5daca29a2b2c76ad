// probe_tool: runs the prober's connect probes and hop search from the command
// line and prints one key=value line per result, for tests/e2e/probe_lab_test.sh
// (run inside a lab namespace with `scripts/lab.sh exec client probe_tool ...`).
//
//   probe_tool connect ADDR PORT [--timeout D] [--ttl N]
//   probe_tool scan ADDR PORTS [--timeout D] [--retries N] [--concurrency N] [--decide PORT@MS]...
//   probe_tool hops ADDR PORT [--max-hops N] [--timeout D] [--retries N]
//
// Lines: "attempt port=P n=K outcome=O local=A:P icmp_from=A icmp_type=T icmp_code=C
// elapsed_ms=E last=0|1 error=TEXT" (error last: it may contain spaces),
// "result port=P outcome=O attempts=N decided=0|1", "summary elapsed_ms=E ports=N
// CONNECTED=.. REFUSED=.. TIMED_OUT=.. UNREACHABLE=.. FAILED=..",
// "ttl N outcome=O icmp_from=A icmp_type=T", "hop last_hop=N address=A path_length=N elapsed_ms=E note=TEXT".
// Exit code 0, or 2 for bad usage.
#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/duration.h"
#include "common/ports.h"
#include "prober/probe.h"

using namespace dropspot;
using namespace dropspot::prober;

namespace {

std::string attempt_fields(const v1::Attempt& a) {
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.1f", a.elapsed_ms());
  return "outcome=" + v1::Attempt::Outcome_Name(a.outcome()) + " local=" + a.local_address() + ":" +
         std::to_string(a.local_port()) + " icmp_from=" + a.icmp_from() +
         " icmp_type=" + std::to_string(a.icmp_type()) + " icmp_code=" + std::to_string(a.icmp_code()) +
         " elapsed_ms=" + elapsed;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int usage(const std::string& message) {
  std::cerr << "probe_tool: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"probe_tool: the prober's connect probes, for lab tests"};
  app.require_subcommand(1);
  std::string address_text, port_text, timeout_text = "1s";
  int ttl = 0, retries = 1, max_hops = 30;
  std::size_t concurrency = 256;
  std::vector<std::string> decides;

  auto* connect = app.add_subcommand("connect", "one connect attempt");
  connect->add_option("address", address_text)->required();
  connect->add_option("port", port_text)->required();
  connect->add_option("--timeout", timeout_text);
  connect->add_option("--ttl", ttl);

  auto* scan = app.add_subcommand("scan", "probe_runner over a port list");
  scan->add_option("address", address_text)->required();
  scan->add_option("ports", port_text)->required();
  scan->add_option("--timeout", timeout_text);
  scan->add_option("--retries", retries);
  scan->add_option("--concurrency", concurrency);
  scan->add_option("--decide", decides, "PORT@MS: decide PORT after MS milliseconds");

  auto* hops = app.add_subcommand("hops", "find_last_hop");
  hops->add_option("address", address_text)->required();
  hops->add_option("port", port_text)->required();
  hops->add_option("--max-hops", max_hops);
  hops->add_option("--timeout", timeout_text);
  hops->add_option("--retries", retries);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }
  std::error_code ec;
  const auto address = asio::ip::make_address(address_text, ec);
  if (ec) return usage("bad address " + address_text);
  const auto timeout = parse_duration(timeout_text);
  if (!timeout) return usage(timeout.error());
  const auto ports = parse_port_list(port_text);
  if (!ports) return usage(ports.error());
  std::map<std::uint16_t, int> decide_after;
  for (const auto& d : decides) {
    const auto at = d.find('@');
    const auto port = parse_port(d.substr(0, at));
    if (at == std::string::npos || !port) return usage("bad --decide " + d + " (PORT@MS)");
    decide_after[*port] = std::stoi(d.substr(at + 1));
  }

  asio::io_context io(1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        const auto t0 = std::chrono::steady_clock::now();
        if (connect->parsed()) {
          connect_options options;
          options.timeout = *timeout;
          options.ttl = ttl;
          auto r = co_await connect_probe(asio::ip::tcp::endpoint(address, ports->front()), options);
          std::cout << "attempt port=" << ports->front() << " n=1 " << attempt_fields(r.attempt)
                    << " last=1 error=" << r.attempt.error() << std::endl;
          if (r.tcp) std::cout << "tcp mss=" << r.tcp->mss << " rtt_us=" << r.tcp->rtt_us << std::endl;
        } else if (scan->parsed()) {
          runner_settings settings;
          settings.timeout = *timeout;
          settings.retries = retries;
          settings.concurrency = concurrency;
          settings.keep_sockets = false;
          probe_runner runner(executor, address, settings);
          std::vector<std::unique_ptr<asio::steady_timer>> timers;
          for (const auto& [port, ms] : decide_after) {
            timers.push_back(std::make_unique<asio::steady_timer>(executor, std::chrono::milliseconds(ms)));
            timers.back()->async_wait([&runner, p = port](std::error_code e) {
              if (!e) runner.decide(p);
            });
          }
          std::map<std::uint16_t, int> count;
          auto results = co_await runner.run(std::vector<port_key>(ports->begin(), ports->end()),
                                             [&](std::uint16_t port, connect_result& r, bool last) {
                                               std::cout << "attempt port=" << port << " n=" << ++count[port] << " "
                                                         << attempt_fields(r.attempt) << " last=" << last
                                                         << " error=" << r.attempt.error() << "\n";
                                             });
          for (auto& t : timers) t->cancel();
          std::map<std::string, int> outcomes;
          for (const auto& p : results) {
            const auto outcome =
                p.attempts.empty() ? std::string("NONE") : v1::Attempt::Outcome_Name(p.attempts.back().outcome());
            ++outcomes[outcome];
            std::cout << "result port=" << p.port << " outcome=" << outcome << " attempts=" << p.attempts.size()
                      << " decided=" << p.decided << "\n";
          }
          std::cout << "summary elapsed_ms=" << static_cast<long>(ms_since(t0)) << " ports=" << results.size();
          for (const char* o : {"CONNECTED", "REFUSED", "TIMED_OUT", "UNREACHABLE", "FAILED"})
            std::cout << " " << o << "=" << outcomes[o];
          std::cout << std::endl;
        } else {
          hop_settings settings;
          settings.max_hops = max_hops;
          settings.timeout = *timeout;
          settings.retries = retries;
          auto trace = co_await find_last_hop(address, ports->front(), settings);
          for (std::size_t i = 0; i < trace.by_ttl.size(); ++i) {
            const auto& a = trace.by_ttl[i];
            std::cout << "ttl " << i + 1 << " outcome=" << v1::Attempt::Outcome_Name(a.outcome())
                      << " icmp_from=" << a.icmp_from() << " icmp_type=" << a.icmp_type() << "\n";
          }
          const auto& h = trace.location;
          std::cout << "hop last_hop=" << h.last_hop() << " address=" << h.last_hop_address()
                    << " path_length=" << h.path_length() << " elapsed_ms=" << static_cast<long>(ms_since(t0))
                    << " note=" << h.note() << std::endl;
        }
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  return 0;
}
