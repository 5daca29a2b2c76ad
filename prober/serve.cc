#include "prober/serve.h"

#include <CivetServer.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include "common/auth.h"
#include "common/cli.h"
#include "common/endpoint.h"
#include "common/http.h"
#include "common/net.h"
#include "common/protocol.h"
#include "common/text.h"
#include "prober/exporter.h"
#include "prober/fleet.h"
#include "render/prometheus.h"

namespace dropspot::prober {

namespace {

struct serve_settings {
  raw_options defaults;  ///< probe options every request starts from
  std::vector<allow_rule> allowed;
  std::string token;
  std::size_t max_probes = 4;
  millis max_duration{30000};
};

/// The exporter's own metrics (GET /metrics).
struct exporter_metrics {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& probes =
      prometheus::BuildCounter()
          .Name("dropspot_exporter_probes_total")
          .Help("Diagnoses run for /probe, by probe_success (result: success, failure)")
          .Register(registry);
  prometheus::Family<prometheus::Counter>& rejected =
      prometheus::BuildCounter()
          .Name("dropspot_exporter_rejected_total")
          .Help(
              "Requests answered without a diagnosis, by HTTP status (400 bad parameters, 403 target not "
              "allowed, 404 no such path, 503 busy)")
          .Register(registry);
  prometheus::Gauge& in_flight = prometheus::BuildGauge()
                                     .Name("dropspot_exporter_probes_in_flight")
                                     .Help("Diagnoses running now")
                                     .Register(registry)
                                     .Add({});
  prometheus::Counter& seconds = prometheus::BuildCounter()
                                     .Name("dropspot_exporter_probe_seconds_total")
                                     .Help("Seconds spent in diagnoses")
                                     .Register(registry)
                                     .Add({});
};

/// The scrape's own deadline (Prometheus sends it), less a margin for the
/// answer to travel; at most --max-duration.
millis run_limit(mg_connection* conn, millis max_duration) {
  const char* header = mg_get_header(conn, "X-Prometheus-Scrape-Timeout-Seconds");
  if (!header) return max_duration;
  char* end = nullptr;
  const double seconds = std::strtod(header, &end);
  if (end == header || !(seconds > 0)) return max_duration;
  const auto scrape = millis(static_cast<long long>(seconds * 1000) - 500);
  return std::clamp(scrape, millis(500), max_duration);
}

std::optional<asio::ip::address> resolve(const std::string& host) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) return std::nullopt;
  return preferred_address(results);
}

class probe_handler : public CivetHandler {
 public:
  probe_handler(const serve_settings& settings, exporter_metrics& metrics) : settings_(settings), metrics_(metrics) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const auto started = std::chrono::steady_clock::now();
    const auto* info = mg_get_request_info(conn);
    const std::string peer = info->remote_addr;
    const auto reject = [&](int status, const std::string& why) {
      metrics_.rejected.Add({{"code", std::to_string(status)}}).Increment();
      std::cerr << "prober serve: " << peer << ": /probe: " << status << " " << why << "\n";
      http::send(conn, status, why + "\n", http::text_type);
      return true;
    };
    auto params = parse_query(info->query_string ? info->query_string : "");
    if (!params) return reject(400, params.error());
    auto line = probe_request(*params);
    if (!line) return reject(400, line.error());
    raw_options raw = settings_.defaults;
    raw.targets = {line->host};
    apply_target_line(raw, *line);
    auto opts = validate_options(raw);
    if (!opts) return reject(400, opts.error());
    const auto address = resolve(opts->target);
    if (!target_allowed(settings_.allowed, opts->target, address))
      return reject(403, "target " + quote(opts->target) +
                             (address ? " (" + address->to_string() + ")" : std::string(" (does not resolve)")) +
                             " is not allowed here (--allow-target)");
    for (const auto& agent : opts->agents)
      if (agent.host != opts->target && !target_allowed(settings_.allowed, agent.host, resolve(agent.host)))
        return reject(403, "agent " + quote(agent.host) + " is not allowed here (--allow-target)");
    if (!address) return reject(400, "--target: cannot resolve " + escape(opts->target));
    if (in_flight_.fetch_add(1) >= settings_.max_probes) {
      in_flight_.fetch_sub(1);
      return reject(503, "busy: " + std::to_string(settings_.max_probes) + " diagnoses in flight (--max-probes)");
    }
    metrics_.in_flight.Increment();
    auto report = diagnose_address(*opts, *address, settings_.token, run_limit(conn, settings_.max_duration));
    metrics_.in_flight.Decrement();
    in_flight_.fetch_sub(1);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics_.probes.Add({{"result", report.ok() ? "success" : "failure"}}).Increment();
    metrics_.seconds.Increment(seconds);
    std::cerr << "prober serve: " << peer << ": /probe " << escape(opts->target) << ": "
              << (report.ok() ? "success" : "failure") << " in " << seconds << " s\n";
    http::send(conn, 200, render_prometheus({report}, probe_metrics{report.ok(), seconds}), http::exposition_type);
    return true;
  }

 private:
  const serve_settings& settings_;
  exporter_metrics& metrics_;
  std::atomic<std::size_t> in_flight_{0};
};

int usage_error(const std::string& message) {
  std::cerr << "prober serve: " << message << "\n";
  return 2;
}

}  // namespace

int run_serve(int argc, char** argv) {
  CLI::App app{"dropspot prober serve: an exporter for Prometheus (blackbox_exporter's /probe, with verdicts)",
               "prober serve"};
  std::string listen;
  std::vector<std::string> allow;
  std::string token_file;
  bool no_agent = false;
  std::string timeout = "2s", app_timeout = "10s", max_duration = "30s";
  int max_probes = 4;
  app.add_option("--listen", listen, "ADDR:PORT to serve on, e.g. 127.0.0.1:9115 (required)");
  app.add_option("--allow-target", allow,
                 "HOST, ADDRESS or PREFIX a /probe may name (repeat); anything else gets 403 (required)");
  app.add_option("--token-file", token_file, "File holding the shared token (also env DROPSPOT_TOKEN)");
  app.add_flag("--no-agent", no_agent, "Client-only probes: no agent session");
  app.add_option("-t,--timeout", timeout, "Per-attempt timeout")->capture_default_str();
  app.add_option("--app-timeout", app_timeout, "How long an application probe waits for the service")
      ->capture_default_str();
  app.add_option("--max-probes", max_probes, "Diagnoses at once; more get 503")->capture_default_str();
  app.add_option("--max-duration", max_duration,
                 "The longest a diagnosis may take (less when the scrape's timeout is shorter)")
      ->capture_default_str();
  if (auto stop = parse_command_line(app, argc, argv, "prober serve")) return *stop;

  serve_settings settings;
  if (listen.empty()) return usage_error("--listen is required, e.g. --listen 127.0.0.1:9115");
  auto endpoint = parse_endpoint(listen);
  if (!endpoint) return usage_error("--listen: " + endpoint.error());
  if (endpoint->port == 0) return usage_error("--listen: give a port, e.g. 127.0.0.1:9115");
  if (!is_ip_literal(endpoint->host)) return usage_error("--listen: an address, not a name: " + quote(endpoint->host));
  if (allow.empty())
    return usage_error(
        "--allow-target is required: the targets a /probe may name (e.g. --allow-target 203.0.113.0/24)");
  for (const auto& a : allow) {
    auto rule = parse_allow_rule(a);
    if (!rule) return usage_error("--allow-target: " + rule.error());
    settings.allowed.push_back(*rule);
  }
  if (max_probes < 1 || max_probes > 64) return usage_error("--max-probes: must be 1..64");
  settings.max_probes = static_cast<std::size_t>(max_probes);
  auto limit = parse_duration(max_duration);
  if (!limit) return usage_error("--max-duration: " + limit.error());
  if (limit->count() < 1000 || limit->count() > 600'000) return usage_error("--max-duration: outside 1s..10m");
  settings.max_duration = *limit;
  settings.defaults.timeout = timeout;
  settings.defaults.app_timeout = app_timeout;
  settings.defaults.no_agent = no_agent;
  settings.defaults.token_file = token_file;
  {  // The defaults checked once, on a target that is surely valid.
    raw_options check = settings.defaults;
    check.targets = {"localhost"};
    check.ports = "80";
    if (auto o = validate_options(check); !o) return usage_error(o.error());
  }
  if (!no_agent) {
    auto loaded = load_token(token_file, std::getenv("DROPSPOT_TOKEN"));
    if (!loaded) return usage_error(loaded.error());
    if (!loaded->warning.empty()) std::cerr << "prober serve: warning: " << loaded->warning << "\n";
    settings.token = loaded->token;
  }

  exporter_metrics metrics;
  probe_handler probe(settings, metrics);
  // Threads: the diagnoses, and 32 more for /metrics, the requests turned
  // away and slow clients (each held at most 5 s while it sends nothing).
  auto server = http::start_server(*endpoint, static_cast<unsigned>(settings.max_probes) + 32);
  if (!server) return usage_error("--listen: " + server.error());
  (*server)->addHandler("/probe", probe);
  http::serve_metrics(**server, metrics.registry, "GET /probe?target=HOST&ports=LIST or GET /metrics", [&] {
    metrics.rejected.Add({{"code", "404"}}).Increment();
  });
  std::cerr << "prober serve: listening on " << http::listening_port(*endpoint) << " (dropspot-prober "
            << software_version << ")\n";

  asio::io_context io(1);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) { io.stop(); });
  io.run();
  std::cerr << "prober serve: stopping (diagnoses in flight finish first)\n";
  return 0;
}

}  // namespace dropspot::prober
