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

bool loopback(const std::string& address) {
  asio::error_code ec;
  auto a = asio::ip::make_address(address, ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

}  // namespace

std::vector<v1::PortFacts> port_facts(const firewall_snapshot& snapshot, const asio::ip::address& peer_in,
                                      const std::vector<std::uint16_t>& ports) {
  auto peer = peer_in;
  if (peer.is_v6() && peer.to_v6().is_v4_mapped()) peer = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6());
  std::vector<v1::PortFacts> out;
  for (auto port : ports) {
    syn_packet pkt;
    pkt.v6 = peer.is_v6();
    pkt.source = peer;
    pkt.port = port;
    auto d = diagnose(snapshot, pkt);
    v1::PortFacts f;
    f.set_port(port);
    f.set_firewall_inspected(d.inspected);
    for (const auto& rule : d.blocked) f.add_firewall(rule);
    std::vector<std::string> notes;
    add_notes(notes, d.notes, "firewall: ");
    for (auto& n : notes) f.add_notes(std::move(n));
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<v1::PortFacts> host_port_facts(const asio::ip::address& peer, const std::vector<std::uint16_t>& ports) {
  return port_facts(read_firewall(), peer, ports);
}

std::vector<port_check> check_ports(const firewall_snapshot& snapshot, const std::vector<v1::Listener>& listeners,
                                    const std::vector<std::uint16_t>& ports) {
  std::vector<port_check> out;
  for (auto port : ports) {
    port_check c;
    c.port = port;
    const auto n = std::to_string(port);
    bool public_listener = false;
    for (const auto& l : listeners)
      if (l.port() == port) {
        c.listeners.push_back(l);
        if (!loopback(l.address())) public_listener = true;
      }
    fw_action action = fw_action::none;
    bool inspected = false;
    for (bool v6 : {false, true}) {
      syn_packet pkt;
      pkt.v6 = v6;
      pkt.port = port;
      auto d = diagnose(snapshot, pkt);
      inspected = inspected || d.inspected;
      for (const auto& rule : d.blocked) {
        auto line = (v6 ? "IPv6: " : "IPv4: ") + rule;
        c.firewall.push_back(line);
        auto fix = firewall_fix_command(rule, port);
        if (!fix.empty() && std::find(c.advice.begin(), c.advice.end(), fix) == c.advice.end()) c.advice.push_back(fix);
      }
      if (d.blocked.size() && (action == fw_action::none || action == fw_action::accept)) action = d.action;
      add_notes(c.notes, d.notes, "firewall: ");
    }
    if (!inspected) c.notes.push_back("firewall: no ruleset could be read (nft, iptables-save): run as root");
    const std::string who = c.listeners.empty() || c.listeners.front().process().empty()
                                ? std::string("a process")
                                : c.listeners.front().process();
    if (action == fw_action::drop || action == fw_action::reject) {
      c.verdict = action == fw_action::drop ? "DROPPED_BY_HOST_FIREWALL" : "REJECTED_BY_HOST_FIREWALL";
      c.summary = std::string("the host firewall ") + (action == fw_action::drop ? "drops" : "rejects") +
                  " SYNs to port " + n + ": " + c.firewall.front().substr(6);
      if (c.listeners.empty()) c.notes.push_back("nothing listens on port " + n + " either");
    } else if (c.listeners.empty()) {
      c.verdict = "NO_LISTENER";
      c.summary = "nothing listens on port " + n;
      c.advice.push_back("start the service, then check: ss -tlnp 'sport = :" + n + "'");
    } else if (!public_listener) {
      c.verdict = "LISTENER_WRONG_ADDRESS";
      c.summary = who + " listens on port " + n + " only on " + c.listeners.front().address() +
                  ": unreachable from other hosts";
      c.advice.push_back("make it listen on 0.0.0.0 / :: (its configuration: listen/bind address), then: ss -tlnp 'sport = :" + n + "'");
    } else {
      c.verdict = "OPEN";
      c.summary = who + " listens on port " + n + " and no firewall rule blocks it";
    }
    for (const auto& l : c.listeners)
      if (!l.unit().empty() && c.verdict != "OPEN") {
        c.advice.push_back("systemctl status " + l.unit() + "; journalctl -u " + l.unit() + " -n 50");
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
                     {"notes", c.notes},
                     {"advice", c.advice}});
  }
  return nlohmann::json{{"ports", ports}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int run_check(const std::string& ports_text, const std::string& format) {
  auto ports = parse_port_list(ports_text);
  if (!ports) {
    std::cerr << "agent check: --ports: " << ports.error() << "\n";
    return 2;
  }
  if (format != "text" && format != "json") {
    std::cerr << "agent check: --format: expected text or json, got '" << format << "'\n";
    return 2;
  }
  auto checks = check_ports(read_firewall(), find_listeners(*ports), *ports);
  std::cout << (format == "json" ? render_check_json(checks) : render_check_text(checks));
  for (const auto& c : checks)
    if (c.verdict != "OPEN") return 1;
  return 0;
}

}  // namespace dropspot::agent
