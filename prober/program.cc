#include "prober/program.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <iostream>

#include "common/atomic_file.h"
#include "common/auth.h"
#include "common/cli.h"
#include "render/junit.h"
#include "render/prometheus.h"
#include "prober/fleet.h"
#include "prober/serve.h"
#include "common/os.h"
#include "common/protocol.h"
#include "common/text.h"
#include "render/report.h"
#include "prober/options.h"

namespace dropspot::prober {

namespace {

int usage_error(const std::string& message) {
  std::cerr << "prober: " << message << "\n";
  return 2;
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
  A fleet, one target a line (HOST [PORTS] [key=value...]), for node_exporter:
    prober --targets-file fleet.txt -p 22,443 -f prometheus -o /var/lib/prometheus/node-exporter/dropspot.prom
  An exporter for Prometheus, blackbox_exporter's /probe with the verdicts:
    prober serve --listen 127.0.0.1:9115 --allow-target 203.0.113.0/24
Exit status: 0 every port as expected (default: open) and the agent used;
1 some port not as expected, or the target's name does not resolve; 2 bad
usage (nothing else done); 3 every port as expected but the agent could not
be used (a broken monitor, not a broken deploy). See docs/ci.md, docs/agent.md.
Environment: DROPSPOT_TOKEN (the token), NO_COLOR (no colour with --color auto).
)";

/// Reads --targets-file (at most 1 MiB); the error is one line.
result<std::vector<target_line>> read_targets_file(const std::string& path) {
  using R = result<std::vector<target_line>>;
  std::ifstream in(path, std::ios::binary);
  if (!in) return R::failure("--targets-file: cannot read " + quote(path) + ": " + std::strerror(errno));
  constexpr std::size_t max_size = 1 << 20;
  std::string text(max_size + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return R::failure("--targets-file: cannot read " + quote(path));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_size) return R::failure("--targets-file: " + quote(path) + " is larger than 1 MiB");
  auto lines = parse_targets_file(text);
  if (!lines) return R::failure("--targets-file " + quote(path) + " " + lines.error());
  return lines;
}

/// The report in its format, for stdout or --output.
void write_report(std::ostream& out, const std::vector<v1::Report>& reports, const options& opts) {
  switch (opts.format) {
    case output_format::json:
      if (reports.size() == 1)
        write_json(out, reports.front());
      else
        write_json(out, reports);
      out << "\n";
      break;
    case output_format::junit: out << render_junit(reports); break;
    case output_format::prometheus: out << render_prometheus(reports); break;
    default: {
      auto style = opts.output.empty() ? text_style_for_stdout(opts.color) : text_style{};
      if (!opts.output.empty() && opts.color == color_mode::always) style.color = true;
      style.detail = opts.detail;
      for (std::size_t i = 0; i < reports.size(); ++i) out << (i > 0 ? "\n" : "") << render_text(reports[i], style);
      if (reports.size() > 1) out << "\n" << render_fleet_summary(reports, style);
    }
  }
}

}  // namespace

int run_prober(int argc, char** argv) {
  os::ignore_broken_pipes();
  if (argc > 1 && std::string_view(argv[1]) == "serve") {
#ifdef DROPSPOT_SERVE
    return run_serve(argc - 1, argv + 1);
#else
    std::cerr << "prober: serve is not in this build (the Linux prober has it)\n";
    return 2;
#endif
  }
  CLI::App app{"dropspot prober: finds where a TCP connection to your server dies", "prober"};
  app.set_version_flag("--version", "dropspot-prober " + std::string(software_version));
  raw_options raw;
  setup_options(app, raw);
  app.footer(help_examples);
  if (auto stop = parse_command_line(app, argc, argv, "prober")) return *stop;
  std::vector<target_line> file_lines;
  if (!raw.targets_file.empty()) {
    auto read = read_targets_file(raw.targets_file);
    if (!read) return usage_error(read.error());
    file_lines = std::move(read).value();
  }
  auto validated = validate_fleet(raw, file_lines);
  if (!validated) return usage_error(validated.error());
  const fleet_options& fleet = *validated;
  const options& opts = fleet.targets.front();
  // Where the report goes is checked before the probing starts (a fleet takes minutes).
  std::unique_ptr<atomic_file> output;
  if (!opts.output.empty()) {
    auto opened = atomic_file::create(opts.output);
    if (!opened) return usage_error("--output: " + opened.error());
    output = std::move(opened).value();
  }

  std::string token;
  if (!opts.no_agent) {
    auto loaded = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN"));
    if (!loaded) return usage_error(loaded.error());
    if (!loaded->warning.empty()) std::cerr << "prober: warning: " << loaded->warning << "\n";
    token = loaded->token;
  }

  std::vector<v1::Report> reports;
  if (fleet.targets.size() == 1) {
    reports = diagnose_target(opts, token, true);
  } else {
    const bool terminal = os::ansi_terminal(stderr);
    reports = diagnose_fleet(fleet, token, [&](std::size_t done, std::size_t total) {
      if (terminal)
        std::cerr << "\r\x1b[K" << done << "/" << total << " targets diagnosed" << (done == total ? "\r\x1b[K" : "")
                  << std::flush;
    });
  }
  if (output) {
    write_report(output->stream(), reports, opts);
    if (auto committed = output->commit(); !committed) {
      std::cerr << "prober: --output: " << committed.error() << "\n";
      return 2;
    }
  } else {
    write_report(std::cout, reports, opts);
  }
  const int code = fleet_exit_code(reports);
  // The process ends now: freeing a sweep's 3000 port reports one string at a
  // time took half as long as writing them; the kernel takes the memory back
  // at once. (Held by a static, so leak checkers still see it reachable.)
  static const auto* const kept_to_exit = new std::vector<v1::Report>(std::move(reports));
  (void)kept_to_exit;
  return code;
}

}  // namespace dropspot::prober
