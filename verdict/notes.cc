// Middlebox signs and other notes on the evidence.
#include <algorithm>
#include <cstdio>

#include "common/text.h"
#include "verdict/internal.h"

namespace dropspot::verdict_detail {

/// "12 ms", "0.4 ms", "1500 ms".
std::string ms_text(double ms) {
  char buf[32];
  if (ms < 0) ms = 0;
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
  return buf;
}

namespace {

std::uint32_t initial_ttl(std::uint32_t observed) { return observed <= 64 ? 64 : observed <= 128 ? 128 : 255; }

void option_notes(const port_input& in, const PacketEvent& syn, std::vector<std::string>& notes) {
  if (!in.sent_options || !syn.has_options()) return;
  const auto& sent = *in.sent_options;
  const auto& seen = syn.options();
  if (sent.has_mss() && seen.has_mss() && sent.mss() != seen.mss()) {
    notes.push_back(seen.mss() < sent.mss()
                        ? "MSS clamped in flight: sent " + num(sent.mss()) + ", arrived " + num(seen.mss()) +
                              " (a tunnel, PPPoE link or firewall rewrites it)"
                        : "MSS raised in flight: sent " + num(sent.mss()) + ", arrived " + num(seen.mss()));
  }
  std::vector<std::string> stripped;
  if (sent.has_mss() && !seen.has_mss()) stripped.push_back("mss");
  if (sent.sack_permitted() && !seen.sack_permitted()) stripped.push_back("sackOK");
  if (sent.timestamps() && !seen.timestamps()) stripped.push_back("timestamps");
  if (sent.has_window_scale() && !seen.has_window_scale()) stripped.push_back("window scale");
  if (!stripped.empty()) {
    std::string s;
    for (const auto& x : stripped) s += (s.empty() ? "" : ", ") + x;
    notes.push_back("TCP options stripped in flight: " + s + " (a middlebox rewrites SYNs)");
  }
  if (sent.has_window_scale() && seen.has_window_scale() && sent.window_scale() != seen.window_scale())
    notes.push_back("window scale changed in flight: sent " + num(sent.window_scale()) + ", arrived " +
                    num(seen.window_scale()));
}

}  // namespace

void flow_notes(const port_input& in, const matching& m, const flow& f, const Attempt* a,
                std::vector<std::string>& notes) {
  const auto& syn = m.at(f.syns.front());
  // Address and port translation.
  if (a != nullptr) {
    const std::string& mine = a->local_address().empty() ? in.prober_address : a->local_address();
    const auto local = normalize_address(mine);
    const bool addr_changed = !local.empty() && local != f.src;
    const bool port_changed = a->local_port() != 0 && a->local_port() != f.src_port;
    if (addr_changed || port_changed)
      notes.push_back("source address translated: you are " +
                      (a->local_port() ? host_port(mine.empty() ? "?" : mine, a->local_port()) : mine) +
                      ", the server sees " + host_port(f.src, f.src_port));
  }
  if (syn.ttl() > 0) {
    const auto init = initial_ttl(syn.ttl());
    const auto routers = init - syn.ttl();
    notes.push_back(std::string(in.udp ? "the datagram" : "the SYN") + " arrived with TTL " + num(syn.ttl()) + ": " +
                    (routers == 0 ? std::string("no router") : num(routers) + (routers == 1 ? " router" : " routers")) +
                    " between the prober and the server (initial TTL " + num(init) + ")");
  }
  option_notes(in, syn, notes);
  if (f.syns.size() > 1 && !in.udp)
    notes.push_back("the server saw " + num(f.syns.size()) + " SYNs from the same port: the prober retransmitted, " +
                    (f.replied() ? "the answers did not reach it" : "nothing answered"));
  if (f.synacks.size() > 1 && !in.udp)
    notes.push_back("the server sent " + num(f.synacks.size()) + " SYN-ACKs: it retransmitted, no ACK came back");
  const auto rejecting = std::find_if(f.icmps_in.begin(), f.icmps_in.end(),
                                      [&](std::size_t i) { return !is_fragmentation_needed(m.at(i)); });
  if (rejecting != f.icmps_in.end()) {
    const auto& e = m.at(*rejecting);
    notes.push_back("an ICMP " + icmp_error_name(looks_ipv6(e.src()), e.icmp_type(), e.icmp_code()) + " from " +
                    e.src() + " came back about the server's reply: the return path rejects it");
  }
  // A reset after the handshake completed is an ordinary abortive close
  // (an application probe that stops reading), not an answer to the SYN-ACK.
  if (!f.synacks.empty() && !f.client_rsts.empty() &&
      (f.client_acks.empty() || m.time(f.client_rsts.front()) < m.time(f.client_acks.front())))
    notes.push_back(
        "the prober's side answered the SYN-ACK with a reset: the reply reached the client after the "
        "prober had given up (raise --timeout) or a middlebox reset it");
  if (a != nullptr && a->start_unix_us() > 0 && a->outcome() != Attempt::OUTCOME_UNSPECIFIED &&
      a->outcome() != Attempt::CONNECTED) {
    const auto end = attempt_end_us(*a);
    const auto tol_us = static_cast<std::uint64_t>(tolerance_ms(in) * 1000);
    const auto t_syn = m.time(f.syns.front());
    if (t_syn > end + tol_us)
      notes.push_back(std::string(in.udp ? "the datagram" : "the SYN") + " reached the server " +
                      ms_text(static_cast<double>(t_syn - end) / 1000.0) +
                      " after the prober gave up: a very slow path, or raise --timeout");
    const auto r = m.first_reply(f);
    if (r != matching::npos && m.time(r) > end + tol_us && t_syn <= end + tol_us)
      notes.push_back("the server answered " + ms_text(static_cast<double>(m.time(r) - end) / 1000.0) +
                      " after the prober gave up");
  }
}

/// Why the verdict is client-only, in one sentence.
std::string client_only_reason(const port_input& in) {
  const auto& ag = in.agent;
  const std::string status = v1::AgentInfo::Status_Name(ag.status());
  std::string why;
  if (ag.status() == v1::AgentInfo::CONNECTED) {
    if (std::find(ag.refused_ports().begin(), ag.refused_ports().end(), in.port) != ag.refused_ports().end())
      why = "the agent does not allow port " + num(in.port) + " (its --allow-ports)";
    else
      why = "the agent's capture was not running" + (ag.message().empty() ? std::string() : ": " + ag.message());
  } else {
    why = "agent " + status + (ag.message().empty() ? std::string() : ": " + ag.message());
  }
  return "without the agent's capture the drop cannot be localised (" + why + ")";
}

void app_notes(const port_input& in, std::vector<std::string>& notes) {
  if (!in.app) return;
  // What the probe noticed on the way (a slow greeting, no AUTH on 587).
  if (const auto note = in.app->fields().find("note"); note != in.app->fields().end())
    notes.push_back("port " + num(in.port) + ": " + note->second);
  const auto it = in.app->fields().find("location");
  if (it != in.app->fields().end() && starts_with_icase(it->second, "https://"))
    notes.push_back("port " + num(in.port) + " redirects to HTTPS (" + it->second +
                    "): browsers (and HSTS) then use port 443, so test 443 too");
  else if (const auto hsts = in.app->fields().find("hsts"); hsts != in.app->fields().end())
    notes.push_back("port " + num(in.port) + " sends an HSTS policy (" + hsts->second +
                    "): a browser that saw it will not use port 80 for " + host_of(in) +
                    ", it goes to https:// on 443, so test 443");
}

}  // namespace dropspot::verdict_detail
