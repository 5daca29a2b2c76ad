#include "prober/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>

#include <asio/ip/address.hpp>

#include "common/net.h"
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

/// The targets of the command line: the argument, then each --target (the
/// argument repeated as --target counts once).
std::vector<std::string> command_line_hosts(const raw_options& raw) {
  std::vector<std::string> hosts;
  if (!raw.positional_target.empty()) hosts.push_back(raw.positional_target);
  for (const auto& t : raw.targets)
    if (std::find(hosts.begin(), hosts.end(), t) == hosts.end()) hosts.push_back(t);
  return hosts;
}

constexpr std::array target_line_keys = {"agent", "ssh", "expect", "probe", "timeout", "app-timeout"};

}  // namespace

void apply_target_line(raw_options& raw, const target_line& line) {
  if (!line.ports.empty()) raw.ports = line.ports;
  std::vector<std::string> seen;
  const auto first = [&](const std::string& key) {
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) return false;
    seen.push_back(key);
    return true;
  };
  for (const auto& [key, value] : line.settings) {
    if (key == "agent") {
      if (first(key)) raw.agents.clear();
      raw.agents.push_back(value);
    } else if (key == "expect") {
      if (first(key)) raw.expects.clear();
      raw.expects.push_back(value);
    } else if (key == "probe") {
      if (first(key)) raw.probes.clear();
      raw.probes.push_back(value);
    } else if (key == "ssh") {
      raw.ssh = value;
    } else if (key == "timeout") {
      raw.timeout = value;
    } else if (key == "app-timeout") {
      raw.app_timeout = value;
    }
  }
}

result<std::vector<target_line>> parse_targets_file(std::string_view text) {
  using R = result<std::vector<target_line>>;
  std::vector<target_line> lines;
  std::size_t number = 0;
  for (auto raw_line : split(text, '\n')) {
    ++number;
    const std::string where = "line " + std::to_string(number) + ": ";
    if (auto hash = raw_line.find('#'); hash != std::string_view::npos) raw_line = raw_line.substr(0, hash);
    std::vector<std::string_view> words;
    std::size_t at = 0;
    while (at < raw_line.size()) {
      const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
      while (at < raw_line.size() && blank(raw_line[at])) ++at;
      const auto from = at;
      while (at < raw_line.size() && !blank(raw_line[at])) ++at;
      if (at > from) words.push_back(raw_line.substr(from, at - from));
    }
    if (words.empty()) continue;
    target_line t;
    t.line = number;
    t.host = std::string(words[0]);
    if (t.host.find('=') != std::string::npos)
      return R::failure(where + quote(t.host) + ": the line starts with the host, e.g. vps.example.com 22,80");
    std::size_t next = 1;
    if (words.size() > 1 && words[1].find('=') == std::string_view::npos) t.ports = std::string(words[next++]);
    for (; next < words.size(); ++next) {
      const auto word = words[next];
      const auto eq = word.find('=');
      if (eq == std::string_view::npos)
        return R::failure(where + quote(word) + ": after the host and its ports, only key=value (e.g. ssh=admin@" +
                          std::string(escape(t.host)) + ")");
      const std::string key = lower(word.substr(0, eq));
      if (std::find(target_line_keys.begin(), target_line_keys.end(), key) == target_line_keys.end())
        return R::failure(where + quote(word.substr(0, eq)) +
                          " is not a setting here (agent, ssh, expect, probe, timeout, app-timeout)");
      if (eq + 1 == word.size()) return R::failure(where + quote(word) + ": no value");
      t.settings.emplace_back(key, std::string(word.substr(eq + 1)));
    }
    lines.push_back(std::move(t));
    if (lines.size() > max_targets) return R::failure(where + "more than " + std::to_string(max_targets) + " targets");
  }
  return lines;
}

result<fleet_options> validate_fleet(const raw_options& raw, const std::vector<target_line>& file_lines) {
  using R = result<fleet_options>;
  std::vector<std::pair<std::string, const target_line*>> entries;
  for (const auto& host : command_line_hosts(raw)) entries.emplace_back(host, nullptr);
  for (const auto& line : file_lines) entries.emplace_back(line.host, &line);
  if (raw.parallel < 0 || static_cast<std::size_t>(raw.parallel) > max_parallel)
    return R::failure("--parallel: must be 1.." + std::to_string(max_parallel));
  fleet_options fleet;
  if (entries.size() <= 1 && raw.targets_file.empty()) {  // one target: as ever
    auto one = validate_options(raw);
    if (!one) return R::failure(one.error());
    fleet.targets.push_back(std::move(one).value());
    return fleet;
  }
  if (entries.empty()) return R::failure("--targets-file: no target in it (one a line: HOST [PORTS] [key=value...])");
  if (entries.size() > max_targets)
    return R::failure(std::to_string(entries.size()) + " targets: at most " + std::to_string(max_targets));
  if (entries.size() > 1 && !raw.ssh.empty())
    return R::failure("--ssh names one host and there are " + std::to_string(entries.size()) +
                      " targets: give each its own in --targets-file (HOST PORTS ssh=USER@HOST)");
  if (entries.size() > 1 && !raw.agents.empty())
    return R::failure("--agent names one agent and there are " + std::to_string(entries.size()) +
                      " targets: each target's own is used (port 7411), or agent=HOST[:PORT] in --targets-file");
  for (const auto& [host, line] : entries) {
    raw_options one = raw;
    one.positional_target.clear();
    one.targets = {host};
    if (line) apply_target_line(one, *line);
    auto o = validate_options(one);
    if (!o)
      return R::failure((line ? "--targets-file line " + std::to_string(line->line) + " (" + escape(host) + ")"
                              : "target " + quote(host)) +
                        ": " + o.error());
    for (const auto& other : fleet.targets)
      if (lower(other.target) == lower(o->target)) return R::failure("target " + quote(o->target) + " given twice");
    fleet.targets.push_back(std::move(o).value());
  }
  fleet.parallel =
      raw.parallel > 0 ? static_cast<std::size_t>(raw.parallel) : std::min(default_parallel, fleet.targets.size());
  return fleet;
}

void setup_options(CLI::App& app, raw_options& raw) {
  // Nothing is ->required(): CLI11 checks those before it names unknown
  // arguments, and an unknown argument is the more useful message.
  app.add_option("host", raw.positional_target, "Host to test (name or address), or --target HOST");
  app.add_option("--target", raw.targets, "Host to test (name or address); repeat for several")
      ->allow_extra_args(false);
  app.add_option("--targets-file", raw.targets_file,
                 "File of targets, one a line: HOST [PORTS] [agent=|ssh=|expect=|probe=|timeout=|app-timeout=...]");
  app.add_option("--parallel", raw.parallel,
                 "Targets probed at once (default " + std::to_string(default_parallel) + ", at most " +
                     std::to_string(max_parallel) + ")");
  app.add_flag("-4", raw.ipv4_only, "Test the target's IPv4 address only");
  app.add_flag("-6", raw.ipv6_only, "Test the target's IPv6 address only");
  app.add_flag("--all-addresses", raw.all_addresses,
               "Test every address of the target's name (default: one IPv4 and one IPv6 address, if it has them)");
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
  app.add_option("-f,--format", raw.format, "Output: text, json, junit or prometheus")->capture_default_str();
  app.add_option("-o,--output", raw.output, "Write the report to FILE (atomically: a new file renamed over it)");
  auto* verbose = app.add_flag("-v,--verbose", raw.verbose, "Text: the evidence of every port, OPEN ones too");
  app.add_flag("-q,--quiet", raw.quiet, "Text: only the ports not as expected, and the closing line")
      ->excludes(verbose);
  app.add_option("--color", raw.color, "Text in colour: auto (on a terminal, unless NO_COLOR is set), always, never")
      ->capture_default_str();
}

result<options> validate_options(const raw_options& raw) {
  using R = result<options>;
  options o;
  const auto hosts = command_line_hosts(raw);
  if (hosts.empty()) return R::failure("no target: prober HOST -p PORTS (or --target HOST)");
  if (hosts.size() > 1)
    return R::failure("two targets: " + quote(hosts[0]) + " and " + quote(hosts[1]) + " (one at a time here)");
  auto target = validate_host(trim(hosts[0]));
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
  if (raw.ipv4_only && raw.ipv6_only) return R::failure("-4 and -6 exclude each other (the default tests both)");
  o.addresses.v4 = !raw.ipv6_only;
  o.addresses.v6 = !raw.ipv4_only;
  o.addresses.all = raw.all_addresses;
  if (auto literal = parse_ip(o.target)) {
    const bool v6 = literal->is_v6() && !literal->to_v6().is_v4_mapped();
    if (v6 ? !o.addresses.v6 : !o.addresses.v4)
      return R::failure(std::string(v6 ? "-4" : "-6") + ": the target " + o.target + " is an " +
                        (v6 ? "IPv6" : "IPv4") + " address");
  }
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
  } else if (format == "prometheus") {
    o.format = output_format::prometheus;
  } else {
    return R::failure("--format: " + quote(raw.format) + " is not text, json, junit or prometheus");
  }
  if (!raw.output.empty() && trim(raw.output).empty()) return R::failure("--output: empty file name");
  o.output = raw.output;
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
