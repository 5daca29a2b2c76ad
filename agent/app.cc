#include "agent/app.h"

#include "agent/metrics.h"
#include "common/http.h"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cstdio>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdlib>
#include <iostream>
#include <optional>

#include "agent/capture.h"
#include "agent/distro.h"
#include "agent/listeners.h"
#include "agent/host_check.h"
#include "agent/host_files.h"
#include "agent/host_services.h"
#include "agent/log.h"
#include "agent/options.h"
#include "agent/privileges.h"
#include "agent/server.h"
#include "agent/stdio_session.h"
#include "common/auth.h"
#include "common/cli.h"
#include "common/protocol.h"

namespace dropspot::agent {

namespace {

int usage_error(const std::string& message) {
  std::cerr << "agent: " << message << "\n";
  return 2;
}

int run_token() {
  const std::string token = generate_token();
  std::cout << token << "\n";
  const std::string prober_command = "DROPSPOT_TOKEN=" + token + " prober --target THIS_HOST --ports 22,25,80,443";
  if (::isatty(STDOUT_FILENO)) {
    std::cerr << "\nSave it on the agent host (chmod 600) and start the agent with it:\n"
              << "  echo " << token << " > /etc/dropspot/token && chmod 600 /etc/dropspot/token\n"
              << "  agent --token-file /etc/dropspot/token   (or: systemctl enable --now dropspot-agent)\n"
              << "Then, on your PC:\n"
              << "  " << prober_command << "\n";
  } else if (::isatty(STDERR_FILENO)) {
    // stdout is a file or a pipe and holds the token only; the pairing command goes to the person.
    std::cerr << "On your PC: " << prober_command << "\n";
  }
  return 0;
}

int run_server(const options& opts) {
  auto token = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN"));
  if (!token) return usage_error(token.error());
  if (token->token.empty())
    return usage_error("no token: pass --token-file PATH or set DROPSPOT_TOKEN (make one with `agent token`)");
  if (!token->warning.empty()) log_line("warning: " + token->warning);

  session_config config;
  config.token = token->token;
  config.allow_ports = opts.allow_ports;
  config.max_session = opts.max_session;
  config.auth_deadline = opts.auth_timeout;
  config.max_ports = opts.max_ports;
  config.hostname = this_host_name();
  config.os_name = read_os_release(opts.host_root).pretty_name;

  std::string state_dir = opts.state_dir;
  if (state_dir.empty())
    if (const char* s = std::getenv("STATE_DIRECTORY")) state_dir = s;
  options effective = opts;
  effective.state_dir = state_dir;

  std::optional<user_identity> user;
  if (!opts.user.empty()) {
    auto found = resolve_user(opts.user);
    if (!found) return usage_error(found.error());
    user = *found;
  }

  asio::io_context io(1);
  try {
    session_services services = host_services(io.get_executor(), opts);
    server srv(io, effective, config, services);
    // --metrics: bound before the privileges go, like the control ports.
    std::shared_ptr<CivetServer> metrics_server;
    if (opts.metrics) {
      auto started = http::start_server(*opts.metrics, 2);
      if (!started) {
        std::cerr << "agent: --metrics: " << started.error() << "\n";
        return 1;
      }
      metrics_server = *started;
      http::serve_metrics(*metrics_server, metrics::registry());
      log_line("metrics on http://" + http::listening_port(*opts.metrics) + "/metrics");
    }
    if (user) {
      // Ports bound, key loaded, token read: from here on, an ordinary user.
      auto dropped = drop_privileges(*user);
      if (!dropped) {
        std::cerr << "agent: --user: " << dropped.error() << "\n";
        return 1;
      }
      log_line(*dropped);
    }
    srv.start();
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
      log_line("stopping");
      srv.stop();
      io.stop();
    });
    io.run();
  } catch (const std::system_error& e) {
    std::cerr << "agent: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "agent: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_agent(int argc, char** argv) {
#ifdef __GLIBC__
  // Every session reads the host (nft, iptables, systemd) on a thread of its
  // own, and glibc gives each new thread an arena of its own (up to 8 per
  // CPU) that keeps its freed memory: two arenas hold the agent's resident
  // memory under 50 sessions at once to the 64 MiB target (docs/benchmarks.md).
  mallopt(M_ARENA_MAX, 2);
#endif
  CLI::App app{"dropspot agent: sees which packets of a prober's test reach this host, and why they fail", "agent"};
  app.set_version_flag("--version", "dropspot-agent " + std::string(software_version));
  raw_options raw;
  setup_options(app, raw);
  auto* token_cmd = app.add_subcommand("token", "Print a fresh random token");
  auto* check_cmd = app.add_subcommand("check", "Diagnose ports on this host alone: listeners, firewall rules");
  std::string check_ports_list, check_format = "text";
  // Not ->required(): CLI11 would say so before it names an unknown argument.
  check_cmd->add_option("--ports", check_ports_list, "Ports: 22,80,8000-8010,53/udp (required)");
  check_cmd->add_option("--format", check_format, "text or json")->capture_default_str();
  host_options check_host;
  add_host_options(*check_cmd, check_host.root, check_host.saved_rules);
  if (auto stop = parse_command_line(app, argc, argv, "agent")) return *stop;
  if (raw.stdio) {
    std::vector<std::string> given;
    for (const CLI::Option* option : app.get_options())
      if (option->count() > 0) given.push_back(option->get_name());
    for (const CLI::App* sub : app.get_subcommands()) given.push_back(sub->get_name());
    if (auto refused = refuse_stdio_options(given, raw)) return usage_error(*refused);
  }
  if (token_cmd->parsed()) return run_token();
  if (check_cmd->parsed()) {
    if (check_host.root.empty()) check_host.root = "/";
    return run_check(check_ports_list, check_format, check_host);
  }
  auto opts = validate_options(raw);
  if (!opts) return usage_error(opts.error());
  if (opts->stdio) return run_stdio(*opts);
  return run_server(*opts);
}

}  // namespace dropspot::agent
