#include "prober/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>

#include "common/ports.h"
#include "common/protocol.h"
#include "common/text.h"
#include "dropspot.pb.h"

namespace dropspot::prober {

namespace {

constexpr std::array probe_kinds = {"tcp",   "http", "https", "smtp", "smtps", "imap",
                                    "imaps", "pop3", "pop3s", "ssh",  "banner"};
constexpr std::array udp_probe_kinds = {"udp", "dns", "ntp", "wireguard", "quic"};
constexpr std::array expect_classes = {"open", "blocked", "closed"};

bool is_verdict_name(std::string_view name) {
  v1::Verdict v{};
  return v1::Verdict_Parse(std::string(name), &v) && v != v1::VERDICT_UNSPECIFIED;
}

result<expectation> parse_expectation(std::string_view text) {
  using R = result<expectation>;
  expectation e;
  std::string_view what = trim(text);
  if (auto eq = text.find('='); eq != std::string_view::npos) {
    auto ports = parse_port_specs(text.substr(0, eq));
    if (!ports) return R::failure("--expect " + quote(text) + ": " + ports.error());
    e.ports = ports->tcp;
    e.udp_ports = ports->udp;
    what = trim(text.substr(eq + 1));
  }
  const std::string low = lower(what);
  if (std::find(expect_classes.begin(), expect_classes.end(), low) != expect_classes.end()) {
    e.what = low;
  } else {
    const std::string name = upper(what);
    if (!is_verdict_name(name))
      return R::failure("--expect " + quote(text) + ": " + quote(what) +
                        " is neither open, blocked, closed nor a verdict name such as NO_LISTENER");
    e.what = name;
  }
  return e;
}

}  // namespace

bool is_probe_kind(std::string_view kind) {
  return std::find(probe_kinds.begin(), probe_kinds.end(), kind) != probe_kinds.end();
}

bool is_udp_probe_kind(std::string_view kind) {
  return std::find(udp_probe_kinds.begin(), udp_probe_kinds.end(), kind) != udp_probe_kinds.end();
}

namespace {

/// --udp-payload: hex digits (spaces and colons between bytes allowed), at
/// most max_udp_payload bytes.
result<std::string> parse_hex_payload(std::string_view text) {
  using R = result<std::string>;
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return R::failure(quote(text.substr(0, 40)) + " is not hex (e.g. 0102ff)");
    digits += c;
  }
  if (digits.size() % 2 != 0) return R::failure("odd number of hex digits in " + quote(text.substr(0, 40)));
  if (digits.size() / 2 > max_udp_payload)
    return R::failure(std::to_string(digits.size() / 2) + " bytes is more than " + std::to_string(max_udp_payload));
  std::string bytes;
  for (std::size_t i = 0; i < digits.size(); i += 2)
    bytes += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  return bytes;
}

/// --dns-name: a domain name as a query carries it (letters, digits, '-',
/// '_', dots; labels 1-63 bytes, 253 in all); a trailing dot is dropped.
result<std::string> parse_dns_name(std::string_view text) {
  using R = result<std::string>;
  std::string name(trim(text));
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) return R::failure(quote(text.substr(0, 40)) + " is not a domain name");
  for (auto label : split(name, '.')) {
    if (label.empty() || label.size() > 63)
      return R::failure(quote(name.substr(0, 40)) + " has an empty or long label");
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
        return R::failure(quote(name.substr(0, 40)) + " holds " + quote(std::string(1, c)));
  }
  return name;
}

bool contains(const std::vector<std::uint16_t>& v, std::uint16_t p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

}  // namespace

void setup_options(CLI::App& app, raw_options& raw) {
  // Nothing is ->required(): CLI11 checks those before it names unknown
  // arguments, and an unknown argument is the more useful message.
  app.add_option("host", raw.positional_target, "Host to test (name or address), or --target HOST");
  app.add_option("--target", raw.target, "Host to test (name or address)");
  app.add_option("-p,--ports", raw.ports, "Ports to test, e.g. 22,25,80,443, 8000-8010 or 53/udp (required)");
  app.add_option("--agent", raw.agents, "Agent HOST[:PORT] (default: the target, port 7411); repeat to try several");
  app.add_option("--ssh", raw.ssh, "Control channel through SSH: [USER@]HOST[:PORT]");
  app.add_option("--ssh-command", raw.ssh_command, "The ssh invocation to use (keys, jump hosts)");
  app.add_option("--remote-agent", raw.remote_agent, "What runs over SSH")->capture_default_str();
  app.add_option("--token-file", raw.token_file, "File holding the shared token (also env DROPSPOT_TOKEN)");
  app.add_flag("--no-agent", raw.no_agent, "Client-only probes, like Test-NetConnection or nmap");
  app.add_option("--probe", raw.probes,
                 "PORT=KIND, KIND: tcp|http|https|smtp|smtps|imap|imaps|pop3|pop3s|ssh|banner; "
                 "PORT/udp=KIND: udp|dns|ntp|wireguard|quic");
  app.add_option("--dns-name", raw.dns_name, "Name the dns probe asks for (default: the root's NS, no recursion)");
  app.add_option("--udp-payload", raw.udp_payload, "HEX bytes the udp probe sends (default: an empty datagram)");
  app.add_option("-t,--timeout", raw.timeout, "Per-attempt timeout, e.g. 500ms, 2s")->capture_default_str();
  app.add_option("--app-timeout", raw.app_timeout,
                 "How long an application probe waits for the service (a greeting, a response), e.g. 5s")
      ->capture_default_str();
  app.add_option("--retries", raw.retries, "Extra attempts for ports that get no answer")->capture_default_str();
  app.add_flag("--insecure", raw.insecure,
               "Do not fail HTTPS/SMTPS/STARTTLS on certificate errors (port 25 never fails on them)");
  app.add_option("--ca-file", raw.ca_file, "CA bundle to verify certificates against");
  app.add_option("--expect", raw.expects, "Expectation: open|blocked|closed|VERDICT, or PORTS=WHAT (default: open)");
  app.add_option("--wait", raw.wait, "Repeat until expectations hold or this long has passed, e.g. 30s");
  app.add_option("-f,--format", raw.format, "Output: text, json or junit")->capture_default_str();
  auto* verbose = app.add_flag("-v,--verbose", raw.verbose, "Text: the evidence of every port, OPEN ones too");
  app.add_flag("-q,--quiet", raw.quiet, "Text: only the ports not as expected, and the closing line")
      ->excludes(verbose);
  app.add_option("--color", raw.color, "Text in colour: auto (on a terminal, unless NO_COLOR is set), always, never")
      ->capture_default_str();
}

result<options> validate_options(const raw_options& raw) {
  using R = result<options>;
  options o;
  if (!raw.positional_target.empty() && !raw.target.empty() && raw.positional_target != raw.target)
    return R::failure("two targets: " + quote(raw.positional_target) + " and --target " + quote(raw.target) +
                      " (give one)");
  const std::string& host = raw.positional_target.empty() ? raw.target : raw.positional_target;
  if (raw.positional_target.empty() && raw.target.empty())
    return R::failure("no target: prober HOST -p PORTS (or --target HOST)");
  auto target = validate_host(trim(host));
  if (!target) return R::failure("--target: " + target.error());
  o.target = *target;

  if (raw.ports.empty()) return R::failure("--ports is required: e.g. -p 22,80,443");
  auto ports = parse_port_specs(raw.ports);
  if (!ports) return R::failure("--ports: " + ports.error());
  o.ports = ports->tcp;
  o.udp_ports = ports->udp;

  for (const auto& text : raw.agents) {
    auto ep = parse_endpoint(text);
    if (!ep) return R::failure("--agent: " + ep.error());
    if (ep->port == 0) ep.value().port = default_agent_port;
    o.agents.push_back(*ep);
  }

  if (!raw.ssh.empty()) {
    std::string_view ssh_host = raw.ssh;
    if (auto at = ssh_host.rfind('@'); at != std::string_view::npos) {
      if (at == 0) return R::failure("--ssh: empty user name in " + quote(raw.ssh));
      ssh_host = ssh_host.substr(at + 1);
    }
    auto ep = parse_endpoint(ssh_host);
    if (!ep) return R::failure("--ssh: " + ep.error());
    o.ssh = raw.ssh;
  }
  // Without --agent, the default agent address is tried unless --ssh was given.
  if (o.agents.empty() && o.ssh.empty()) o.agents.push_back({o.target, default_agent_port});
  o.ssh_command = raw.ssh_command;
  o.remote_agent = raw.remote_agent;
  if (trim(o.remote_agent).empty()) return R::failure("--remote-agent: empty command");
  o.token_file = raw.token_file;
  o.no_agent = raw.no_agent;
  if (o.no_agent && !raw.agents.empty()) return R::failure("--no-agent and --agent contradict each other");

  for (const auto& text : raw.probes) {
    auto eq = text.find('=');
    if (eq == std::string::npos) return R::failure("--probe " + quote(text) + ": write PORT=KIND, e.g. 8080=http");
    auto item = split_protocol_suffix(std::string_view(text).substr(0, eq));
    if (!item) return R::failure("--probe " + quote(text) + ": " + item.error());
    const bool udp = item->second;
    auto port = parse_port(item->first);
    if (!port) return R::failure("--probe " + quote(text) + ": " + port.error());
    std::string kind = lower(trim(std::string_view(text).substr(eq + 1)));
    if (udp && !is_udp_probe_kind(kind))
      return R::failure("--probe " + quote(text) + ": " +
                        (is_probe_kind(kind) ? quote(kind) + " is a TCP probe" : "unknown kind " + quote(kind)) +
                        " (for /udp: udp, dns, ntp, wireguard, quic)");
    if (!udp && !is_probe_kind(kind))
      return R::failure("--probe " + quote(text) + ": " +
                        (is_udp_probe_kind(kind)
                             ? quote(kind) + " is a UDP probe: write " + std::to_string(*port) + "/udp=" + kind
                             : "unknown kind " + quote(kind)) +
                        " (tcp, http, https, smtp, smtps, imap, imaps, pop3, pop3s, ssh, banner)");
    if (!contains(udp ? o.udp_ports : o.ports, *port))
      return R::failure("--probe " + quote(text) + ": port " + port_label(*port, udp) + " is not in --ports");
    (udp ? o.udp_probes : o.probes)[*port] = kind;
  }

  if (!raw.dns_name.empty()) {
    auto name = parse_dns_name(raw.dns_name);
    if (!name) return R::failure("--dns-name: " + name.error());
    o.dns_name = *name;
  }
  if (!raw.udp_payload.empty()) {
    auto payload = parse_hex_payload(raw.udp_payload);
    if (!payload) return R::failure("--udp-payload: " + payload.error());
    o.udp_payload = *payload;
  }

  auto timeout = parse_duration(raw.timeout);
  if (!timeout) return R::failure("--timeout: " + timeout.error());
  if (timeout->count() < 10 || timeout->count() > 120'000)
    return R::failure("--timeout: " + quote(raw.timeout) + " is outside 10ms..2m");
  o.timeout = *timeout;

  auto app_timeout = parse_duration(raw.app_timeout);
  if (!app_timeout) return R::failure("--app-timeout: " + app_timeout.error());
  if (app_timeout->count() < 100 || app_timeout->count() > 120'000)
    return R::failure("--app-timeout: " + quote(raw.app_timeout) + " is outside 100ms..2m");
  o.app_timeout = *app_timeout;

  if (raw.retries < 0 || raw.retries > 10) return R::failure("--retries: must be 0..10");
  o.retries = raw.retries;
  o.insecure = raw.insecure;
  o.ca_file = raw.ca_file;

  for (const auto& text : raw.expects) {
    auto e = parse_expectation(text);
    if (!e) return R::failure(e.error());
    for (auto p : e->ports)
      if (!contains(o.ports, p))
        return R::failure("--expect " + quote(text) + ": port " + std::to_string(p) + " is not in --ports");
    for (auto p : e->udp_ports)
      if (!contains(o.udp_ports, p))
        return R::failure("--expect " + quote(text) + ": port " + port_label(p, true) + " is not in --ports");
    o.expects.push_back(*e);
  }

  if (!raw.wait.empty()) {
    auto wait = parse_duration(raw.wait);
    if (!wait) return R::failure("--wait: " + wait.error());
    o.wait = *wait;
  }

  const std::string format = lower(raw.format);
  if (format == "text") {
    o.format = output_format::text;
  } else if (format == "json") {
    o.format = output_format::json;
  } else if (format == "junit") {
    o.format = output_format::junit;
  } else {
    return R::failure("--format: " + quote(raw.format) + " is not text, json or junit");
  }
  o.detail = raw.quiet ? verbosity::quiet : raw.verbose ? verbosity::verbose : verbosity::normal;
  const std::string color = lower(raw.color);
  if (color == "auto") {
    o.color = color_mode::automatic;
  } else if (color == "always") {
    o.color = color_mode::always;
  } else if (color == "never") {
    o.color = color_mode::never;
  } else {
    return R::failure("--color: " + quote(raw.color) + " is not auto, always or never");
  }
  return o;
}

}  // namespace dropspot::prober
