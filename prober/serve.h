#pragma once
// `prober serve`: a multi-target exporter in blackbox_exporter's pattern.
// GET /probe?target=H&ports=LIST runs one diagnosis and answers with its
// Prometheus exposition plus probe_success and probe_duration_seconds;
// GET /metrics gives the exporter's own. The HTTP side is civetweb's
// (Debian's libcivetweb-dev): a pool of threads, each request with its own
// socket timeouts, so a slow client holds one thread, never the others.
namespace dropspot::prober {

/// `prober serve ARGS...` (argv[0] is "serve"): runs until SIGINT or
/// SIGTERM; the exit code (2: bad usage, or the address cannot be bound).
int run_serve(int argc, char** argv);

}  // namespace dropspot::prober
