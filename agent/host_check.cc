#include "agent/host_check.h"

#include "agent/metrics.h"
#include "agent/host_files.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "agent/listeners.h"
#include "common/firewall_rule.h"
#include "common/net.h"
#include "common/ports.h"
#include "common/protocol.h"
#include "common/text.h"
#include "render/report.h"

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
  std::optional<firewall_manager> save_with;
  const auto n = std::to_string(pkt.port);
  if (host.firewalld) {
    for (const auto& note : host.firewalld->notes) v.firewall.notes.push_back("firewalld: " + note);
  }
  if (host.firewalld && !host.firewalld->unreadable.empty()) {
    v.firewall.notes.push_back("firewalld's permanent configuration not compared: " + host.firewalld->unreadable);
  } else if (host.firewalld) {
    v.zone = evaluate(*host.firewalld, pkt.port, pkt.source, pkt.in_interface, pkt.udp);
    // the live rules (firewalld's nft table) against the permanent configuration
    const bool live_blocks = !v.firewall.blocked.empty();
    if (live_blocks && v.zone->allowed)
      v.saved = "blocked now, but firewalld's permanent configuration allows port " + n + " (" + v.zone->why +
                "): someone changed the live rules (" + v.firewall.blocked.front() + ")";
    else if (!live_blocks && v.firewall.inspected && !v.zone->allowed)
      v.saved = "allowed now, not saved: gone after reboot or firewall-cmd --reload: " + v.zone->why;
    // The zone is what the user changes: it leads the firewall evidence, the
    // nft rule firewalld generated follows.
    if (live_blocks && !v.zone->allowed) v.firewall.blocked.insert(v.firewall.blocked.begin(), v.zone->why);
  } else if (!v.firewall.unkept.empty()) {
    v.saved = v.firewall.unkept;
    add_unique(v.advice, open_port_command(firewall_manager::ufw, pkt.port, {}, {}, pkt.udp));
  } else if (host.saved.found()) {
    auto saved = diagnose(host.saved.rules, pkt);
    if (v.firewall.inspected) v.saved = compare_saved(v.firewall, saved, pkt.port, host.saved.sources);
    // What saves the live rules is the tool whose file blocks the port.
    if (!saved.blocked.empty() &&
        (saved.blocked.front().rfind("iptables: ", 0) == 0 || saved.blocked.front().rfind("ip6tables: ", 0) == 0))
      save_with = firewall_manager::iptables;
  }
  // A rule the firewall manager made is changed through the manager (ufw
  // allow, firewall-cmd): an nft or iptables command would be undone by its
  // next reload. Others get the command that removes them.
  const bool ufw_made = host.system.firewall == firewall_manager::ufw && !v.firewall.blocked.empty() &&
                        v.firewall.blocked.front().rfind("ufw ", 0) == 0;
  const bool reply_path = !v.firewall.blocked.empty() && v.firewall.blocked.front() == output_path_marker;
  for (const auto& rule : v.firewall.blocked) {
    const bool firewalld_made =
        host.system.firewall == firewall_manager::firewalld && rule.rfind("table inet firewalld ", 0) == 0;
    if (ufw_made || firewalld_made) continue;
    if (auto fix = firewall_fix_command(rule, pkt.port, reply_path); !fix.empty()) add_unique(v.advice, fix);
  }
  if (!v.firewall.blocked.empty() || (v.zone && !v.zone->allowed)) {
    if (host.system.firewall == firewall_manager::firewalld || host.system.firewall == firewall_manager::ufw) {
      auto zone = v.zone ? v.zone->zone : std::string();
      add_unique(v.advice, open_port_command(host.system.firewall, pkt.port,
                                             v.zone ? v.zone->service_for_port : std::string(), zone, pkt.udp));
    }
  }
  if (v.saved.rfind("allowed now", 0) == 0 && v.firewall.unkept.empty()) {
    auto system = host.system;
    if (save_with) system.firewall = *save_with;
    add_unique(v.advice, save_rules_command(system));
  }
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
  // firewalld and ufw load their own configuration at boot (both compared
  // elsewhere or consistent by construction); /etc/nftables.conf and
  // iptables-persistent's files are not what such a host boots with.
  if (!h.firewalld && (!h.system.ufw_active || !so.files.empty())) h.saved = read_saved_rules(so);
  h.listeners = find_listeners({});
  listener_options udp;
  udp.udp = true;
  h.udp_listeners = find_listeners({}, udp);
  h.configs = read_daemon_configs(options.root);
  h.installed = installed_daemons(options.root);
  return h;
}

std::map<std::uint16_t, service_findings> find_services(host_snapshot& host, const std::vector<std::uint16_t>& ports,
                                                        service_manager& manager) {
  attribute_socket_activation(host.listeners, manager);
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
                                      const std::map<port_key, std::string>& syn_interfaces,
                                      const std::vector<std::uint16_t>& udp_ports) {
  const auto peer = unmapped(peer_in);
  std::vector<v1::PortFacts> out;
  std::map<std::string, std::vector<std::string>> icmp_rules;  ///< by the interface the SYNs came in on
  for (auto key : port_keys(ports, udp_ports)) {
    const auto port = key_port(key);
    syn_packet pkt;
    pkt.v6 = peer.is_v6();
    pkt.source = peer;
    pkt.port = port;
    pkt.udp = key_udp(key);
    if (auto it = syn_interfaces.find(key); it != syn_interfaces.end()) pkt.in_interface = it->second;
    auto v = view_port(host, pkt);
    v1::PortFacts f;
    f.set_port(port);
    f.set_client_address(peer.to_string());
    if (pkt.udp) f.set_protocol(v1::UDP);
    f.set_in_interface(pkt.in_interface);
    f.set_firewall_inspected(v.firewall.inspected);
    for (const auto& rule : v.firewall.blocked) f.add_firewall(rule);
    // The server's kernel learns a smaller path MTU from this ICMP (issue
    // 18). No port is in it: one evaluation an interface serves every port.
    if (!pkt.udp) {
      auto known = icmp_rules.find(pkt.in_interface);
      if (known == icmp_rules.end())
        known = icmp_rules.emplace(pkt.in_interface, diagnose(host.live, pkt.too_big_about()).blocked).first;
      for (const auto& rule : known->second) f.add_icmp_firewall(rule);
    }
    if (!v.saved.empty()) f.add_saved_rules(v.saved);
    std::vector<std::string> notes;
    if (v.zone && !contains(v.firewall.blocked, v.zone->why)) notes.push_back(v.zone->why);
    add_notes(notes, v.firewall.notes, "firewall: ");
    add_notes(notes, host.saved.notes, "saved rules: ");
    // The services behind a port are read for TCP ports (daemon configurations, units).
    auto s = pkt.udp ? services.end() : services.find(port);
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

std::vector<std::string> inspection_errors(const host_snapshot& host) {
  std::vector<std::string> sources;
  for (const auto& note : host.live.notes)
    sources.push_back(note.find("-legacy") != std::string::npos ? "iptables-legacy"
                      : note.rfind("ip", 0) == 0                ? "iptables"
                                                                : "nftables");
  if (host.firewalld) {
    for (std::size_t i = 0; i < host.firewalld->notes.size(); ++i) sources.emplace_back("firewalld");
    if (!host.firewalld->unreadable.empty()) sources.emplace_back("firewalld");
  }
  for (std::size_t i = 0; i < host.saved.notes.size(); ++i) sources.emplace_back("saved-rules");
  return sources;
}

std::function<std::vector<v1::PortFacts>(const std::map<port_key, std::string>&)> host_port_facts(
    const host_options& options, const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
    const std::vector<std::uint16_t>& udp_ports) {
  auto host = std::make_shared<host_snapshot>(read_host(options));
  for (const auto& source : inspection_errors(*host)) metrics::inspection_error(source);
  systemd_manager manager(options.root, options.timeout);
  auto services = std::make_shared<std::map<std::uint16_t, service_findings>>(find_services(*host, ports, manager));
  return [host, services, peers, ports, udp_ports](const std::map<port_key, std::string>& syn_interfaces) {
    std::vector<v1::PortFacts> all;
    for (const auto& peer : peers)
      for (auto& f : port_facts(*host, *services, peer, ports, syn_interfaces, udp_ports)) all.push_back(std::move(f));
    return all;
  };
}

std::vector<v1::PortReport> check_ports(const host_snapshot& host,
                                        const std::map<std::uint16_t, service_findings>& services,
                                        const std::vector<std::uint16_t>& ports,
                                        const std::vector<std::uint16_t>& udp_ports) {
  std::vector<v1::PortReport> out;
  for (auto key : port_keys(ports, udp_ports)) {
    const auto port = key_port(key);
    const bool udp = key_udp(key);
    v1::PortReport c;
    c.set_port(port);
    c.set_protocol(udp ? v1::UDP : v1::TCP);
    c.set_probe(udp ? "udp" : "tcp");
    auto& ev = *c.mutable_evidence();
    std::vector<std::string> notes, advice, saved;
    const auto n = std::to_string(port);
    // A UDP port's words: datagrams, bound sockets, ss -u.
    const std::string packets = udp ? "datagrams" : "SYNs";
    const std::string listens = udp ? "is bound to UDP port " : "listens on port ";
    const std::string ss = udp ? "ss -ulnp" : "ss -tlnp";
    bool public_listener = false;
    for (const auto& l : udp ? host.udp_listeners : host.listeners)
      if (l.port() == port) {
        *ev.add_listeners() = l;
        if (!is_loopback_address(l.address())) public_listener = true;
      }
    fw_action action = fw_action::none;
    bool inspected = false;
    for (bool v6 : {false, true}) {
      syn_packet pkt;
      pkt.v6 = v6;
      pkt.port = port;
      pkt.udp = udp;
      auto v = view_port(host, pkt);
      const auto& d = v.firewall;
      inspected = inspected || d.inspected;
      const std::string family = v6 ? "IPv6: " : "IPv4: ";
      for (const auto& rule : d.blocked) ev.add_firewall(family + rule);
      for (const auto& a : v.advice) add_unique(advice, a);
      if (!v.saved.empty()) add_unique(saved, family + v.saved);
      if (v.zone && !v6) add_unique(notes, v.zone->why);
      if (d.blocked.size() && (action == fw_action::none || action == fw_action::accept)) action = d.action;
      add_notes(notes, d.notes, "firewall: ");
      if (udp) continue;
      // A latent fault: path-MTU discovery breaks for the port's clients
      // behind a smaller MTU (issue 18).
      const auto icmp = diagnose(host.live, pkt.too_big_about());
      if (!icmp.blocked.empty())
        add_unique(notes,
                   family + "the firewall drops " + (v6 ? "ICMPv6 'packet too big'" : "ICMP 'fragmentation needed'") +
                       ", which path-MTU discovery needs: full-size packets to clients behind a smaller "
                       "MTU (a tunnel, PPPoE, a VPN) vanish (" +
                       icmp.blocked.front() + "); allow it: " + icmp_too_big_accept_command(icmp.blocked.front(), v6));
    }
    add_notes(notes, host.saved.notes, "saved rules: ");
    if (!inspected) notes.push_back("firewall: no ruleset could be read (nft, iptables-save): run as root");
    const service_findings* svc = nullptr;
    if (auto s = services.find(port); s != services.end() && !udp) svc = &s->second;
    if (svc) {
      for (const auto& f : svc->facts) ev.add_services(f);
      for (const auto& note : svc->notes) notes.push_back("services: " + note);
    }
    const bool no_listener = ev.listeners_size() == 0;
    const std::string who = no_listener ? std::string("a process") : listener_owner(ev.listeners(0));
    if (action == fw_action::drop || action == fw_action::reject) {
      c.set_verdict(action == fw_action::drop ? v1::DROPPED_BY_HOST_FIREWALL : v1::REJECTED_BY_HOST_FIREWALL);
      c.set_summary(std::string("the host firewall ") + (action == fw_action::drop ? "drops" : "rejects") + " " +
                    packets + " to port " + n + ": " + ev.firewall(0).substr(6));
      if (no_listener)
        notes.push_back((udp ? "nothing is bound to UDP port " : "nothing listens on port ") + n + " either" +
                        (svc && !svc->summary.empty() ? ": " + svc->summary : std::string()));
    } else if (no_listener) {
      c.set_verdict(v1::NO_LISTENER);
      c.set_summary((udp ? "nothing is bound to UDP port " : "nothing listens on port ") + n +
                    (svc && !svc->summary.empty() ? ": " + svc->summary : std::string()));
    } else if (!public_listener) {
      c.set_verdict(v1::LISTENER_WRONG_ADDRESS);
      c.set_summary(who + " " + listens + n + " only on " + ev.listeners(0).address() +
                    ": unreachable from other hosts");
      advice.push_back("make it listen on 0.0.0.0 / :: (its configuration: listen/bind address), then: " + ss +
                       " 'sport = :" + n + "'");
    } else {
      c.set_verdict(v1::OPEN);
      std::string summary = who + " " + listens + n + " and no firewall rule blocks it";
      if (svc && !svc->summary.empty()) summary += ", but " + svc->summary;
      c.set_summary(summary);
    }
    if (svc)
      for (const auto& a : svc->advice) add_unique(advice, a);
    if (no_listener) add_unique(advice, "check: " + ss + " 'sport = :" + n + "'");
    for (const auto& l : ev.listeners())
      if (!l.unit().empty() && c.verdict() != v1::OPEN) {
        add_unique(advice, "systemctl status " + l.unit() + "; journalctl -u " + l.unit() + " -n 50");
        break;
      }
    for (auto& s : saved) ev.add_saved_rules(std::move(s));
    for (auto& note : notes) ev.add_notes(std::move(note));
    for (auto& a : advice) c.add_advice(std::move(a));
    out.push_back(std::move(c));
  }
  return out;
}

v1::Report check_report(std::vector<v1::PortReport> ports, const std::string& hostname) {
  v1::Report report;
  report.set_schema_version(report_schema_version);
  report.set_target(hostname);
  auto& agent = *report.mutable_agent();
  agent.set_status(v1::AgentInfo::CONNECTED);
  agent.set_path(std::string(local_check_path));
  agent.set_hostname(hostname);
  agent.set_software("dropspot-agent " + std::string(software_version));
  for (auto& p : ports) *report.add_ports() = std::move(p);
  return report;
}

int run_check(const std::string& ports_text, const std::string& format, const host_options& options) {
  if (ports_text.empty()) {
    std::cerr << "agent check: --ports is required: e.g. agent check --ports 22,80,443\n";
    return 2;
  }
  auto ports = parse_port_specs(ports_text);
  if (!ports) {
    std::cerr << "agent check: --ports: " << ports.error() << "\n";
    return 2;
  }
  if (format != "text" && format != "json") {
    std::cerr << "agent check: --format: expected text or json, got '" << format << "'\n";
    return 2;
  }
  const auto started = std::chrono::steady_clock::now();
  auto host = read_host(options);
  systemd_manager manager(options.root, options.timeout);
  auto services = find_services(host, ports->tcp, manager);
  auto report = check_report(check_ports(host, services, ports->tcp, ports->udp), this_host_name());
  report.mutable_agent()->set_os(host.system.os.pretty_name);
  report.set_elapsed_ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
  // As the exit code: every port OPEN from the host's own view.
  report.set_ok(std::all_of(report.ports().begin(), report.ports().end(),
                            [](const v1::PortReport& p) { return p.verdict() == v1::OPEN; }));
  if (format == "json") {
    write_json(std::cout, report);
    std::cout << "\n";
  } else {
    std::cout << render_text(report, text_style_for_stdout());
  }
  return report.ok() ? 0 : 1;
}

}  // namespace dropspot::agent
