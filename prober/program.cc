#include "prober/program.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "common/auth.h"
#include "common/cli.h"
#include "render/junit.h"
#include "common/os.h"
#include "common/protocol.h"
#include "render/report.h"
#include "prober/options.h"
#include "prober/run.h"
#include "prober/wait.h"

namespace dropspot::prober {

namespace {

int usage_error(const std::string& message) {
  std::cerr << "prober: " << message << "\n";
  return 2;
}

/// Resolves the target once; every probe and the default agent use it.
result<asio::ip::address> resolve_target(const std::string& host) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty())
    return result<asio::ip::address>::failure("--target: cannot resolve " + host + ": " +
                                              (ec ? ec.message() : "no address"));
  // Prefer IPv4 when the name has both, like most clients.
  for (const auto& entry : results)
    if (entry.endpoint().address().is_v4()) return entry.endpoint().address();
  return results.begin()->endpoint().address();
}

/// Examples under --help: the common cases.
constexpr const char* help_examples = R"(
Examples:
  The runbook's four ports; the agent runs on the server (token: `agent token`):
    DROPSPOT_TOKEN=... prober www.example.com -p 22,25,80,443
  No port to open for the agent: it runs for the session through your SSH login:
    prober www.example.com -p 22,25,80,443 --ssh admin@www.example.com
  No agent, the client's view only (like Test-NetConnection or nmap):
    prober www.example.com -p 80,443 --no-agent
  CI: gate a deploy, wait up to a minute, JUnit report for the test view:
    prober $HOST -p 22,25,80,443 --token-file token --expect 22,80,443=open \
      --expect 25=blocked --wait 60s -f junit > report.xml
Exit status: 0 every port as expected (default: open) and the agent used;
1 some port not as expected, or the target's name does not resolve; 2 bad
usage (nothing else done); 3 every port as expected but the agent could not
be used (a broken monitor, not a broken deploy). See docs/ci.md, docs/agent.md.
Environment: DROPSPOT_TOKEN (the token), NO_COLOR (no colour with --color auto).
)";

/// A line on stderr that rewrites itself; only on a terminal.
class progress_line {
 public:
  explicit progress_line(bool enabled) : enabled_(enabled) {}
  ~progress_line() { clear(); }
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

/// One target, resolved: the runs (until ready, with --wait), progress on a terminal.
v1::Report probe_target(const options& opts, const asio::ip::address& address, const std::string& token) {
  v1::Report report;
  progress_line progress(os::ansi_terminal(stderr));
  const bool show_ports = opts.wait.count() > 0 || opts.ports.size() + opts.udp_ports.size() >= progress_min_ports;
  std::uint32_t runs_made = 0;
  asio::io_context io(1);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // A named object: GCC 12 mishandles temporaries inside co_await expressions.
        run_inputs inputs{opts, address, token};
        inputs.on_port_done = [&](std::size_t done, std::size_t total) {
          std::string s = (runs_made > 0 ? "run " + std::to_string(runs_made + 1) + ": " : std::string()) +
                          std::to_string(done) + "/" + std::to_string(total) + " ports probed";
          if (show_ports) progress.show(s);
        };
        inputs.on_waiting = [&](const std::string& line) { progress.show(line); };
        report = co_await run_until_ready(std::move(inputs), opts.wait,
                                          [&](const v1::Report& last, std::uint32_t runs, millis elapsed) {
                                            runs_made = runs;
                                            if (opts.wait.count() > 0)
                                              progress.show(wait_progress_line(last, runs, elapsed, opts.wait));
                                          });
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  progress.clear();

  return report;
}

}  // namespace

int run_prober(int argc, char** argv) {
  CLI::App app{"dropspot prober: finds where a TCP connection to your server dies", "prober"};
  app.set_version_flag("--version", "dropspot-prober " + std::string(software_version));
  raw_options raw;
  setup_options(app, raw);
  app.footer(help_examples);
  if (auto stop = parse_command_line(app, argc, argv, "prober")) return *stop;
  auto validated = validate_options(raw);
  if (!validated) return usage_error(validated.error());
  const options& opts = *validated;

  std::string token;
  if (!opts.no_agent) {
    auto loaded = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN"));
    if (!loaded) return usage_error(loaded.error());
    if (!loaded->warning.empty()) std::cerr << "prober: warning: " << loaded->warning << "\n";
    token = loaded->token;
  }

  v1::Report report;
  if (auto address = resolve_target(opts.target); !address) {
    // A failed check, not bad usage: the name may be right and DNS wrong.
    std::cerr << "prober: " << address.error() << "\n";
    report = untested_report(opts.target, address.error());
  } else {
    report = probe_target(opts, *address, token);
  }
  report.set_ok(exit_code(report) == 0);

  switch (opts.format) {
    case output_format::json:
      write_json(std::cout, report);
      std::cout << "\n";
      break;
    case output_format::junit: std::cout << render_junit(report); break;
    default: {
      auto style = text_style_for_stdout(opts.color);
      style.detail = opts.detail;
      std::cout << render_text(report, style);
    }
  }
  return exit_code(report);
}

}  // namespace dropspot::prober
