// Per-attempt verdicts: what one attempt and its flow say (see decide_port in
// verdict/verdict.h for the table).
#include "common/firewall_rule.h"
#include "verdict/internal.h"

namespace dropspot::verdict_detail {

/// How far an attempt's SYN got; the furthest attempt decides.
int rank(Verdict v) {
  switch (v) {
    case v1::OPEN:
    case v1::APP_FAILED: return 5;
    case v1::INTERCEPTED: return 4;
    case v1::REPLY_LOST:
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
    case v1::NO_LISTENER:
    case v1::LISTENER_WRONG_ADDRESS: return 3;
    case v1::CLOSED: return 2;
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
    case v1::FILTERED: return 1;
    default: return 0;
  }
}

namespace {

std::string icmp_from_attempt(const Attempt& a) {
  const bool v6 = looks_ipv6(a.icmp_from()) || (a.icmp_from().empty() && a.icmp_type() >= 128);
  if (a.icmp_type() == 0 && a.icmp_code() == 0 && !v6) return "unreachable";
  return icmp_error_name(v6, a.icmp_type(), a.icmp_code());
}

std::string hop_phrase(const port_input& in, const std::string& address) {
  if (in.hop && !in.hop->last_hop_address().empty() && in.hop->last_hop() > 0 &&
      normalize_address(in.hop->last_hop_address()) == normalize_address(address))
    return " (hop " + num(in.hop->last_hop()) + ")";
  return "";
}

/// The SYN reached the host; what the host did decides.
judged judge_host_side(const port_input& in, const matching& m, const flow& f, const Attempt& a) {
  judged j;
  const auto lv = check_listeners(in, f.dst.empty() ? normalize_address(in.target_address) : f.dst);
  const std::string n = num(in.port);
  const bool timed_out = a.outcome() == Attempt::TIMED_OUT || a.outcome() == Attempt::OUTCOME_UNSPECIFIED;

  if (!f.synacks.empty()) {
    // The kernel accepted: the handshake answer left, the prober never saw it.
    j.verdict = v1::REPLY_LOST;
    if (a.outcome() == Attempt::REFUSED) {
      j.summary = "the server answered SYN-ACK, yet a reset came back: rewritten on the return path";
    } else if (a.outcome() == Attempt::UNREACHABLE) {
      j.summary = "the server answered SYN-ACK, an ICMP " + icmp_from_attempt(a) + " from " + a.icmp_from() +
                  " came back instead: return path";
    } else {
      j.summary = "the server answered SYN-ACK, it never came back: the return path loses it";
    }
    return j;
  }
  if (a.outcome() == Attempt::CONNECTED) {
    if (!f.rsts.empty() || !f.icmps.empty()) {
      j.verdict = v1::INTERCEPTED;
      j.summary = "the prober connected, but the server refused its SYN: something else answered";
      return j;
    }
    j.verdict = v1::OPEN;
    j.summary = "handshake completed";
    j.notes.push_back("the agent saw the SYN but not the SYN-ACK leave (the capture may have missed it)");
    return j;
  }
  if (!f.icmps.empty()) {
    const auto& icmp = m.at(f.icmps.front());
    j.verdict = v1::REJECTED_BY_HOST_FIREWALL;
    j.summary = "SYNs arrive, the server's firewall rejects them (ICMP " +
                icmp_error_name(looks_ipv6(icmp.src()) || looks_ipv6(f.src), icmp.icmp_type(), icmp.icmp_code()) + ")";
    if (!in.firewall.empty()) j.summary += ": " + in.firewall.front();
    if (lv.fit == listener_view::none)
      j.notes.push_back("nothing listens on port " + n + " either: after fixing the firewall, start the service");
    if (timed_out) j.notes.push_back("the ICMP error the server sent never reached the prober");
    return j;
  }
  if (!f.rsts.empty()) {
    if (timed_out)
      j.notes.push_back("the reset the server sent never reached the prober: the return path drops it too");
    switch (lv.fit) {
      case listener_view::accepts:
        j.verdict = v1::REJECTED_BY_HOST_FIREWALL;
        j.summary = "SYNs arrive and " + listener_owner(*lv.accepting.front()) +
                    " listens, yet a reset answers: a firewall reject rule";
        if (!in.firewall.empty()) j.summary += ": " + in.firewall.front();
        return j;
      case listener_view::elsewhere:
        j.verdict = v1::LISTENER_WRONG_ADDRESS;
        j.summary = wrong_address_summary(lv, in.port, f.dst);
        return j;
      case listener_view::unknown:
        j.verdict = v1::NO_LISTENER;
        j.summary = "SYNs arrive, the server answers reset: nothing listens on port " + n;
        j.notes.push_back("the agent could not list listeners: a firewall reject rule with tcp-reset looks the same");
        return j;
      case listener_view::none:
        j.verdict = v1::NO_LISTENER;
        j.summary = "SYNs arrive, the kernel answers reset: nothing listens on port " + n;
        if (!in.service_summary.empty()) j.summary += ": " + in.service_summary;
        return j;
    }
  }
  // Nothing left the host.
  if (a.outcome() == Attempt::REFUSED || a.outcome() == Attempt::UNREACHABLE) {
    j.verdict = v1::REJECTED_IN_TRANSIT;
    if (a.outcome() == Attempt::REFUSED)
      j.summary = "a reset the server never sent: something in between rejects (the SYN did arrive)";
    else
      j.summary = "ICMP " + icmp_from_attempt(a) + " from " + (a.icmp_from().empty() ? "the path" : a.icmp_from()) +
                  hop_phrase(in, a.icmp_from()) + ", which the server never sent (the SYN did arrive)";
    return j;
  }
  if (lv.fit == listener_view::elsewhere) {
    j.verdict = v1::LISTENER_WRONG_ADDRESS;
    j.summary = wrong_address_summary(lv, in.port, f.dst);
    j.notes.push_back(
        "nothing left the server either, where the kernel would answer a reset: a firewall rule also drops "
        "these SYNs (nft list ruleset; iptables -S)");
    return j;
  }
  j.verdict = v1::DROPPED_BY_HOST_FIREWALL;
  j.summary = "SYNs arrive, nothing answers: a firewall rule on the server drops them";
  if (!in.firewall.empty() && in.firewall.front() == output_path_marker) {
    j.summary = "SYNs arrive, nothing leaves: the server's firewall drops its reply on the way out" +
                (in.firewall.size() > 1 ? ": " + in.firewall[1] : std::string());
  } else if (!in.firewall.empty()) {
    j.summary = "SYNs arrive, nothing answers: the server's firewall drops them: " + in.firewall.front();
  } else if (in.firewall_inspected) {
    j.summary = "SYNs arrive, nothing answers, and no firewall rule explains it";
    j.notes.push_back("the agent read the server's rulesets (nftables, iptables) and no rule drops port " + n +
                      " for the prober's address: look for what the agent cannot read (a firewall in another "
                      "namespace or container, eBPF/XDP programs, tc filters, a hypervisor filter)");
  }
  if (lv.fit == listener_view::none)
    j.notes.push_back("nothing listens on port " + n +
                      " either: after fixing the firewall there will still be nothing to answer");
  else if (lv.fit == listener_view::unknown)
    j.notes.push_back("the agent could not list listeners on port " + n);
  return j;
}

}  // namespace

judged judge_attempt(const port_input& in, const matching& m, std::size_t index) {
  const auto& a = in.attempts[index];
  const flow* f = m.flow_for(index);
  judged j;
  if (a.outcome() == Attempt::OUTCOME_UNSPECIFIED) {
    if (f != nullptr) return judge_host_side(in, m, *f, a);
    return j;  // unfinished, nothing seen: no information
  }
  if (a.outcome() == Attempt::FAILED) {
    if (f != nullptr) return judge_host_side(in, m, *f, a);
    j.failed_locally = true;
    j.verdict = v1::DROPPED_IN_TRANSIT;
    j.summary = "the connection failed on this machine" + (a.error().empty() ? std::string() : ": " + a.error()) +
                " (client firewall or routing)";
    return j;
  }
  if (f != nullptr) {
    if (a.outcome() == Attempt::CONNECTED && !f->synacks.empty()) {
      j.verdict = v1::OPEN;
      j.summary = "handshake completed";
      return j;
    }
    return judge_host_side(in, m, *f, a);
  }
  // The agent saw no SYN for this attempt.
  switch (a.outcome()) {
    case Attempt::CONNECTED:
      j.verdict = v1::INTERCEPTED;
      j.summary = "the prober connected, but the server never saw the SYN: a middlebox or another host answered";
      return j;
    case Attempt::TIMED_OUT:
      if (in.hop && in.hop->target_connected()) {
        // The hop search's own SYN got through and the target answered it:
        // the path drops some packets, not this port.
        j.verdict = v1::OPEN;
        j.summary = "handshake completed, but only by the hop search's SYN (TTL " + num(in.hop->path_length()) +
                    "): the prober's SYNs were lost on the way";
        j.notes.push_back(
            "loss: this attempt's SYN never reached the server, a later SYN did: intermittent loss "
            "on the path, not a filter (no application probe ran on this port)");
        return j;
      }
      j.verdict = v1::DROPPED_IN_TRANSIT;
      if (in.hop && in.hop->last_hop() > 0) {
        j.summary = "the SYN never reached the server: dropped after hop " + num(in.hop->last_hop()) +
                    (in.hop->last_hop_address().empty() ? "" : " (" + in.hop->last_hop_address() + ")");
      } else {
        j.summary = "the SYN never reached the server: dropped on the way";
      }
      return j;
    case Attempt::REFUSED:
      j.verdict = v1::REJECTED_IN_TRANSIT;
      j.summary = "a reset the server never sent: rejected before the server";
      return j;
    case Attempt::UNREACHABLE: {
      j.verdict = v1::REJECTED_IN_TRANSIT;
      const auto from = normalize_address(a.icmp_from());
      if (from.empty()) {
        j.summary = "unreachable before the server" + (a.error().empty() ? std::string() : ": " + a.error());
      } else if (from == normalize_address(in.target_address)) {
        j.summary = "ICMP " + icmp_from_attempt(a) +
                    " in the server's name, but the server never saw the SYN: a filter in front of it rejects";
      } else {
        j.summary = "rejected before the server: ICMP " + icmp_from_attempt(a) + " from " + a.icmp_from() +
                    hop_phrase(in, a.icmp_from());
      }
      return j;
    }
    default: return j;
  }
}

/// Client-only verdict of one attempt (no agent capture).
int deciding_attempt(const std::vector<judged>& per) {
  int chosen = -1;
  for (std::size_t i = 0; i < per.size(); ++i) {
    const auto& j = per[i];
    if (j.verdict == v1::VERDICT_UNSPECIFIED) continue;
    if (chosen >= 0) {
      const auto& c = per[static_cast<std::size_t>(chosen)];
      if (!(c.failed_locally && !j.failed_locally) &&
          !(c.failed_locally == j.failed_locally && rank(j.verdict) >= rank(c.verdict)))
        continue;
    }
    chosen = static_cast<int>(i);
  }
  return chosen;
}

judged judge_client_only(const Attempt& a) {
  judged j;
  switch (a.outcome()) {
    case Attempt::CONNECTED:
      j.verdict = v1::OPEN;
      j.summary = "handshake completed (client-only view)";
      break;
    case Attempt::REFUSED:
      j.verdict = v1::CLOSED;
      j.summary = "connection refused (reset): nothing listens, or a firewall rejects (client-only view)";
      break;
    case Attempt::TIMED_OUT:
      j.verdict = v1::FILTERED;
      j.summary = "no answer: dropped somewhere, where is unknown (client-only view)";
      break;
    case Attempt::UNREACHABLE:
      j.verdict = v1::FILTERED;
      j.summary = "rejected: ICMP " + icmp_from_attempt(a) +
                  (a.icmp_from().empty() ? std::string() : " from " + a.icmp_from()) + " (client-only view)";
      break;
    default:
      j.failed_locally = true;
      j.verdict = v1::FILTERED;
      j.summary = "the connection failed on this machine" + (a.error().empty() ? std::string() : ": " + a.error());
      break;
  }
  return j;
}

}  // namespace dropspot::verdict_detail
