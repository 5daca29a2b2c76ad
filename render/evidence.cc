#include "render/evidence.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "common/net.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot {

namespace {

/// An address from the network with its port, escaped; "?" when unknown.
std::string shown_endpoint(const std::string& address, std::uint32_t port) {
  return host_port(escape(address.empty() ? "?" : address), port);
}

std::string at(std::uint64_t t, std::uint64_t base) {
  if (t == 0 || base == 0) return "";
  const double ms = (static_cast<double>(t) - static_cast<double>(base)) / 1000.0;
  return (ms >= 0 ? "+" : "") + ms_text(ms);
}

std::string options_text(const v1::TcpOptions& o) {
  std::string s;
  auto add = [&](const std::string& t) { s += (s.empty() ? "" : ",") + t; };
  if (o.has_mss()) add("mss" + std::string(1, evidence_glue) + num(o.mss()));
  if (o.sack_permitted()) add("sackOK");
  if (o.timestamps()) add("TS");
  if (o.has_window_scale()) add("wscale" + std::string(1, evidence_glue) + num(o.window_scale()));
  return s;
}

std::string attempt_line(const v1::Attempt& a, const v1::Report& report, std::uint32_t port, std::uint64_t base) {
  std::string s = at(a.start_unix_us(), base);
  if (!s.empty()) s += "  ";
  if (!a.local_address().empty() || a.local_port() != 0) s += shown_endpoint(a.local_address(), a.local_port()) + " ";
  s += "-> " + shown_endpoint(report.address(), port) + " ";
  const std::string after = ms_text(a.elapsed_ms());
  switch (a.outcome()) {
    case v1::Attempt::CONNECTED: s += "connected in " + after; break;
    case v1::Attempt::REFUSED: s += "refused (reset) after " + after; break;
    case v1::Attempt::TIMED_OUT: s += "timed out after " + after; break;
    case v1::Attempt::UNREACHABLE: {
      s += "unreachable after " + after;
      if (!a.icmp_from().empty())
        s += ": ICMP " + icmp_error_name(looks_ipv6(a.icmp_from()), a.icmp_type(), a.icmp_code()) + " from " +
             escape(a.icmp_from());
      break;
    }
    case v1::Attempt::FAILED: s += "failed after " + after; break;
    default: s += "unfinished"; break;
  }
  if (!a.error().empty() && a.outcome() != v1::Attempt::CONNECTED) s += " (" + escape(a.error()) + ")";
  return s;
}

std::string packet_kind(const v1::PacketEvent& e) {
  switch (e.kind()) {
    case v1::PacketEvent::SYN: return "SYN";
    case v1::PacketEvent::SYN_ACK: return "SYN-ACK";
    case v1::PacketEvent::RST: return "RST";
    case v1::PacketEvent::ACK: return e.length() > 0 ? "data " + num(e.length()) + " bytes" : "ACK";
    case v1::PacketEvent::DATAGRAM: return "UDP " + num(e.length()) + " bytes";
    case v1::PacketEvent::ICMP_ERROR:
      return "ICMP " + icmp_error_name(looks_ipv6(e.src()), e.icmp_type(), e.icmp_code()) +
             (e.mtu() > 0 ? " (mtu " + num(e.mtu()) + ")" : std::string());
    default: return "packet";
  }
}

std::string packet_line(const v1::PacketEvent& e, std::uint64_t base) {
  std::string s = at(e.time_unix_us(), base);
  if (!s.empty()) s += "  ";
  s += e.direction() == v1::PacketEvent::INBOUND    ? "in  "
       : e.direction() == v1::PacketEvent::OUTBOUND ? "out "
                                                    : "?   ";
  s += packet_kind(e) + " ";
  if (e.kind() == v1::PacketEvent::ICMP_ERROR) {
    s += escape(e.src()) + " -> " + escape(e.dst());
    if (e.src_port() || e.dst_port()) s += " about port " + num(e.src_port()) + "/" + num(e.dst_port());
  } else {
    s += shown_endpoint(e.src(), e.src_port()) + " -> " + shown_endpoint(e.dst(), e.dst_port());
  }
  if (e.ttl() > 0) s += " ttl " + num(e.ttl());
  if (e.has_options()) {
    const auto o = options_text(e.options());
    if (!o.empty()) s += " [" + o + "]";
  }
  if (!e.interface().empty()) s += " on " + escape(e.interface());
  return s;
}

std::string listener_line(const v1::Listener& l, std::uint32_t port) {
  std::string s = shown_endpoint(l.address().empty() ? "*" : l.address(), l.port() ? l.port() : port);
  if (l.v6_only()) s += " (IPv6 only)";
  s += " " + (l.process().empty() ? std::string("(process unknown)") : escape(l.process()));
  if (l.pid() != 0) s += " pid " + num(l.pid());
  if (!l.unit().empty()) s += " unit " + escape(l.unit());
  return s;
}

std::string hop_line(const v1::HopLocation& h) {
  std::string s = "last hop that forwarded the SYN: " + num(h.last_hop());
  if (!h.last_hop_address().empty()) s += " (" + escape(h.last_hop_address()) + ")";
  if (h.path_length() > 0) s += " of " + num(h.path_length());
  if (!h.note().empty()) s += "; " + escape(h.note());
  return s;
}

std::string path_mtu_line(const v1::PathMtu& m) {
  std::string s;
  const auto way = [&](std::uint32_t size, const char* to) {
    if (size == 0) return;
    s += (s.empty() ? "" : ", ") + num(size) + " bytes pass " + to;
  };
  way(m.to_server(), "towards the server");
  way(m.to_client(), "towards you");
  if (m.full_size() > 0) s += " (the ends use " + num(m.full_size()) + ")";
  if (m.blackhole_size() > 0) {
    s += "; full-size packets vanish";
    for (int i = 0; i < m.blackhole_size(); ++i) s += (i ? " and " : " ") + escape(m.blackhole(i));
  }
  s += m.source() == "search" ? "; measured by a size search" : "; learnt by path-MTU discovery";
  return s;
}

std::string app_line(const v1::PortReport& p) {
  const auto& app = p.app();
  std::string s = escape(app.kind().empty() ? p.probe() : app.kind()) + (app.ok() ? " ok" : " failed");
  if (!app.detail().empty()) s += ": " + escape(app.detail());
  std::vector<std::string> keys;
  for (const auto& [k, v] : app.fields())
    if (k != "note") keys.push_back(k);  // the port's notes say it
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) s += "; " + escape(k) + "=" + escape(app.fields().at(k));
  return s;
}

}  // namespace

std::string unglue(std::string text) {
  std::replace(text.begin(), text.end(), evidence_glue, ' ');
  return text;
}

std::string ms_text(double ms) { return fixed(ms, ms < 10 && ms > -10 ? 1 : 0) + evidence_glue + "ms"; }

std::uint64_t time_base(const v1::Report& report) {
  std::uint64_t base = std::numeric_limits<std::uint64_t>::max();
  for (const auto& p : report.ports())
    for (const auto& a : p.evidence().attempts())
      if (a.start_unix_us() > 0) base = std::min(base, a.start_unix_us());
  if (base == std::numeric_limits<std::uint64_t>::max())
    for (const auto& p : report.ports())
      for (const auto& e : p.evidence().agent_packets())
        if (e.time_unix_us() > 0) base = std::min(base, e.time_unix_us());
  return base == std::numeric_limits<std::uint64_t>::max() ? 0 : base;
}

std::vector<evidence_line> evidence_lines(const v1::Report& report, const v1::PortReport& p, std::uint64_t base) {
  std::vector<evidence_line> out;
  const auto add = [&](const char* label, std::string text) { out.push_back({label, std::move(text)}); };
  const auto& ev = p.evidence();
  const bool agent_there = report.agent().status() == v1::AgentInfo::CONNECTED;
  for (const auto& a : ev.attempts()) add("prober", attempt_line(a, report, p.port(), base));
  if (ev.agent_packets_size() == 0 && agent_there && report.agent().capture_active())
    add("agent", "saw no packet for this port");
  for (const auto& e : ev.agent_packets()) add("agent", packet_line(e, base));
  if (agent_there && ev.listeners_size() == 0)
    add("listener", "none on port " + port_label(p.port(), p.protocol() == v1::UDP));
  for (const auto& l : ev.listeners()) add("listener", listener_line(l, p.port()));
  if (ev.has_hop()) add("hop", hop_line(ev.hop()));
  if (ev.has_path_mtu()) add("path", path_mtu_line(ev.path_mtu()));
  for (const auto& f : ev.firewall()) add("firewall", escape(f));
  for (const auto& f : ev.saved_rules()) add("saved", escape(f));
  for (const auto& f : ev.services()) add("service", escape(f));
  if (p.has_app()) add("app", app_line(p));
  for (const auto& n : ev.notes()) add("note", escape(n));
  if (!p.expect().empty())
    add("expected", escape(p.expect()) + (p.as_expected() ? " (as expected)" : " (NOT as expected)"));
  return out;
}

}  // namespace dropspot
