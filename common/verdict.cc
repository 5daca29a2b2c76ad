#include "common/verdict.h"

#include <asio/ip/address.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>

#include "common/firewall_rule.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot {

namespace {

using v1::Attempt;
using v1::PacketEvent;
using v1::Verdict;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

std::string num(std::uint64_t n) { return std::to_string(n); }

/// "12 ms", "0.4 ms", "1500 ms".
std::string ms_text(double ms) {
  char buf[32];
  if (ms < 0) ms = 0;
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
  return buf;
}

bool is_v6(std::string_view address) { return address.find(':') != std::string_view::npos; }

/// "198.51.100.2:40000", "[2001:db8::2]:40000".
std::string host_port(std::string_view address, std::uint32_t port) {
  std::string a(address);
  if (is_v6(a)) a = "[" + a + "]";
  return a + ":" + num(port);
}

bool is_loopback(const std::string& normalized) {
  return normalized == "::1" || normalized.rfind("127.", 0) == 0 || normalized == "localhost";
}

/// The service a port usually belongs to, for `systemctl status X` advice.
std::string service_guess(std::uint32_t port) {
  switch (port) {
    case 22:
      return "sshd";
    case 25:
    case 465:
    case 587:
      return "postfix";
    case 80:
    case 443:
      return "nginx";
    case 3306:
      return "mariadb";
    case 5432:
      return "postgresql";
    default:
      return "<service>";
  }
}

std::uint64_t attempt_end_us(const Attempt& a) {
  return a.start_unix_us() + static_cast<std::uint64_t>(std::max(0.0, a.elapsed_ms()) * 1000.0);
}

// ---------------------------------------------------------------------------
// Matching the agent's packets to the prober's attempts
// ---------------------------------------------------------------------------

/// One connection as the agent saw it: the SYNs from one source address and
/// port (retransmissions included) and what followed.
struct flow {
  std::string src;  ///< normalised
  std::uint32_t src_port = 0;
  std::string dst;                       ///< normalised; the server's address as the SYN carried it
  std::vector<std::size_t> syns;         ///< inbound SYNs
  std::vector<std::size_t> synacks;      ///< outbound SYN-ACKs
  std::vector<std::size_t> rsts;         ///< outbound RSTs
  std::vector<std::size_t> icmps;        ///< outbound ICMP errors (host firewall reject)
  std::vector<std::size_t> client_rsts;  ///< inbound RSTs from the prober's side
  std::vector<std::size_t> client_acks;  ///< inbound ACK/data: the handshake completed
  std::vector<std::size_t> icmps_in;     ///< inbound ICMP errors about our replies
  int attempt = -1;

  bool replied() const { return !synacks.empty() || !rsts.empty() || !icmps.empty(); }
};

struct matching {
  std::vector<PacketEvent> packets;  ///< times on the prober's clock, sorted
  std::vector<flow> flows;           ///< in order of first SYN
  std::vector<std::size_t> stray;    ///< packets that belong to no flow
  std::vector<int> flow_of_attempt;  ///< index into flows or -1, per attempt

  const PacketEvent& at(std::size_t i) const { return packets[i]; }
  std::uint64_t time(std::size_t i) const { return packets[i].time_unix_us(); }
  const flow* flow_for(std::size_t attempt) const {
    const int f = attempt < flow_of_attempt.size() ? flow_of_attempt[attempt] : -1;
    return f < 0 ? nullptr : &flows[static_cast<std::size_t>(f)];
  }
  /// Earliest reply leaving the host, or npos.
  std::size_t first_reply(const flow& f) const {
    std::size_t best = npos;
    for (const auto* list : {&f.synacks, &f.rsts, &f.icmps})
      for (auto i : *list)
        if (best == npos || time(i) < time(best)) best = i;
    return best;
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

double tolerance_ms(const port_input& in) { return std::max(50.0, 2 * in.agent.rtt_ms()); }

matching match_flows(const port_input& in) {
  matching m;
  m.packets = in.packets;
  for (auto& p : m.packets) {
    const auto t = static_cast<std::int64_t>(p.time_unix_us()) - in.agent_clock_offset_us;
    p.set_time_unix_us(t < 0 ? 0 : static_cast<std::uint64_t>(t));
  }
  std::stable_sort(m.packets.begin(), m.packets.end(),
                   [](const PacketEvent& a, const PacketEvent& b) { return a.time_unix_us() < b.time_unix_us(); });

  for (std::size_t i = 0; i < m.packets.size(); ++i) {
    const auto& p = m.packets[i];
    if (p.direction() != PacketEvent::INBOUND || p.kind() != PacketEvent::SYN) continue;
    const auto src = normalize_address(p.src());
    auto it = std::find_if(m.flows.begin(), m.flows.end(),
                           [&](const flow& f) { return f.src == src && f.src_port == p.src_port(); });
    if (it == m.flows.end()) {
      flow f;
      f.src = src;
      f.src_port = p.src_port();
      f.dst = normalize_address(p.dst());
      m.flows.push_back(std::move(f));
      it = m.flows.end() - 1;
    }
    it->syns.push_back(i);
  }

  for (std::size_t i = 0; i < m.packets.size(); ++i) {
    const auto& p = m.packets[i];
    const bool out = p.direction() == PacketEvent::OUTBOUND;
    if (!out && p.kind() == PacketEvent::SYN) continue;
    flow* owner = nullptr;
    for (auto& f : m.flows) {
      bool mine = false;
      if (p.kind() == PacketEvent::ICMP_ERROR) {
        const auto peer = normalize_address(out ? p.dst() : p.src());
        // The quoted header's client port may sit in either field; the peer
        // is unknown for an inbound error sent by a router.
        mine = (p.src_port() == f.src_port || p.dst_port() == f.src_port) && (!out || peer.empty() || peer == f.src);
      } else if (out) {
        mine = normalize_address(p.dst()) == f.src && p.dst_port() == f.src_port;
      } else {
        mine = normalize_address(p.src()) == f.src && p.src_port() == f.src_port;
      }
      if (mine) {
        owner = &f;
        break;
      }
    }
    if (owner == nullptr) {
      m.stray.push_back(i);
      continue;
    }
    switch (p.kind()) {
      case PacketEvent::SYN_ACK:
        if (out)
          owner->synacks.push_back(i);
        else
          m.stray.push_back(i);
        break;
      case PacketEvent::RST:
        (out ? owner->rsts : owner->client_rsts).push_back(i);
        break;
      case PacketEvent::ICMP_ERROR:
        (out ? owner->icmps : owner->icmps_in).push_back(i);
        break;
      case PacketEvent::ACK:
        if (!out) owner->client_acks.push_back(i);
        break;
      default:
        m.stray.push_back(i);
        break;
    }
  }

  // Attempts to flows: first by the prober's local port.
  m.flow_of_attempt.assign(in.attempts.size(), -1);
  for (std::size_t a = 0; a < in.attempts.size(); ++a) {
    const auto& at = in.attempts[a];
    if (at.local_port() == 0) continue;
    int best = -1;
    std::uint64_t best_gap = 0;
    for (std::size_t f = 0; f < m.flows.size(); ++f) {
      const auto& fl = m.flows[f];
      if (fl.attempt >= 0 || fl.src_port != at.local_port()) continue;
      const auto t = m.time(fl.syns.front());
      const auto gap = t > at.start_unix_us() ? t - at.start_unix_us() : at.start_unix_us() - t;
      if (best < 0 || gap < best_gap) {
        best = static_cast<int>(f);
        best_gap = gap;
      }
    }
    if (best >= 0) {
      m.flows[static_cast<std::size_t>(best)].attempt = static_cast<int>(a);
      m.flow_of_attempt[a] = best;
    }
  }
  // Then, when NAT changed the port, by time order.
  std::vector<std::size_t> free_attempts;
  for (std::size_t a = 0; a < in.attempts.size(); ++a)
    if (m.flow_of_attempt[a] < 0 && in.attempts[a].outcome() != Attempt::FAILED) free_attempts.push_back(a);
  std::vector<std::size_t> free_flows;
  for (std::size_t f = 0; f < m.flows.size(); ++f)
    if (m.flows[f].attempt < 0) free_flows.push_back(f);
  const auto tol_us = static_cast<std::uint64_t>(tolerance_ms(in) * 1000);
  const bool same_count = free_flows.size() == free_attempts.size();
  for (auto f : free_flows) {
    if (free_attempts.empty()) break;
    auto pick = free_attempts.begin();
    if (!same_count) {
      // The latest attempt that had started when this SYN arrived.
      const auto t = m.time(m.flows[f].syns.front());
      for (auto it = free_attempts.begin(); it != free_attempts.end(); ++it)
        if (in.attempts[*it].start_unix_us() <= t + tol_us) pick = it;
    }
    m.flows[f].attempt = static_cast<int>(*pick);
    m.flow_of_attempt[*pick] = static_cast<int>(f);
    free_attempts.erase(pick);
  }
  return m;
}

// ---------------------------------------------------------------------------
// Listeners
// ---------------------------------------------------------------------------

struct listener_view {
  enum fit_kind { none, accepts, elsewhere, unknown } fit = none;
  std::vector<const v1::Listener*> accepting;
  std::vector<const v1::Listener*> other;  ///< listening, but not for this address
};

listener_view check_listeners(const port_input& in, const std::string& destination) {
  listener_view v;
  if (!in.listeners_known && in.listeners.empty()) {
    v.fit = listener_view::unknown;
    return v;
  }
  for (const auto& l : in.listeners) {
    if (l.port() != 0 && l.port() != in.port) continue;
    (listener_accepts(l, destination) ? v.accepting : v.other).push_back(&l);
  }
  if (!v.accepting.empty())
    v.fit = listener_view::accepts;
  else if (!v.other.empty())
    v.fit = listener_view::elsewhere;
  return v;
}

/// "nginx (pid 812, nginx.service) on 127.0.0.1:80".
std::string describe_listener(const v1::Listener& l, std::uint32_t port) {
  std::string s = l.process().empty() ? "a process" : l.process();
  std::string extra;
  if (l.pid() != 0) extra = "pid " + num(l.pid());
  if (!l.unit().empty()) extra += (extra.empty() ? "" : ", ") + l.unit();
  if (!extra.empty()) s += " (" + extra + ")";
  s += " on " + host_port(l.address().empty() ? "*" : l.address(), l.port() ? l.port() : port);
  if (l.v6_only()) s += " (IPv6 only)";
  return s;
}

std::string listener_list(const std::vector<const v1::Listener*>& ls, std::uint32_t port) {
  std::string s;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i) s += i + 1 == ls.size() ? " and " : ", ";
    s += describe_listener(*ls[i], port);
  }
  return s;
}

/// "nginx listens on 127.0.0.1:80 only, not on 203.0.113.2".
std::string wrong_address_summary(const listener_view& lv, std::uint32_t port, const std::string& dst) {
  std::vector<std::string> names;
  std::string where;
  for (const auto* l : lv.other) {
    const std::string name = l->process().empty() ? "a process" : l->process();
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    where += (where.empty() ? "" : ", ") + host_port(l->address().empty() ? "*" : l->address(), port);
  }
  std::string who;
  for (std::size_t i = 0; i < names.size(); ++i) who += (i ? " and " : "") + names[i];
  return who + " listens on " + where + " only, not on " + (dst.empty() ? "the address probed" : dst);
}

/// The configuration directive that sets the bind address, by process name.
std::string bind_fix(const v1::Listener& l, std::uint32_t port, const std::string& address) {
  const std::string p = lower(l.process());
  const std::string n = num(port);
  if (normalize_address(l.address()) == "::" && l.v6_only())
    return "the socket on [::]:" + n + " is IPv6-only (IPV6_V6ONLY" +
           (p == "nginx" ? std::string(", nginx 'ipv6only=on'") : std::string()) + "): also listen on 0.0.0.0:" + n +
           " (nginx: add 'listen " + n + ";'), or turn IPv6-only off";
  if (p == "nginx")
    return "nginx: write 'listen " + n + ";' (and 'listen [::]:" + n + ";') instead of 'listen " +
           host_port(l.address(), port) + ";' (check with nginx -t)";
  if (p == "httpd" || p == "apache2")
    return "Apache: write 'Listen " + n + "' instead of 'Listen " + host_port(l.address(), port) +
           "' (httpd.conf or ports.conf; check with apachectl configtest)";
  if (p == "sshd") return "sshd: remove or correct 'ListenAddress' in /etc/ssh/sshd_config (check with sshd -t)";
  if (p == "master" || p == "postfix" || p == "smtpd")
    return "Postfix: set 'inet_interfaces = all' in /etc/postfix/main.cf (see postconf inet_interfaces)";
  if (p == "mysqld" || p == "mariadbd")
    return "MySQL/MariaDB: set 'bind-address = 0.0.0.0' in the [mysqld] section of its .cnf";
  if (p == "postgres")
    return "PostgreSQL: set listen_addresses = '*' in postgresql.conf (and allow the client in pg_hba.conf)";
  if (p == "redis-server") return "Redis: set 'bind 0.0.0.0' in redis.conf (and keep a password: protected-mode)";
  if (p == "docker-proxy") return "Docker: publish with -p " + n + ":" + n + " instead of -p 127.0.0.1:" + n + ":" + n;
  if (p == "node" || p == "python" || p == "python3" || p == "java" || p == "gunicorn" || p == "uvicorn" ||
      p == "php" || p == "ruby" || p == "deno" || p == "bun")
    return "start the application with host 0.0.0.0 instead of 127.0.0.1/localhost (e.g. --host 0.0.0.0 or "
           "--bind 0.0.0.0:" +
           n + ")";
  return "set its listen/bind address to 0.0.0.0 (or ::, or " + (address.empty() ? "the public address" : address) +
         ") in its configuration";
}

// ---------------------------------------------------------------------------
// Per-attempt verdicts
// ---------------------------------------------------------------------------

/// How far an attempt's SYN got; the furthest attempt decides.
int rank(Verdict v) {
  switch (v) {
    case v1::OPEN:
    case v1::APP_FAILED:
      return 5;
    case v1::INTERCEPTED:
      return 4;
    case v1::REPLY_LOST:
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
    case v1::NO_LISTENER:
    case v1::LISTENER_WRONG_ADDRESS:
      return 3;
    case v1::CLOSED:
      return 2;
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
    case v1::FILTERED:
      return 1;
    default:
      return 0;
  }
}

struct judged {
  Verdict verdict = v1::VERDICT_UNSPECIFIED;
  std::string summary;
  std::vector<std::string> notes;  ///< notes that only hold when this attempt decides
  bool failed_locally = false;     ///< from a FAILED attempt
};

std::string icmp_from_attempt(const Attempt& a) {
  const bool v6 = is_v6(a.icmp_from()) || (a.icmp_from().empty() && a.icmp_type() >= 128);
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
                icmp_error_name(is_v6(icmp.src()) || is_v6(f.src), icmp.icmp_type(), icmp.icmp_code()) + ")";
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
        j.summary =
            "SYNs arrive and " +
            (lv.accepting.front()->process().empty() ? std::string("a process") : lv.accepting.front()->process()) +
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
  if (!in.firewall.empty()) {
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
        j.notes.push_back("loss: this attempt's SYN never reached the server, a later SYN did: intermittent loss "
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
    default:
      return j;
  }
}

/// Client-only verdict of one attempt (no agent capture).
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

// ---------------------------------------------------------------------------
// Middlebox signs and other notes
// ---------------------------------------------------------------------------

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
    notes.push_back("the SYN arrived with TTL " + num(syn.ttl()) + ": about " + num(init - syn.ttl()) +
                    " hops from the prober (initial TTL " + num(init) + ")");
  }
  option_notes(in, syn, notes);
  if (f.syns.size() > 1)
    notes.push_back("the server saw " + num(f.syns.size()) + " SYNs from the same port: the prober retransmitted, " +
                    (f.replied() ? "the answers did not reach it" : "nothing answered"));
  if (f.synacks.size() > 1)
    notes.push_back("the server sent " + num(f.synacks.size()) + " SYN-ACKs: it retransmitted, no ACK came back");
  if (!f.icmps_in.empty()) {
    const auto& e = m.at(f.icmps_in.front());
    notes.push_back("an ICMP " + icmp_error_name(is_v6(e.src()), e.icmp_type(), e.icmp_code()) + " from " + e.src() +
                    " came back about the server's reply: the return path rejects it");
  }
  if (!f.synacks.empty() && !f.client_rsts.empty())
    notes.push_back(
        "the prober's side answered the SYN-ACK with a reset: the reply reached the client after the "
        "prober had given up (raise --timeout) or a middlebox reset it");
  if (a != nullptr && a->start_unix_us() > 0 && a->outcome() != Attempt::OUTCOME_UNSPECIFIED &&
      a->outcome() != Attempt::CONNECTED) {
    const auto end = attempt_end_us(*a);
    const auto tol_us = static_cast<std::uint64_t>(tolerance_ms(in) * 1000);
    const auto t_syn = m.time(f.syns.front());
    if (t_syn > end + tol_us)
      notes.push_back("the SYN reached the server " + ms_text(static_cast<double>(t_syn - end) / 1000.0) +
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

// ---------------------------------------------------------------------------
// Advice
// ---------------------------------------------------------------------------

std::string host_of(const port_input& in) {
  if (!in.target.empty()) return in.target;
  if (!in.target_address.empty()) return in.target_address;
  return "HOST";
}

void app_advice(const port_input& in, std::vector<std::string>& advice) {
  const std::string h = host_of(in);
  const std::string n = num(in.port);
  const std::string& k = in.probe;
  if (k == "http")
    advice.push_back("see what the server answers: curl -v http://" + host_port(h, in.port) + "/");
  else if (k == "https")
    advice.push_back("check TLS and the certificate: openssl s_client -connect " + host_port(h, in.port) +
                     " -servername " + h + " (expired or wrong-name certificate? renew with certbot renew)");
  else if (k == "smtp" || k == "smtps")
    advice.push_back("read the greeting: openssl s_client -connect " + host_port(h, in.port) +
                     (k == "smtp" ? " -starttls smtp" : "") +
                     "; a 4xx/5xx greeting names the reason (postfix: journalctl -u postfix)");
  else if (k == "ssh")
    advice.push_back("see where the SSH handshake stops: ssh -v -p " + n + " " + h +
                     "; on the server: journalctl -u sshd");
  else
    advice.push_back(
        "the service accepted the connection but did not answer as expected: check its logs "
        "(journalctl -u " +
        service_guess(in.port) + ")");
  advice.push_back("systemctl status " + service_guess(in.port) + "; journalctl -xe --no-pager");
}

/// What the advice needs to know beyond the verdict.
struct advice_context {
  std::string dst;              ///< the server's address as the SYN carried it
  bool syn_seen = false;        ///< the agent saw the deciding attempt's SYN
  bool failed_locally = false;  ///< the deciding attempt never left this machine
};

std::vector<std::string> advise(Verdict v, const port_input& in, const listener_view& lv, const advice_context& ctx) {
  const std::string& dst = ctx.dst;
  std::vector<std::string> a;
  const std::string n = num(in.port);
  const std::string h = host_of(in);
  const std::string svc = !lv.accepting.empty() && !lv.accepting.front()->unit().empty() ? lv.accepting.front()->unit()
                          : !lv.other.empty() && !lv.other.front()->unit().empty()       ? lv.other.front()->unit()
                                                                                         : service_guess(in.port);
  const std::string tcpdump = "on the server: tcpdump -ni any port " + n + " (then connect again)";
  const std::string tnc = "from a Windows client: Test-NetConnection " + h + " -Port " + n;
  const std::string op25b =
      "port 25 from consumer lines is often blocked by the ISP (OP25B): submit mail on 587 (STARTTLS) or 465 "
      "(TLS) instead, or test from another network";
  const std::string fw_list =
      "list the server's rules: nft list ruleset; iptables -S; ip6tables -S; "
      "firewall-cmd --list-all; ufw status verbose";
  const std::string fw_open = "open the port: firewall-cmd --permanent --add-port=" + n +
                              "/tcp && firewall-cmd --reload (firewalld), ufw allow " + n +
                              "/tcp (ufw), or an accept rule before the drop/reject";
  const std::string fw_save =
      "rules added at runtime vanish at reboot unless saved: firewall-cmd "
      "--runtime-to-permanent, netfilter-persistent save, or nft list ruleset > "
      "/etc/nftables.conf";
  switch (v) {
    case v1::OPEN:
      break;
    case v1::APP_FAILED:
      app_advice(in, a);
      break;
    case v1::DROPPED_IN_TRANSIT:
      if (ctx.failed_locally) {
        a.push_back(
            "the connection never left this machine: check its firewall (nft list ruleset; iptables -S; "
            "on Windows: Get-NetFirewallRule) and its route: ip route get " +
            (in.target_address.empty() ? h : in.target_address));
        a.push_back(tnc);
        break;
      }
      a.push_back("check the hosting provider's packet filter / security group: allow TCP " + n + " inbound");
      if (in.port == 25) a.push_back(op25b);
      a.push_back("check the client's own firewall, or try from another network");
      a.push_back(in.hop ? "the hop localisation is in the evidence; confirm with: traceroute -T -p " + n + " " + h
                         : "localise the drop: traceroute -T -p " + n + " " + h);
      a.push_back(tcpdump + ": nothing should arrive");
      a.push_back(tnc);
      break;
    case v1::REJECTED_IN_TRANSIT:
      a.push_back(
          "the rejecting hop is in the evidence: near the server it is the provider's packet filter / "
          "security group (allow TCP " +
          n + " inbound); near you, your firewall or the ISP");
      if (in.port == 25) a.push_back(op25b);
      a.push_back("see the path: traceroute -T -p " + n + " " + h);
      a.push_back(tcpdump + (ctx.syn_seen ? ": the SYN arrives, no reset leaves" : ": nothing should arrive"));
      a.push_back(tnc);
      break;
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
      for (const auto& rule : in.firewall)
        if (auto fix = firewall_fix_command(rule, static_cast<std::uint16_t>(in.port)); !fix.empty())
          a.push_back("remove the rule that blocks it (" + rule + "): " + fix);
      a.push_back(fw_list + (v == v1::REJECTED_BY_HOST_FIREWALL
                                 ? " (look for a reject rule: tcp reset, icmp admin-prohibited or host-prohibited)"
                                 : " (look for a drop rule or a default drop policy)"));
      a.push_back(fw_open);
      a.push_back(fw_save);
      if (lv.fit == listener_view::none)
        a.push_back("then start the service: systemctl status " + svc + "; systemctl enable --now " + svc +
                    "; ss -tlnp 'sport = :" + n + "'");
      break;
    case v1::NO_LISTENER:
      a.push_back("check what listens: ss -tlnp 'sport = :" + n + "' (all listeners: ss -tulnp state listening)");
      a.push_back("start it and enable it at boot: systemctl status " + svc + "; systemctl enable --now " + svc);
      a.push_back("if it failed to start: journalctl -xe --no-pager; journalctl -u " + svc +
                  "; less /var/log/messages");
      a.push_back("if it listens on another port, fix its port setting (Listen / listen / Port) and restart it");
      break;
    case v1::LISTENER_WRONG_ADDRESS: {
      for (const auto* l : lv.other) {
        a.push_back(bind_fix(*l, in.port, dst));
        if (a.size() >= 2) break;
      }
      a.push_back("then restart it: systemctl restart " + svc + "; check: ss -tlnp 'sport = :" + n + "'");
      break;
    }
    case v1::REPLY_LOST:
      a.push_back(
          "the server's answer leaves but never arrives: check the provider's filter for outbound rules "
          "(a stateless filter needs the reply allowed) and the client's firewall");
      a.push_back("check the server's return route: ip route get " +
                  (in.agent.peer_address().empty() ? std::string("<client address>") : in.agent.peer_address()) +
                  " (asymmetric routing, a second interface, policy routing)");
      a.push_back(tcpdump + ": the SYN-ACK leaves");
      a.push_back(tnc);
      break;
    case v1::INTERCEPTED:
      a.push_back("something else answered for " + h +
                  ": a transparent proxy, the ISP, port forwarding to "
                  "another host, or the name resolving elsewhere (check: dig " +
                  h + ")");
      a.push_back(tcpdump + ": nothing arrives although the prober connects");
      a.push_back(
          "compare what answers (banner, TLS certificate) with the server's own service, and test from "
          "another network");
      if (in.port == 25)
        a.push_back("ISPs that block port 25 (OP25B) sometimes redirect it to their own relay: use 587 or 465");
      break;
    case v1::FILTERED:
      a.push_back("run the agent on the server to localise the drop (prober --ssh USER@" + h +
                  " ... runs it through SSH), or " + tcpdump);
      a.push_back(
          "check the provider's packet filter / security group and the server's firewall (nft list "
          "ruleset; iptables -S) for TCP " +
          n);
      if (in.port == 25) a.push_back(op25b);
      a.push_back(tnc);
      break;
    case v1::CLOSED:
      a.push_back("on the server: ss -tlnp 'sport = :" + n + "'; systemctl status " + svc);
      a.push_back("if something listens, look for a reject rule: nft list ruleset; iptables -S");
      a.push_back("run the agent on the server to tell these apart (prober --ssh USER@" + h + ")");
      break;
    default:
      break;
  }
  return a;
}

// ---------------------------------------------------------------------------
// Putting it together
// ---------------------------------------------------------------------------

void fill_common(const port_input& in, v1::PortReport& r) {
  r.set_port(in.port);
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

void hsts_note(const port_input& in, std::vector<std::string>& notes) {
  if (!in.app) return;
  const auto it = in.app->fields().find("location");
  if (it != in.app->fields().end() && starts_with_icase(it->second, "https://"))
    notes.push_back("port " + num(in.port) + " redirects to HTTPS (" + it->second +
                    "): browsers (and HSTS) then use port 443, so test 443 too");
  else if (const auto hsts = in.app->fields().find("hsts"); hsts != in.app->fields().end())
    notes.push_back("port " + num(in.port) + " sends an HSTS policy (" + hsts->second +
                    "): a browser that saw it will not use port 80 for " + host_of(in) +
                    ", it goes to https:// on 443, so test 443");
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
  if (chosen.verdict != v1::OPEN) notes.push_back(client_only_reason(in));
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
  hsts_note(in, notes);
  r.set_verdict(chosen.verdict);
  r.set_summary(chosen.summary);
  for (auto& n : notes) r.mutable_evidence()->add_notes(std::move(n));
  for (const auto& n : in.agent_notes) r.mutable_evidence()->add_notes(n);
  advice_context ctx;
  ctx.dst = normalize_address(in.target_address);
  ctx.failed_locally = chosen.failed_locally;
  for (auto& s : advise(chosen.verdict, in, lv, ctx)) r.add_advice(std::move(s));
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

std::string normalize_address(std::string_view address) {
  std::string a(trim(address));
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  if (auto pct = a.find('%'); pct != std::string::npos) a.resize(pct);
  std::error_code ec;
  if (const auto v4 = asio::ip::make_address_v4(a, ec); !ec) return v4.to_string();
  if (const auto v6 = asio::ip::make_address_v6(a, ec); !ec) {
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    return v6.to_string();
  }
  return lower(a);
}

bool listener_accepts(const v1::Listener& listener, std::string_view destination) {
  const auto bound = normalize_address(listener.address());
  const auto dst = normalize_address(destination);
  if (bound.empty() || bound == "*") return true;
  if (dst.empty()) return !is_loopback(bound);  // cannot tell: only loopback is surely wrong
  const bool dst_v6 = is_v6(dst);
  if (bound == "0.0.0.0") return !dst_v6;
  if (bound == "::") return dst_v6 || !listener.v6_only();
  return bound == dst;
}

std::string icmp_error_name(bool v6, std::uint32_t type, std::uint32_t code) {
  if (!v6 && type == 3) {
    static constexpr std::array<const char*, 16> names = {"net-unreachable",
                                                          "host-unreachable",
                                                          "protocol-unreachable",
                                                          "port-unreachable",
                                                          "fragmentation-needed",
                                                          "source-route-failed",
                                                          "net-unknown",
                                                          "host-unknown",
                                                          "source-host-isolated",
                                                          "net-prohibited",
                                                          "host-prohibited",
                                                          "net-unreachable-for-tos",
                                                          "host-unreachable-for-tos",
                                                          "admin-prohibited",
                                                          "host-precedence-violation",
                                                          "precedence-cutoff"};
    if (code < names.size()) return names[code];
  }
  if (!v6 && type == 11) return "time-exceeded";
  if (v6 && type == 1) {
    static constexpr std::array<const char*, 7> names = {
        "no-route",         "admin-prohibited", "beyond-scope", "address-unreachable",
        "port-unreachable", "policy-fail",      "reject-route"};
    if (code < names.size()) return names[code];
  }
  if (v6 && type == 2) return "packet-too-big";
  if (v6 && type == 3) return "time-exceeded";
  return std::string(v6 ? "ICMPv6" : "ICMP") + " type " + num(type) + " code " + num(code);
}

bool agent_capturing(const port_input& in) {
  const auto& ag = in.agent;
  if (ag.status() != v1::AgentInfo::CONNECTED || !ag.capture_active()) return false;
  return std::find(ag.refused_ports().begin(), ag.refused_ports().end(), in.port) == ag.refused_ports().end();
}

/// An attempt that connected, or that the evidence calls OPEN/APP_FAILED and
/// the prober itself saw connect; a timed-out attempt the agent saw answered
/// still lost its reply on the way.
bool attempt_got_through(const Attempt& a, const judged& j) {
  if (j.verdict != v1::OPEN && j.verdict != v1::APP_FAILED) return false;
  return a.outcome() == Attempt::CONNECTED || a.outcome() == Attempt::OUTCOME_UNSPECIFIED;
}

v1::PortReport decide_port(const port_input& in) {
  if (!agent_capturing(in)) return decide_client_only(in);

  v1::PortReport r;
  fill_common(in, r);
  const auto m = match_flows(in);
  for (const auto& p : m.packets) *r.mutable_evidence()->add_agent_packets() = p;

  std::vector<judged> per;
  per.reserve(in.attempts.size());
  int chosen = -1;
  for (std::size_t i = 0; i < in.attempts.size(); ++i) {
    per.push_back(judge_attempt(in, m, i));
    const auto& j = per.back();
    if (j.verdict == v1::VERDICT_UNSPECIFIED) continue;
    if (chosen < 0) {
      chosen = static_cast<int>(i);
      continue;
    }
    const auto& c = per[static_cast<std::size_t>(chosen)];
    if ((c.failed_locally && !j.failed_locally) ||
        (c.failed_locally == j.failed_locally && rank(j.verdict) >= rank(c.verdict)))
      chosen = static_cast<int>(i);
  }
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
    std::size_t failed = 0;
    bool differ = false;
    for (std::size_t i = 0; i < per.size(); ++i) {
      if (!attempt_got_through(in.attempts[i], per[i])) ++failed;
      if (per[i].verdict != j.verdict && !per[i].failed_locally) differ = true;
    }
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
    j.summary += ", " + (l.process().empty() ? std::string("a process") : l.process()) + " on " +
                 host_port(l.address().empty() ? "*" : l.address(), in.port);
  }
  hsts_note(in, notes);

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
    for (const auto& s : in.host_advice) r.add_advice(s);
  for (auto& s : advise(j.verdict, in, lv, ctx)) r.add_advice(std::move(s));
  return r;
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
  if (a.outcome() != Attempt::OUTCOME_UNSPECIFIED) {
    if (f != nullptr && f->replied()) {
      c.complete = true;
      c.why = "the SYN and the host's reply were seen";
      return c;
    }
    return after_grace(attempt_end_us(a), "the attempt ended and the grace for late packets passed",
                       "waiting for the agent's packets still on the way");
  }
  // Still running.
  if (f == nullptr) {
    c.why = "no SYN seen yet: only the prober's timeout can tell";
    return c;
  }
  if (const auto r = m.first_reply(*f); r != matching::npos)
    return after_grace(m.time(r), "the host replied and the prober did not get the reply: it was lost",
                       "the host replied: waiting for the prober to get it");
  return after_grace(m.time(f->syns.front()), "the SYN arrived and nothing left the host within the grace",
                     "the SYN arrived: waiting for the host's reply");
}

std::vector<std::string> cross_port_notes(const v1::Report& report) {
  std::vector<std::string> notes;
  const bool with_agent = report.agent().status() == v1::AgentInfo::CONNECTED;
  std::map<std::uint32_t, Verdict> by_port;
  for (const auto& p : report.ports()) by_port[p.port()] = p.verdict();
  auto verdict_of = [&](std::uint32_t port) -> std::optional<Verdict> {
    auto it = by_port.find(port);
    if (it == by_port.end()) return std::nullopt;
    return it->second;
  };
  auto in_transit = [](Verdict v) {
    return v == v1::DROPPED_IN_TRANSIT || v == v1::REJECTED_IN_TRANSIT || v == v1::FILTERED;
  };
  // Reached the server (or, client-only, something answered).
  auto reaches = [](Verdict v) {
    return v == v1::OPEN || v == v1::APP_FAILED || v == v1::DROPPED_BY_HOST_FIREWALL ||
           v == v1::REJECTED_BY_HOST_FIREWALL || v == v1::NO_LISTENER || v == v1::LISTENER_WRONG_ADDRESS ||
           v == v1::REPLY_LOST || v == v1::CLOSED;
  };
  auto list = [](std::vector<std::uint16_t> ports) {
    std::sort(ports.begin(), ports.end());
    return format_port_list(ports);
  };

  // OP25B.
  bool op25b = false;
  if (auto v25 = verdict_of(25); v25 && (in_transit(*v25) || *v25 == v1::INTERCEPTED)) {
    std::vector<std::uint16_t> ok;
    for (std::uint32_t alt : {587u, 465u})
      if (auto v = verdict_of(alt); v && reaches(*v)) ok.push_back(static_cast<std::uint16_t>(alt));
    if (*v25 == v1::INTERCEPTED) {
      notes.push_back(
          "port 25 is answered by something other than the server: ISPs that block outbound port 25 "
          "(OP25B) often redirect it to their own mail relay; submit mail on 587 or 465");
      op25b = true;
    } else if (!ok.empty()) {
      notes.push_back((with_agent ? "port 25 never reaches the server while " + list(ok) + " does"
                                  : "port 25 gets no answer while " + list(ok) + " does") +
                      ": the signature of an ISP block of outbound port 25 (OP25B), not of the server; "
                      "send mail through 587 (STARTTLS) or 465 (TLS) with authentication");
      op25b = true;
    } else if (!verdict_of(587) && !verdict_of(465)) {
      notes.push_back(
          "port 25 is stopped before the server: from a consumer line this is usually the ISP's OP25B; "
          "test 587 and 465 too (--ports 25,465,587)");
      op25b = true;
    }
  }

  // Transit drops: all ports, or some while others reach the server.
  std::vector<std::uint16_t> transit, reached, host_fw, intercepted;
  for (const auto& [port, v] : by_port) {
    const auto p = static_cast<std::uint16_t>(port);
    if (in_transit(v)) transit.push_back(p);
    if (reaches(v)) reached.push_back(p);
    if (v == v1::DROPPED_BY_HOST_FIREWALL || v == v1::REJECTED_BY_HOST_FIREWALL) host_fw.push_back(p);
    if (v == v1::INTERCEPTED) intercepted.push_back(p);
  }
  if (by_port.size() >= 2 && transit.size() == by_port.size()) {
    if (with_agent) {
      std::string s =
          "no port reaches the server: the provider's packet filter (security group) blocks them all, "
          "or " +
          report.target() + " is not the server the agent runs on";
      if (!report.agent().endpoint().empty())
        s += "; the control channel did reach the agent at " + report.agent().endpoint() +
             (report.agent().path().empty() ? std::string() : " (" + report.agent().path() + ")");
      notes.push_back(s);
    } else {
      notes.push_back(
          "no port answers: the provider's packet filter, a firewall, or a wrong address; run the agent "
          "on the server to tell them apart");
    }
  } else if (!transit.empty() && !reached.empty()) {
    std::vector<std::uint16_t> others;
    for (auto p : transit)
      if (!(op25b && p == 25)) others.push_back(p);
    if (!others.empty())
      notes.push_back("port(s) " + list(others) + " never reach the server while " + list(reached) +
                      " do: the path works, so a packet filter in front of the server (the provider's filter / "
                      "security group) passes only some ports");
  }
  if (host_fw.size() >= 2)
    notes.push_back("the server's firewall blocks ports " + list(host_fw) +
                    ": probably a default-deny policy; check nft list ruleset / firewall-cmd --list-all, and save "
                    "rules added at runtime or they vanish at reboot");
  if (with_agent && !intercepted.empty() && intercepted.size() + transit.size() == by_port.size() &&
      !(intercepted.size() == 1 && op25b && intercepted.front() == 25))
    notes.push_back("connections to " + list(intercepted) +
                    " succeed but the agent saw no SYN on any port: everything is intercepted (transparent proxy, "
                    "or the target is another machine than the agent's), or the capture misses this traffic "
                    "(check the agent's --interface)");

  // HSTS: browsers switch http:// to https://.
  const auto v80 = verdict_of(80);
  const auto v443 = verdict_of(443);
  if (v80 && v443) {
    if (*v80 == v1::OPEN && *v443 != v1::OPEN)
      notes.push_back(
          "port 80 works but 443 does not: a browser that knows HSTS for this site (or follows a "
          "redirect) goes to https:// and fails although http works; test port 80 with curl -v "
          "http://" +
          report.target() + "/");
    else if (*v80 != v1::OPEN && *v443 == v1::OPEN)
      notes.push_back(
          "port 443 works: browsers with HSTS for this site never use port 80, so a broken port 80 "
          "shows only with plain http:// links, curl, or HTTP-01 certificate renewals");
  }
  return notes;
}

std::string_view expectation_class(v1::Verdict verdict) {
  switch (verdict) {
    case v1::OPEN:
      return "open";
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
    case v1::REPLY_LOST:
    case v1::FILTERED:
      return "blocked";
    case v1::NO_LISTENER:
    case v1::LISTENER_WRONG_ADDRESS:
    case v1::CLOSED:
      return "closed";
    default:
      return "";
  }
}

bool verdict_meets(v1::Verdict verdict, std::string_view what) {
  const std::string low = lower(trim(what));
  if (low == "open" || low == "blocked" || low == "closed") return expectation_class(verdict) == low;
  std::string upper(trim(what));
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  v1::Verdict named{};
  return v1::Verdict_Parse(upper, &named) && named != v1::VERDICT_UNSPECIFIED && named == verdict;
}

void apply_expectation(v1::PortReport& port, std::string_view what) {
  port.set_expect(std::string(what));
  port.set_as_expected(verdict_meets(port.verdict(), what));
}

}  // namespace dropspot
