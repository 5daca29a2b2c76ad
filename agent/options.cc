#include "agent/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "common/duration.h"
#include "common/ports.h"
#include "common/protocol.h"
#include "common/text.h"

namespace dropspot::agent {

void add_host_options(CLI::App& app, std::string& host_root, std::vector<std::string>& saved_rules) {
  app.add_option("--host-root", host_root,
                 "Host inspection reads /etc and /run under DIR (os-release, daemon and firewall configuration)");
  app.add_option("--saved-rules", saved_rules,
                 "The firewall rules that survive a reboot (nft script or iptables-save file; repeat), instead "
                 "of /etc/nftables.conf, /etc/iptables/rules.v4 ...");
}

void setup_options(CLI::App& app, raw_options& raw) {
  app.add_option("--listen", raw.listen, "ADDR:PORT to listen on (default [::]:7411); repeat for a fallback port");
  app.add_option("--metrics", raw.metrics,
                 "ADDR:PORT to serve Prometheus metrics on (GET /metrics; off by default), e.g. 127.0.0.1:9412");
  app.add_option("--token-file", raw.token_file, "File holding the shared token (also env DROPSPOT_TOKEN)");
  app.add_option("--interface", raw.interfaces, "Capture on this interface (default: every interface that is up)");
  app.add_option("--allow-ports", raw.allow_ports, "Ports a prober may ask about (default: all)");
  app.add_option("--pcap-dir", raw.pcap_dir, "Keep each session's capture as a .pcap in DIR");
  app.add_option("--state-dir", raw.state_dir,
                 "Keep the TLS key here (default: $STATE_DIRECTORY, else in memory only)");
  add_host_options(app, raw.host_root, raw.saved_rules);
  app.add_flag("--stdio", raw.stdio, "One session on stdin/stdout (run by the prober over SSH)");
  app.add_option("--peer", raw.peer, "With --stdio: the prober's address (default: from SSH_CONNECTION)");
  app.add_option("--max-sessions", raw.max_sessions, "Concurrent sessions at most")->capture_default_str();
  app.add_option("--max-session", raw.max_session, "Longest session, e.g. 5m")->capture_default_str();
  app.add_option("--max-per-source", raw.max_per_source,
                 "Open control connections per source address (IPv6: per /64) at most")
      ->capture_default_str();
  app.add_option("--auth-timeout", raw.auth_timeout, "Deadline for the TLS handshake and the token proof")
      ->capture_default_str();
  app.add_option("--max-ports", raw.max_ports, "Ports one session may ask about at most")->capture_default_str();
  app.add_option("--user", raw.user,
                 "Once the ports are bound, run as this user, keeping only CAP_NET_RAW and CAP_NET_ADMIN");
}

result<options> validate_options(const raw_options& raw) {
  using R = result<options>;
  options o;
  for (const auto& text : raw.listen) {
    auto ep = parse_endpoint(text);
    if (!ep) return R::failure("--listen: " + ep.error());
    if (!is_ip_literal(ep->host)) return R::failure("--listen: " + quote(text) + " must be an address, not a name");
    if (ep->port == 0) ep.value().port = default_agent_port;
    o.listen.push_back(*ep);
  }
  if (o.listen.empty()) o.listen.push_back({"::", default_agent_port});
  if (!raw.metrics.empty()) {
    auto ep = parse_endpoint(raw.metrics);
    if (!ep) return R::failure("--metrics: " + ep.error());
    if (!is_ip_literal(ep->host))
      return R::failure("--metrics: " + quote(raw.metrics) + " must be an address, not a name");
    if (ep->port == 0) return R::failure("--metrics: give a port, e.g. 127.0.0.1:9412");
    o.metrics = *ep;
  }
  o.token_file = raw.token_file;
  for (const auto& name : raw.interfaces) {
    if (name.empty() || name.size() > 15 || name.find_first_of("/ \t\n") != std::string::npos)
      return R::failure("--interface: " + quote(name) + " is not an interface name");
    o.interfaces.push_back(name);
  }
  if (!raw.allow_ports.empty()) {
    // Port numbers, for TCP and UDP alike ("53/udp" is taken as 53).
    auto ports = parse_port_specs(raw.allow_ports);
    if (!ports) return R::failure("--allow-ports: " + ports.error());
    o.allow_ports = ports->tcp;
    o.allow_ports.insert(o.allow_ports.end(), ports->udp.begin(), ports->udp.end());
    std::sort(o.allow_ports.begin(), o.allow_ports.end());
    o.allow_ports.erase(std::unique(o.allow_ports.begin(), o.allow_ports.end()), o.allow_ports.end());
  }
  o.pcap_dir = raw.pcap_dir;
  o.state_dir = raw.state_dir;
  if (!raw.host_root.empty()) o.host_root = raw.host_root;
  o.saved_rules = raw.saved_rules;
  o.stdio = raw.stdio;
  if (!raw.peer.empty() && !raw.stdio) return R::failure("--peer goes with --stdio");
  o.peer = raw.peer;  // checked by run_stdio (an empty value falls back to SSH_CONNECTION)
  if (raw.max_sessions < 1 || raw.max_sessions > 1024) return R::failure("--max-sessions: must be 1..1024");
  o.max_sessions = raw.max_sessions;
  auto max_session = parse_duration(raw.max_session);
  if (!max_session) return R::failure("--max-session: " + max_session.error());
  if (max_session->count() < 1000) return R::failure("--max-session: at least 1s");
  o.max_session = *max_session;
  if (raw.max_per_source < 1 || raw.max_per_source > 1024) return R::failure("--max-per-source: must be 1..1024");
  o.max_per_source = std::min(raw.max_per_source, raw.max_sessions);
  auto auth_timeout = parse_duration(raw.auth_timeout);
  if (!auth_timeout) return R::failure("--auth-timeout: " + auth_timeout.error());
  if (auth_timeout->count() < 100 || auth_timeout->count() > 120'000)
    return R::failure("--auth-timeout: must be 100ms..2m");
  o.auth_timeout = *auth_timeout;
  if (raw.max_ports < 1 || raw.max_ports > 65535) return R::failure("--max-ports: must be 1..65535");
  o.max_ports = raw.max_ports;
  if (!raw.user.empty() && raw.stdio) return R::failure("--user does not go with --stdio");
  o.user = raw.user;  // looked up by drop_privileges (a name or a numeric uid)
  return o;
}

std::optional<std::string> refuse_stdio_options(const std::vector<std::string>& given, const raw_options& raw) {
  static constexpr std::string_view accepted[] = {"--stdio", "--peer", "--allow-ports", "--max-ports", "--max-session"};
  for (const auto& name : given) {
    if (std::find(std::begin(accepted), std::end(accepted), name) != std::end(accepted)) continue;
    return name +
           " does not go with --stdio: a sudo rule grants `agent --stdio`, so it accepts only --peer, "
           "--allow-ports, --max-ports and --max-session (docs/security.md)";
  }
  const raw_options defaults;
  if (raw.max_ports > defaults.max_ports)
    return "--max-ports with --stdio can only lower the limit: at most " + std::to_string(defaults.max_ports);
  auto asked = parse_duration(raw.max_session);
  auto most = parse_duration(defaults.max_session);
  if (asked && most && *asked > *most)
    return "--max-session with --stdio can only shorten the session: at most " + defaults.max_session;
  return std::nullopt;
}

}  // namespace dropspot::agent
