#include "agent/host_check.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/listeners.h"
#include "common/firewall_rule.h"
#include "common/ports.h"

namespace dropspot::agent {

namespace {

constexpr std::size_t max_notes = 6;

void add_notes(std::vector<std::string>& out, const std::vector<std::string>& notes, std::string_view prefix) {
  for (const auto& n : notes) {
    if (out.size() >= max_notes) return;
    auto line = std::string(prefix) + n;
    if (std::find(out.begin(), out.end(), line) == out.end()) out.push_back(std::move(line));
  }
}

void add_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

/// What the host says about a SYN to one port (one family, one source).
struct port_view {
  firewall_diagnosis firewall;
  std::optional<fwd_verdict> zone;  ///< firewalld's permanent configuration, when it runs
  std::string saved;                ///< compare_saved's warning
  std::vector<std::string> advice;
};

port_view view_port(const host_snapshot& host, const syn_packet& pkt) {
  port_view v;
  v.firewall = diagnose(host.live, pkt);
  const auto n = std::to_string(pkt.port);
  if (host.firewalld) {
    v.zone = evaluate(*host.firewalld, pkt.port, pkt.source, pkt.in_interface);
    // the live rules (firewalld's nft table) against the permanent configuration
    const bool live_blocks = !v.firewall.blocked.empty();
    if (live_blocks && v.zone->allowed)
      v.saved = "blocked now, but firewalld's permanent configuration allows port " + n + " (" + v.zone->why +
                "): someone changed the live rules (" + v.firewall.blocked.front() + ")";
    else if (!live_blocks && v.firewall.inspected && !v.zone->allowed)
      v.saved = "allowed now, not saved: gone after reboot or firewall-cmd --reload: " + v.zone->why;
  } else if (host.saved.found()) {
    auto saved = diagnose(host.saved.rules, pkt);
    if (v.firewall.inspected) v.saved = compare_saved(v.firewall, saved, pkt.port, host.saved.sources);
  }
  for (const auto& rule : v.firewall.blocked)
    if (auto fix = firewall_fix_command(rule, pkt.port); !fix.empty()) add_unique(v.advice, fix);
  if (!v.firewall.blocked.empty() || (v.zone && !v.zone->allowed)) {
    if (host.system.firewall == firewall_manager::firewalld || host.system.firewall == firewall_manager::ufw) {
      auto zone = v.zone ? v.zone->zone : std::string();
      add_unique(v.advice, open_port_command(host.system.firewall, pkt.port,
                                             v.zone ? v.zone->service_for_port : std::string(), zone));
    }
  }
  if (v.saved.rfind("allowed now", 0) == 0) add_unique(v.advice, save_rules_command(host.system));
  return v;
}

}  // namespace

host_snapshot read_host(const host_options& options) {
  host_snapshot h;
  h.live = read_firewall(options.timeout);
  const bool iptables_only = !h.live.nft && (h.live.iptables_legacy_v4 || h.live.iptables_legacy_v6);
  h.system = detect_system(options.root, iptables_only);
  if (h.system.firewalld_running) h.firewalld = read_firewalld_config(options.root);
  saved_rules_options so;
  so.root = options.root;
  so.files = options.saved_rules;
  so.timeout = options.timeout;
  if (!h.firewalld) h.saved = read_saved_rules(so);
  h.listeners = find_listeners({});
  h.configs = read_daemon_configs(options.root);
  h.installed = installed_daemons(options.root);
  return h;
}

std::map<std::uint16_t, service_findings> find_services(const host_snapshot& host,
                                                         const std::vector<std::uint16_t>& ports,
                                                         service_manager& manager) {
  std::map<std::uint16_t, service_findings> out;
  for (auto port : ports) {
    service_inputs in;
    in.port = port;
    in.listeners = host.listeners;
    in.configs = host.configs;
    in.installed = host.installed;
    in.host = host.system;
    out[port] = diagnose_services(in, manager);
  }
  return out;
}

std::vector<v1::PortFacts> port_facts(const host_snapshot& host,
                                      const std::map<std::uint16_t, service_findings>& services,
                                      const asio::ip::address& peer_in, const std::vector<std::uint16_t>& ports,
                                      const std::map<std::uint16_t, std::string>& syn_interfaces) {
  auto peer = peer_in;
  if (peer.is_v6() && peer.to_v6().is_v4_mapped()) peer = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6());
  std::vector<v1::PortFacts> out;
  for (auto port : ports) {
    syn_packet pkt;
    pkt.v6 = peer.is_v6();
    pkt.source = peer;
    pkt.port = port;
    if (auto it = syn_interfaces.find(port); it != syn_interfaces.end()) pkt.in_interface = it->second;
    auto v = view_port(host, pkt);
    v1::PortFacts f;
    f.set_port(port);
    f.set_in_interface(pkt.in_interface);
    f.set_firewall_inspected(v.firewall.inspected);
    for (const auto& rule : v.firewall.blocked) f.add_firewall(rule);
    if (!v.saved.empty()) f.add_saved_rules(v.saved);
    std::vector<std::string> notes;
    if (v.zone) notes.push_back(v.zone->why);
    add_notes(notes, v.firewall.notes, "firewall: ");
    add_notes(notes, host.saved.notes, "saved rules: ");
    auto s = services.find(port);
    if (s != services.end()) {
      for (const auto& fact : s->second.facts) f.add_services(fact);
      f.set_service_summary(s->second.summary);
      for (const auto& n : s->second.notes) notes.push_back("services: " + n);
    }
    for (auto& n : notes) f.add_notes(std::move(n));
    for (const auto& a : v.advice) f.add_advice(a);
    if (s != services.end())
      for (const auto& a : s->second.advice) f.add_advice(a);
    out.push_back(std::move(f));
  }
  return out;
}

std::function<std::vector<v1::PortFacts>(const std::map<std::uint16_t, std::string>&)> host_port_facts(
    const host_options& options, const asio::ip::address& peer, const std::vector<std::uint16_t>& ports) {
  auto host = std::make_shared<host_snapshot>(read_host(options));
  systemd_manager manager(options.root, options.timeout);
  auto services = std::make_shared<std::map<std::uint16_t, service_findings>>(find_services(*host, ports, manager));
  return [host, services, peer, ports](const std::map<std::uint16_t, std::string>& syn_interfaces) {
    return port_facts(*host, *services, peer, ports, syn_interfaces);
  };
}

std::vector<port_check> check_ports(const host_snapshot& host,
                                    const std::map<std::uint16_t, service_findings>& services,
                                    const std::vector<std::uint16_t>& ports) {
  std::vector<port_check> out;
  for (auto port : ports) {
    port_check c;
    c.port = port;
    const auto n = std::to_string(port);
    bool public_listener = false;
    for (const auto& l : host.listeners)
      if (l.port() == port) {
        c.listeners.push_back(l);
        if (!is_loopback_address(l.address())) public_listener = true;
      }
    fw_action action = fw_action::none;
    bool inspected = false;
    for (bool v6 : {false, true}) {
      syn_packet pkt;
      pkt.v6 = v6;
      pkt.port = port;
      auto v = view_port(host, pkt);
      const auto& d = v.firewall;
      inspected = inspected || d.inspected;
      const std::string family = v6 ? "IPv6: " : "IPv4: ";
      for (const auto& rule : d.blocked) c.firewall.push_back(family + rule);
      for (const auto& a : v.advice) add_unique(c.advice, a);
      if (!v.saved.empty()) add_unique(c.saved_rules, family + v.saved);
      if (v.zone && !v6) add_unique(c.notes, v.zone->why);
      if (d.blocked.size() && (action == fw_action::none || action == fw_action::accept)) action = d.action;
      add_notes(c.notes, d.notes, "firewall: ");
    }
    add_notes(c.notes, host.saved.notes, "saved rules: ");
    if (!inspected) c.notes.push_back("firewall: no ruleset could be read (nft, iptables-save): run as root");
    const service_findings* svc = nullptr;
    if (auto s = services.find(port); s != services.end()) svc = &s->second;
    if (svc) {
      c.services = svc->facts;
      for (const auto& note : svc->notes) c.notes.push_back("services: " + note);
    }
    const std::string who = c.listeners.empty() || c.listeners.front().process().empty()
                                ? std::string("a process")
                                : c.listeners.front().process();
    if (action == fw_action::drop || action == fw_action::reject) {
      c.verdict = action == fw_action::drop ? "DROPPED_BY_HOST_FIREWALL" : "REJECTED_BY_HOST_FIREWALL";
      c.summary = std::string("the host firewall ") + (action == fw_action::drop ? "drops" : "rejects") +
                  " SYNs to port " + n + ": " + c.firewall.front().substr(6);
      if (c.listeners.empty())
        c.notes.push_back("nothing listens on port " + n + " either" +
                          (svc && !svc->summary.empty() ? ": " + svc->summary : std::string()));
    } else if (c.listeners.empty()) {
      c.verdict = "NO_LISTENER";
      c.summary = "nothing listens on port " + n + (svc && !svc->summary.empty() ? ": " + svc->summary : std::string());
    } else if (!public_listener) {
      c.verdict = "LISTENER_WRONG_ADDRESS";
      c.summary = who + " listens on port " + n + " only on " + c.listeners.front().address() +
                  ": unreachable from other hosts";
      c.advice.push_back("make it listen on 0.0.0.0 / :: (its configuration: listen/bind address), then: ss -tlnp 'sport = :" + n + "'");
    } else {
      c.verdict = "OPEN";
      c.summary = who + " listens on port " + n + " and no firewall rule blocks it";
      if (svc && !svc->summary.empty()) c.summary += ", but " + svc->summary;
    }
    if (svc)
      for (const auto& a : svc->advice) add_unique(c.advice, a);
    if (c.listeners.empty()) add_unique(c.advice, "check: ss -tlnp 'sport = :" + n + "'");
    for (const auto& l : c.listeners)
      if (!l.unit().empty() && c.verdict != "OPEN") {
        add_unique(c.advice, "systemctl status " + l.unit() + "; journalctl -u " + l.unit() + " -n 50");
        break;
      }
    out.push_back(std::move(c));
  }
  return out;
}

std::string render_check_text(const std::vector<port_check>& checks) {
  std::ostringstream out;
  for (const auto& c : checks) {
    out << c.port << "/tcp  " << c.verdict << "  " << c.summary << "\n";
    for (const auto& l : c.listeners) {
      out << "  listener: " << l.address() << ":" << l.port();
      if (l.pid()) out << " " << l.process() << " (pid " << l.pid() << ")";
      if (!l.unit().empty()) out << " unit " << l.unit();
      out << "\n";
    }
    for (const auto& f : c.firewall) out << "  rule: " << f << "\n";
    for (const auto& f : c.saved_rules) out << "  saved: " << f << "\n";
    for (const auto& f : c.services) out << "  service: " << f << "\n";
    for (const auto& n : c.notes) out << "  note: " << n << "\n";
    for (const auto& a : c.advice) out << "  run: " << a << "\n";
  }
  return out.str();
}

std::string render_check_json(const std::vector<port_check>& checks) {
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& c : checks) {
    nlohmann::json listeners = nlohmann::json::array();
    for (const auto& l : c.listeners)
      listeners.push_back({{"address", l.address()}, {"port", l.port()}, {"pid", l.pid()}, {"process", l.process()},
                           {"unit", l.unit()}});
    ports.push_back({{"port", c.port},
                     {"verdict", c.verdict},
                     {"summary", c.summary},
                     {"listeners", listeners},
                     {"firewall", c.firewall},
                     {"services", c.services},
                     {"saved_rules", c.saved_rules},
                     {"notes", c.notes},
                     {"advice", c.advice}});
  }
  return nlohmann::json{{"ports", ports}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int run_check(const std::string& ports_text, const std::string& format, const host_options& options) {
  auto ports = parse_port_list(ports_text);
  if (!ports) {
    std::cerr << "agent check: --ports: " << ports.error() << "\n";
    return 2;
  }
  if (format != "text" && format != "json") {
    std::cerr << "agent check: --format: expected text or json, got '" << format << "'\n";
    return 2;
  }
  auto host = read_host(options);
  systemd_manager manager(options.root, options.timeout);
  auto services = find_services(host, *ports, manager);
  auto checks = check_ports(host, services, *ports);
  std::cout << (format == "json" ? render_check_json(checks) : render_check_text(checks));
  for (const auto& c : checks)
    if (c.verdict != "OPEN") return 1;
  return 0;
}

}  // namespace dropspot::agent
