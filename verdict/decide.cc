// Putting it together: one port's verdict, and whether its evidence is complete.
#include <algorithm>

#include "verdict/internal.h"

namespace dropspot {

namespace verdict_detail {

void add_advice_once(v1::PortReport& r, std::string s) {
  if (std::find(r.advice().begin(), r.advice().end(), s) == r.advice().end()) r.add_advice(std::move(s));
}

void fill_common(const port_input& in, v1::PortReport& r) {
  r.set_port(in.port);
  r.set_protocol(in.udp ? v1::UDP : v1::TCP);
  r.set_probe(in.probe);
  auto* ev = r.mutable_evidence();
  for (const auto& a : in.attempts) *ev->add_attempts() = a;
  for (const auto& l : in.listeners) *ev->add_listeners() = l;
  for (const auto& f : in.firewall) ev->add_firewall(f);
  for (const auto& s : in.host_services) ev->add_services(s);
  for (const auto& s : in.saved_rules) ev->add_saved_rules(s);
  if (in.hop) *ev->mutable_hop() = *in.hop;
  if (in.app) *r.mutable_app() = *in.app;
}

namespace {

/// OPEN becomes APP_FAILED when the application probe failed.
void apply_app(const port_input& in, judged& j) {
  if (j.verdict != v1::OPEN || !in.app) return;
  const auto kind = in.app->kind().empty() ? in.probe : in.app->kind();
  if (!in.app->ok()) {
    j.verdict = v1::APP_FAILED;
    j.summary = "TCP connects, the " + kind + " probe failed" +
                (in.app->detail().empty() ? std::string() : ": " + in.app->detail());
  } else if (!in.app->detail().empty()) {
    j.summary += ", " + kind + ": " + in.app->detail();
  }
}

v1::PortReport decide_client_only(const port_input& in) {
  v1::PortReport r;
  fill_common(in, r);
  std::vector<std::string> notes;
  judged chosen;
  int chosen_index = -1;
  std::size_t failures = 0;
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    auto j = judge_client_only(in.attempts[i]);
    if (j.verdict != v1::OPEN) ++failures;
    if (chosen_index < 0 || (chosen.failed_locally && !j.failed_locally) ||
        (j.failed_locally == chosen.failed_locally && rank(j.verdict) >= rank(chosen.verdict))) {
      chosen = std::move(j);
      chosen_index = static_cast<int>(i);
    }
  }
  if (chosen_index < 0) {
    r.set_verdict(v1::VERDICT_UNSPECIFIED);
    r.set_summary("not probed");
    return r;
  }
  if (chosen.verdict == v1::OPEN && failures > 0)
    notes.push_back("loss: " + num(failures) + " of " + num(in.attempts.size()) +
                    " attempts failed before one connected");
  apply_app(in, chosen);
  apply_path_mtu(in, chosen, notes, r);
  if (chosen.verdict != v1::OPEN && chosen.verdict != v1::PATH_MTU_BLACKHOLE) notes.push_back(client_only_reason(in));
  const auto lv = check_listeners(in, normalize_address(in.target_address));
  if (in.agent.status() == v1::AgentInfo::CONNECTED && in.listeners_known) {
    if (chosen.verdict == v1::CLOSED && lv.fit == listener_view::none)
      notes.push_back("the agent reports nothing listening on port " + num(in.port) + ": probably NO_LISTENER");
    else if (chosen.verdict == v1::CLOSED && lv.fit == listener_view::elsewhere)
      notes.push_back("the agent reports " + listener_list(lv.other, in.port) +
                      " only: probably LISTENER_WRONG_ADDRESS");
    else if (chosen.verdict == v1::FILTERED && lv.fit == listener_view::accepts)
      notes.push_back("the agent reports " + listener_list(lv.accepting, in.port) +
                      ": the service is ready, a firewall on the way or on the host drops the SYNs");
  }
  app_notes(in, notes);
  r.set_verdict(chosen.verdict);
  r.set_summary(chosen.summary);
  for (auto& n : notes) r.mutable_evidence()->add_notes(std::move(n));
  for (const auto& n : in.agent_notes) r.mutable_evidence()->add_notes(n);
  advice_context ctx;
  ctx.dst = normalize_address(in.target_address);
  ctx.failed_locally = chosen.failed_locally;
  for (auto& s : advise(chosen.verdict, in, lv, ctx)) add_advice_once(r, std::move(s));
  return r;
}

/// An attempt that connected, or that the evidence calls OPEN/APP_FAILED and
/// the prober itself saw connect; a timed-out attempt the agent saw answered
/// still lost its reply on the way.
bool attempt_got_through(const Attempt& a, const judged& j) {
  if (j.verdict != v1::OPEN && j.verdict != v1::APP_FAILED) return false;
  return a.outcome() == Attempt::CONNECTED || a.outcome() == Attempt::OUTCOME_UNSPECIFIED;
}

}  // namespace
}  // namespace verdict_detail

using namespace verdict_detail;

bool agent_capturing(const port_input& in) {
  const auto& ag = in.agent;
  if (ag.status() != v1::AgentInfo::CONNECTED || !ag.capture_active()) return false;
  const auto& refused = in.udp ? ag.refused_udp_ports() : ag.refused_ports();
  return std::find(refused.begin(), refused.end(), in.port) == refused.end();
}

v1::PortReport decide_port(const port_input& in) {
  if (in.udp) return decide_udp_port(in);
  if (!agent_capturing(in)) return decide_client_only(in);

  v1::PortReport r;
  fill_common(in, r);
  const auto m = match_flows(in);
  for (const auto& p : m.packets) *r.mutable_evidence()->add_agent_packets() = p;

  std::vector<judged> per;
  per.reserve(in.attempts.size());
  for (std::size_t i = 0; i < in.attempts.size(); ++i) per.push_back(judge_attempt(in, m, i));
  const int chosen = deciding_attempt(per);
  if (chosen < 0) {
    r.set_verdict(v1::VERDICT_UNSPECIFIED);
    r.set_summary("not probed");
    for (const auto& n : in.agent_notes) r.mutable_evidence()->add_notes(n);
    return r;
  }
  const auto ci = static_cast<std::size_t>(chosen);
  judged j = per[ci];
  const flow* f = m.flow_for(ci);

  std::vector<std::string> notes = j.notes;
  // Several attempts: loss and disagreement.
  if (per.size() > 1) {
    std::size_t failed = 0, lost_syns = 0, lost_replies = 0;
    bool differ = false;
    for (std::size_t i = 0; i < per.size(); ++i) {
      if (!attempt_got_through(in.attempts[i], per[i])) ++failed;
      if (per[i].verdict != j.verdict && !per[i].failed_locally) differ = true;
      if (per[i].verdict == v1::DROPPED_IN_TRANSIT) ++lost_syns;
      if (per[i].verdict == v1::REPLY_LOST) ++lost_replies;
    }
    // Some SYNs lost, the others' answers lost, nothing else: random loss.
    const bool random_loss = lost_syns > 0 && lost_replies > 0 && lost_syns + lost_replies == per.size();
    if (j.verdict == v1::OPEN && failed > 0) {
      std::string s = "loss: " + num(failed) + " of " + num(per.size()) + " attempts failed before one connected (";
      bool first = true;
      for (std::size_t i = 0; i < per.size(); ++i) {
        if (attempt_got_through(in.attempts[i], per[i])) continue;
        s += (first ? "" : "; ") + std::string("attempt ") + num(i + 1) + ": " +
             (per[i].verdict == v1::OPEN ? "the prober gave up waiting (" + per[i].summary + ")" : per[i].summary);
        first = false;
      }
      notes.push_back(s + ")");
    } else if (random_loss) {
      // A filter treats every SYN alike; these fared differently.
      j.summary = "the path loses packets at random: of " + num(per.size()) + " SYNs, " + num(lost_syns) +
                  " never reached the server and " + num(lost_replies) +
                  (lost_replies == 1 ? " was answered, the answer" : " were answered, the answers") +
                  " lost on the way back; no handshake completed";
      notes.push_back("lossy path, not a filter (a filter drops every SYN alike): mtr or ping -c 100 " + in.target +
                      " shows where packets are lost");
    } else if (differ) {
      std::string s = "attempts disagree:";
      for (std::size_t i = 0; i < per.size(); ++i)
        s += (i ? ", " : " ") + num(i + 1) + " " + v1::Verdict_Name(per[i].verdict);
      notes.push_back(s + " (intermittent loss; the attempt that got furthest decides)");
    }
  }
  if (f != nullptr) flow_notes(in, m, *f, &in.attempts[ci], notes);
  // NAT seen on the control channel when no SYN tells.
  if (f == nullptr && !in.prober_address.empty() && !in.agent.peer_address().empty() &&
      normalize_address(in.prober_address) != normalize_address(in.agent.peer_address()))
    notes.push_back("source address translated: you are " + in.prober_address + ", the agent sees " +
                    in.agent.peer_address());
  // Other attempts' SYNs that arrived late.
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    if (i == ci) continue;
    if (const flow* g = m.flow_for(i);
        g != nullptr && in.attempts[i].outcome() != Attempt::CONNECTED && in.attempts[i].start_unix_us() > 0) {
      const auto end = attempt_end_us(in.attempts[i]);
      const auto t = m.time(g->syns.front());
      if (t > end + static_cast<std::uint64_t>(tolerance_ms(in) * 1000))
        notes.push_back("attempt " + num(i + 1) + "'s SYN reached the server " +
                        ms_text(static_cast<double>(t - end) / 1000.0) + " after the prober gave up on it");
    }
  }
  std::size_t unmatched_flows = 0;
  for (const auto& fl : m.flows)
    if (fl.attempt < 0) ++unmatched_flows;
  if (unmatched_flows > 0)
    notes.push_back("the agent saw SYNs from " + num(unmatched_flows) +
                    " connection(s) that match no attempt of the prober");
  std::size_t stray_replies = 0;
  for (auto i : m.stray)
    if (m.at(i).direction() == PacketEvent::OUTBOUND) ++stray_replies;
  if (stray_replies > 0)
    notes.push_back("the server sent " + num(stray_replies) + " packet(s) to the prober that match no SYN it saw");
  if (in.capture_drops > 0)
    notes.push_back("the agent's capture dropped " + num(in.capture_drops) +
                    " packets (kernel buffer): the evidence may be incomplete");

  const std::string dst = f != nullptr && !f->dst.empty() ? f->dst : normalize_address(in.target_address);
  const auto lv = check_listeners(in, dst);
  apply_app(in, j);
  apply_path_mtu(in, j, notes, r);
  if (f == nullptr && (j.verdict == v1::DROPPED_IN_TRANSIT || j.verdict == v1::REJECTED_IN_TRANSIT)) {
    if (lv.fit == listener_view::accepts)
      notes.push_back("the server is ready: " + listener_list(lv.accepting, in.port));
    else if (lv.fit == listener_view::none)
      notes.push_back("nothing listens on port " + num(in.port) +
                      " either: once packets arrive, the service must be started too");
    else if (lv.fit == listener_view::elsewhere)
      notes.push_back("once packets arrive: " + listener_list(lv.other, in.port) +
                      " only, so the service must also be bound to the public address");
    if (in.hop && in.hop->path_length() > 0 && in.hop->last_hop() > 0) {
      if (in.hop->last_hop() + 1 >= in.hop->path_length())
        notes.push_back("the drop is just before the server: the provider's packet filter is the likely place");
      else if (in.hop->last_hop() <= 2)
        notes.push_back("the drop is close to the prober: its own router or firewall, or the ISP");
    }
    if (in.hop && !in.hop->note().empty()) notes.push_back(in.hop->note());
  }
  if (j.verdict == v1::OPEN && lv.fit == listener_view::accepts) {
    const auto& l = *lv.accepting.front();
    j.summary += ", " + listener_owner(l) + " on " + host_port(l.address().empty() ? "*" : l.address(), in.port);
  }
  app_notes(in, notes);

  r.set_verdict(j.verdict);
  r.set_summary(j.summary);
  for (auto& n : notes) r.mutable_evidence()->add_notes(std::move(n));
  for (const auto& n : in.agent_notes) r.mutable_evidence()->add_notes(n);
  advice_context ctx;
  ctx.dst = dst;
  ctx.syn_seen = f != nullptr;
  ctx.failed_locally = j.failed_locally;
  // the agent's commands for this host first, where the host decides
  if (j.verdict == v1::OPEN || j.verdict == v1::APP_FAILED || j.verdict == v1::DROPPED_BY_HOST_FIREWALL ||
      j.verdict == v1::REJECTED_BY_HOST_FIREWALL || j.verdict == v1::NO_LISTENER ||
      j.verdict == v1::LISTENER_WRONG_ADDRESS)
    for (const auto& s : in.host_advice) add_advice_once(r, s);
  for (auto& s : advise(j.verdict, in, lv, ctx)) add_advice_once(r, std::move(s));
  return r;
}

std::vector<attempt_fate> attempt_fates(const port_input& in) {
  std::vector<attempt_fate> fates;
  fates.reserve(in.attempts.size());
  const auto m = match_flows(in);
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    const auto& a = in.attempts[i];
    const flow* f = m.flow_for(i);
    switch (a.outcome()) {
      case Attempt::OUTCOME_UNSPECIFIED: fates.push_back(attempt_fate::running); continue;
      case Attempt::CONNECTED: fates.push_back(attempt_fate::connected); continue;
      case Attempt::REFUSED:
      case Attempt::UNREACHABLE: fates.push_back(attempt_fate::answered); continue;
      case Attempt::FAILED: fates.push_back(attempt_fate::failed); continue;
      default: break;
    }
    if (f == nullptr)
      fates.push_back(attempt_fate::syn_unseen);
    else if (f->replied())
      fates.push_back(attempt_fate::reply_lost);
    else
      fates.push_back(attempt_fate::host_silent);
  }
  return fates;
}

std::size_t more_attempts(const std::vector<attempt_fate>& fates, const attempt_budget& budget) {
  if (fates.empty()) return 1;
  std::size_t unseen = 0, lost = 0, failed = 0;
  for (auto f : fates) {
    switch (f) {
      case attempt_fate::connected:
      case attempt_fate::answered:
      case attempt_fate::host_silent: return 0;
      case attempt_fate::running: break;
      case attempt_fate::syn_unseen: ++unseen; break;
      case attempt_fate::reply_lost: ++lost; break;
      case attempt_fate::failed: ++failed; break;
    }
  }
  const std::size_t n = fates.size();
  const auto up_to = [n](std::size_t total) { return total > n ? total - n : std::size_t{0}; };
  if (unseen > 0 && lost > 0) return std::min(budget.lossy_batch, up_to(std::max(budget.lossy, budget.same_unseen)));
  if (lost > 0) return up_to(std::max(budget.same_reply_lost, budget.same_unseen));
  if (unseen > 0) return up_to(budget.same_unseen);
  return failed > 0 && fates.back() == attempt_fate::failed ? std::min<std::size_t>(1, up_to(budget.same_unseen)) : 0;
}

evidence_check agent_evidence_complete(const port_input& in, std::uint64_t now_unix_us, double control_rtt_ms,
                                       const evidence_timing& timing) {
  evidence_check c;
  if (!agent_capturing(in)) {
    c.complete = true;
    c.why = "no agent capture for this port";
    return c;
  }
  if (in.attempts.empty()) {
    c.why = "no attempt yet";
    return c;
  }
  const double grace_ms = std::max(timing.min_grace_ms, timing.rtt_factor * std::max(0.0, control_rtt_ms));
  const auto grace_us = static_cast<std::uint64_t>(grace_ms * 1000);
  const auto m = match_flows(in);
  const auto last = in.attempts.size() - 1;
  const auto& a = in.attempts[last];
  const flow* f = m.flow_for(last);
  /// Complete when `since` is at least grace ago; else when to ask again.
  auto after_grace = [&](std::uint64_t since, const char* done, const char* waiting) {
    if (now_unix_us >= since + grace_us) {
      c.complete = true;
      c.why = done;
    } else {
      c.why = waiting;
      c.recheck_in_ms = static_cast<double>(since + grace_us - now_unix_us) / 1000.0;
    }
    return c;
  };

  if (a.outcome() == Attempt::FAILED) {
    c.complete = true;
    c.why = "the attempt failed locally: nothing to wait for";
    return c;
  }
  const bool attempts_left = in.attempts.size() < timing.attempts_allowed;
  const char* reply_lost_retry = "the host's reply was lost: the next attempt tells one lost packet from a lost path";
  if (a.outcome() != Attempt::OUTCOME_UNSPECIFIED) {
    if (f != nullptr && f->replied()) {
      if (a.outcome() == Attempt::TIMED_OUT && attempts_left) {
        c.why = reply_lost_retry;
        return c;
      }
      c.complete = true;
      c.why = "the SYN and the host's reply were seen";
      return c;
    }
    return after_grace(attempt_end_us(a), "the attempt ended and the grace for late packets passed",
                       "waiting for the agent's packets still on the way");
  }
  // Still running.
  const auto margin_us = static_cast<std::uint64_t>(std::max(0.0, timing.barrier_margin_ms) * 1000);
  if (f == nullptr) {
    if (timing.barrier_unix_us > 0 && a.start_unix_us() > 0 &&
        timing.barrier_unix_us >= a.start_unix_us() + margin_us) {
      c.end_attempt = true;
      c.why = "a barrier sent after the SYN came back from the agent without it: the SYN is not coming";
      return c;
    }
    c.why = "no SYN seen yet: waiting for a barrier";
    return c;
  }
  if (const auto r = m.first_reply(*f); r != matching::npos) {
    if (attempts_left) {  // the reply had its time: the next attempt tells one lost packet from a lost path
      const double wait_ms =
          std::max(timing.min_reply_wait_ms, timing.reply_wait_rtt_factor * std::max(0.0, control_rtt_ms));
      const auto heard = timing.reply_heard_unix_us > 0 ? timing.reply_heard_unix_us : m.time(r);
      const auto until = heard + static_cast<std::uint64_t>(wait_ms * 1000);
      c.why = reply_lost_retry;
      if (now_unix_us >= until)
        c.end_attempt = true;
      else
        c.recheck_in_ms = static_cast<double>(until - now_unix_us) / 1000.0;
      return c;
    }
    return after_grace(m.time(r), "the host replied and the prober did not get the reply: it was lost",
                       "the host replied: waiting for the prober to get it");
  }
  if (in.udp && in.awaiting_service) {  // a program answers, not the kernel: it may take its time
    c.why = "the datagram arrived at a bound socket: waiting for the service's reply";
    return c;
  }
  if (timing.syn_heard_unix_us > 0 && timing.barrier_unix_us >= timing.syn_heard_unix_us + margin_us) {
    c.complete = true;
    c.why = "the SYN arrived, and a barrier sent after the prober heard of it came back with no reply from the host";
    return c;
  }
  return after_grace(m.time(f->syns.front()), "the SYN arrived and nothing left the host within the grace",
                     "the SYN arrived: waiting for the host's reply");
}

}  // namespace dropspot
