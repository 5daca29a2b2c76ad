// A UDP port's verdict (see verdict/verdict.h, decide_port). The flows are
// matched as for TCP (the prober's datagrams open them, the service's
// replies and the host's ICMP errors follow); what the host did decides:
//   a reply came, the datagram seen               -> OPEN (APP_FAILED: the reply is an error)
//   a reply came, no datagram seen                -> INTERCEPTED
//   nothing came, the datagram unseen             -> DROPPED_IN_TRANSIT
//   an ICMP error came, the datagram unseen       -> REJECTED_IN_TRANSIT
//   the service's reply left, none came           -> REPLY_LOST
//   port-unreachable left the host (or came from it):
//       a firewall rule rejects, or the error is not port-unreachable,
//       or a socket bound for the address exists  -> REJECTED_BY_HOST_FIREWALL
//       a socket bound elsewhere only             -> LISTENER_WRONG_ADDRESS
//       nothing bound                             -> NO_LISTENER
//   the datagram seen, nothing left the host:
//       a firewall rule drops it                  -> DROPPED_BY_HOST_FIREWALL
//       a socket bound for the address            -> OPEN when the service is silent by design
//                                                    (WireGuard), else APP_FAILED (no reply)
//       a socket bound elsewhere only             -> LISTENER_WRONG_ADDRESS
//       nothing bound                             -> NO_LISTENER (the kernel's port-unreachable
//                                                    was rate-limited)
// Without the agent: OPEN (a reply), CLOSED (port-unreachable from the
// target), FILTERED (silence: "open or filtered"; an ICMP error from a hop).
#include <algorithm>

#include "verdict/internal.h"

namespace dropspot::verdict_detail {

namespace {

bool is_port_unreachable(bool v6, std::uint32_t type, std::uint32_t code) {
  return v6 ? (type == 1 && code == 4) : (type == 3 && code == 3);
}

/// The ICMP error an attempt got, in words.
std::string attempt_icmp(const Attempt& a) {
  if (!a.has_icmp_type()) return a.error().empty() ? "port unreachable" : a.error();
  return icmp_error_name(looks_ipv6(a.icmp_from()), a.icmp_type(), a.icmp_code());
}

/// The ICMP error came from the target itself (or the OS did not say from whom).
bool from_target(const port_input& in, const Attempt& a) {
  return a.icmp_from().empty() || normalize_address(a.icmp_from()) == normalize_address(in.target_address);
}

std::string app_kind(const port_input& in) { return in.app && !in.app->kind().empty() ? in.app->kind() : in.probe; }

judged judge_udp_client_only(const port_input& in, const Attempt& a) {
  judged j;
  switch (a.outcome()) {
    case Attempt::CONNECTED:
      j.verdict = v1::OPEN;
      j.summary = "the service replied (client-only view)";
      break;
    case Attempt::UNREACHABLE:
    case Attempt::REFUSED:
      if (from_target(in, a)) {
        j.verdict = v1::CLOSED;
        j.summary =
            "port unreachable from the server: nothing is bound to it, or a firewall rejects (client-only view)";
      } else {
        j.verdict = v1::FILTERED;
        j.summary = "rejected: ICMP " + attempt_icmp(a) + " from " + a.icmp_from() + " (client-only view)";
      }
      break;
    case Attempt::TIMED_OUT:
      j.verdict = v1::FILTERED;
      j.summary = "open or filtered: no reply, and UDP services may stay silent; run the agent to tell";
      break;
    default:
      j.failed_locally = true;
      j.verdict = v1::FILTERED;
      j.summary = "the datagram could not be sent from this machine" + (a.error().empty() ? "" : ": " + a.error());
      break;
  }
  return j;
}

/// The host answered with an ICMP error: port-unreachable from the kernel,
/// or a firewall's reject.
judged host_rejected(const port_input& in, const listener_view& lv, bool v6, std::uint32_t type, std::uint32_t code,
                     const std::string& dst) {
  judged j;
  const bool unreachable_port = is_port_unreachable(v6, type, code);
  const std::string what = icmp_error_name(v6, type, code);
  if (!in.firewall.empty() || !unreachable_port || lv.fit == listener_view::accepts) {
    j.verdict = v1::REJECTED_BY_HOST_FIREWALL;
    j.summary = "the datagram reached the server and its firewall rejected it (ICMP " + what + ")";
    if (!in.firewall.empty())
      j.summary += ": " + in.firewall.front();
    else if (lv.fit == listener_view::accepts)
      j.summary += " although " + listener_list(lv.accepting, in.port) + " is bound for it";
  } else if (lv.fit == listener_view::elsewhere) {
    j.verdict = v1::LISTENER_WRONG_ADDRESS;
    j.summary = wrong_address_summary(lv, in.port, dst) + ": the kernel answered port unreachable";
  } else {
    j.verdict = v1::NO_LISTENER;
    j.summary = "the datagram reached the server, nothing is bound to UDP port " + num(in.port) +
                ": the kernel answered port unreachable";
  }
  return j;
}

/// The datagram arrived and nothing left the host.
judged host_silent(const port_input& in, const listener_view& lv, const std::string& dst) {
  judged j;
  if (!in.firewall.empty()) {
    j.verdict = v1::DROPPED_BY_HOST_FIREWALL;
    j.summary = "the datagram reached the server and its firewall dropped it: " + in.firewall.front();
  } else if (lv.fit == listener_view::accepts) {
    const auto who = listener_list(lv.accepting, in.port);
    if (in.reply_expected) {
      j.verdict = v1::APP_FAILED;
      j.summary = "the datagram reached " + who + ", and no " + app_kind(in) + " reply came back";
    } else {
      j.verdict = v1::OPEN;
      j.summary = "the datagram was delivered to " + who + ", which stays silent by design" +
                  (app_kind(in) == "wireguard" ? " (WireGuard answers only peers it knows)"
                                               : " (a service that answers nothing it is sent)");
    }
  } else if (lv.fit == listener_view::elsewhere) {
    j.verdict = v1::LISTENER_WRONG_ADDRESS;
    j.summary = wrong_address_summary(lv, in.port, dst);
  } else if (lv.fit == listener_view::unknown || !in.listeners_known) {
    j.verdict = v1::DROPPED_BY_HOST_FIREWALL;
    j.summary = "the datagram reached the server and nothing left it (the agent could not list the sockets)";
  } else {
    j.verdict = v1::NO_LISTENER;
    j.summary = "the datagram reached the server, nothing is bound to UDP port " + num(in.port) +
                (in.firewall_inspected ? "; the kernel's port-unreachable did not leave (rate-limited)"
                                       : "; no port-unreachable left (rate-limited, or a firewall the agent could "
                                         "not read dropped it)");
  }
  return j;
}

judged judge_udp_attempt(const port_input& in, const matching& m, std::size_t index, const listener_view& lv,
                         const std::string& dst) {
  const auto& a = in.attempts[index];
  const flow* f = m.flow_for(index);
  const bool v6 = looks_ipv6(in.target_address);
  judged j;
  if (a.outcome() == Attempt::FAILED) {
    j = judge_udp_client_only(in, a);
    return j;
  }
  if (a.outcome() == Attempt::CONNECTED) {
    if (f != nullptr) {
      j.verdict = v1::OPEN;
      j.summary = "the service replied";
    } else {
      j.verdict = v1::INTERCEPTED;
      j.summary =
          "a reply came that the server never sent (the agent saw no datagram arrive): something between "
          "you and the server answers in its name";
    }
    return j;
  }
  if (a.outcome() == Attempt::UNREACHABLE || a.outcome() == Attempt::REFUSED) {
    if (f != nullptr && !f->icmps.empty()) {
      const auto& e = m.at(f->icmps.front());
      return host_rejected(in, lv, v6, e.icmp_type(), e.icmp_code(), dst);
    }
    if (f != nullptr && from_target(in, a))  // the server's answer; the capture missed it leaving
      return host_rejected(in, lv, v6, a.has_icmp_type() ? a.icmp_type() : (v6 ? 1 : 3),
                           a.has_icmp_type() ? a.icmp_code() : (v6 ? 4 : 3), dst);
    j.verdict = v1::REJECTED_IN_TRANSIT;
    j.summary = from_target(in, a) ? "port unreachable in the server's name, yet the agent saw no datagram arrive: "
                                     "a firewall in between rejects"
                                   : "ICMP " + attempt_icmp(a) + " from " + a.icmp_from() +
                                         ", before the server: the datagram never reached it";
    return j;
  }
  // Timed out (or still running).
  if (f == nullptr) {
    j.verdict = v1::DROPPED_IN_TRANSIT;
    j.summary = "the datagram never reached the server (the agent saw none arrive): dropped on the way";
    return j;
  }
  if (!f->synacks.empty()) {
    j.verdict = v1::REPLY_LOST;
    j.summary =
        "the service replied (the agent saw the reply leave) and the reply never reached you: the way back "
        "drops it";
    return j;
  }
  if (!f->icmps.empty()) {
    const auto& e = m.at(f->icmps.front());
    j = host_rejected(in, lv, v6, e.icmp_type(), e.icmp_code(), dst);
    j.notes.push_back("the host's ICMP error left it and did not reach you");
    return j;
  }
  return host_silent(in, lv, dst);
}

std::vector<std::string> advise_udp(Verdict v, const port_input& in, const listener_view& lv) {
  const std::string host = host_of(in);
  const std::string p = num(in.port);
  const std::string nc = "nc -u -v " + host + " " + p;
  std::vector<std::string> out;
  switch (v) {
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
      out.push_back("allow UDP port " + p + " inbound in the provider's firewall (security group, cloud firewall)");
      out.push_back("on the server, watch for it: tcpdump -ni any udp port " + p);
      break;
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
      out.push_back("on the server: nft list ruleset | grep -n " + p + "   (or iptables -S | grep " + p + ")");
      break;
    case v1::NO_LISTENER: {
      out.push_back("on the server: ss -ulnp 'sport = :" + p + "'   (nothing is bound: start the service)");
      const auto kind = app_kind(in);
      if (kind == "wireguard")
        out.push_back(
            "on the server: systemctl status wg-quick@wg0; wg show   (ListenPort in /etc/wireguard/wg0.conf)");
      else if (kind == "dns")
        out.push_back("on the server: systemctl status named unbound dnsmasq   (whichever serves DNS here)");
      else if (kind == "ntp")
        out.push_back("on the server: systemctl status chrony ntpsec   (and its allow / restrict lines for clients)");
      break;
    }
    case v1::LISTENER_WRONG_ADDRESS:
      out.push_back("bind the service to the public address or to 0.0.0.0 / [::] (now: " +
                    listener_list(lv.other, in.port) + ")");
      out.push_back("on the server: ss -ulnp 'sport = :" + p + "'");
      break;
    case v1::REPLY_LOST:
      out.push_back("allow the replies from UDP port " + p +
                    " out of the server and back in: the provider's outbound rules, this machine's firewall, NAT");
      break;
    case v1::INTERCEPTED:
      out.push_back("find what answers in the server's name: traceroute -U -p " + p + " " + host);
      break;
    case v1::APP_FAILED: {
      const auto kind = app_kind(in);
      if (kind == "dns") {
        std::string query = ". NS +norecurse";  // the probe's own question, unless the user named one
        if (in.app)
          if (auto it = in.app->fields().find("name"); it != in.app->fields().end()) query = it->second;
        out.push_back("dig @" + host + " -p " + p + " " + query);
      } else if (kind == "ntp")
        out.push_back("on the server: chronyc tracking   (or ntpq -p)");
      for (const auto* l : lv.accepting)
        if (!l->unit().empty()) {
          out.push_back("on the server: journalctl -u " + l->unit() + " -n 50");
          break;
        }
      break;
    }
    case v1::FILTERED:
      out.push_back("run the agent on the server to tell a silent service from a filter");
      out.push_back("nmap -sU -p " + p + " " + host);
      break;
    case v1::CLOSED: out.push_back("on the server: ss -ulnp 'sport = :" + p + "'"); break;
    default: break;
  }
  return out;
}

}  // namespace

v1::PortReport decide_udp_port(const port_input& in) {
  v1::PortReport r;
  fill_common(in, r);
  r.set_protocol(v1::UDP);
  const bool capturing = agent_capturing(in);
  const auto m = capturing ? match_flows(in) : matching{};
  if (capturing)
    for (const auto& p : m.packets) *r.mutable_evidence()->add_agent_packets() = p;

  const flow* first = nullptr;
  for (std::size_t i = 0; i < in.attempts.size() && first == nullptr; ++i) first = m.flow_for(i);
  const std::string dst = first != nullptr && !first->dst.empty() ? first->dst : normalize_address(in.target_address);
  const auto lv = check_listeners(in, dst);

  std::vector<judged> per;
  for (std::size_t i = 0; i < in.attempts.size(); ++i)
    per.push_back(capturing ? judge_udp_attempt(in, m, i, lv, dst) : judge_udp_client_only(in, in.attempts[i]));
  const int chosen = deciding_attempt(per);
  if (chosen < 0) {
    r.set_verdict(v1::VERDICT_UNSPECIFIED);
    r.set_summary("not probed");
    return r;
  }
  judged j = per[static_cast<std::size_t>(chosen)];
  std::vector<std::string> notes = j.notes;
  // The service's answer decides OPEN against APP_FAILED.
  if (j.verdict == v1::OPEN && in.app && in.app->has_ok()) {
    const auto kind = app_kind(in);
    if (!in.app->ok()) {
      j.verdict = v1::APP_FAILED;
      j.summary = "the " + kind + " service replied with an error" +
                  (in.app->detail().empty() ? std::string() : ": " + in.app->detail());
    } else if (!in.app->detail().empty()) {
      j.summary += ", " + kind + ": " + in.app->detail();
    }
  }
  if (per.size() > 1) {
    std::size_t lost = 0, unseen = 0;
    for (const auto& p : per) {
      if (p.verdict == v1::REPLY_LOST) ++lost;
      if (p.verdict == v1::DROPPED_IN_TRANSIT) ++unseen;
    }
    if (lost > 0 && unseen > 0 && lost + unseen == per.size()) {
      j.summary = "the path loses packets at random: of " + num(per.size()) + " datagrams, " + num(unseen) +
                  " never reached the server and " + num(lost) + " were answered, the answers lost on the way back";
      notes.push_back("lossy path, not a filter (a filter treats every datagram alike): mtr -u " + in.target +
                      " shows where packets are lost");
    } else if (j.verdict == v1::OPEN && (lost > 0 || unseen > 0)) {
      notes.push_back("loss: " + num(lost + unseen) + " of " + num(per.size()) + " datagrams or replies were lost");
    }
  }
  if (capturing) {
    if (const flow* f = m.flow_for(static_cast<std::size_t>(chosen)))
      flow_notes(in, m, *f, &in.attempts[static_cast<std::size_t>(chosen)], notes);
    if (in.capture_drops > 0)
      notes.push_back("the agent's capture dropped " + num(in.capture_drops) +
                      " packets (kernel buffer): the evidence may be incomplete");
  } else if (j.verdict != v1::OPEN) {
    notes.push_back(client_only_reason(in));
  }
  r.set_verdict(j.verdict);
  r.set_summary(j.summary);
  for (auto& n : notes) r.mutable_evidence()->add_notes(std::move(n));
  for (const auto& n : in.agent_notes) r.mutable_evidence()->add_notes(n);
  const auto v = j.verdict;
  if (capturing && (v == v1::OPEN || v == v1::APP_FAILED || v == v1::DROPPED_BY_HOST_FIREWALL ||
                    v == v1::REJECTED_BY_HOST_FIREWALL || v == v1::NO_LISTENER || v == v1::LISTENER_WRONG_ADDRESS))
    for (const auto& s : in.host_advice) add_advice_once(r, s);
  for (auto& s : advise_udp(v, in, lv)) add_advice_once(r, std::move(s));
  return r;
}

}  // namespace dropspot::verdict_detail
