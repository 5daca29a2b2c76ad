// nftables: what the ruleset does with a SYN (a datagram, an ICMP error).
#include <algorithm>

#include "agent/firewall/internal.h"

namespace dropspot::agent {

using namespace firewall_detail;

// ---------------------------------------------------------------------------
// nftables: evaluation
// ---------------------------------------------------------------------------

namespace {

struct nft_eval {
  const nft_ruleset::impl& rs;
  const syn_packet& pkt;
  std::vector<std::string>& notes;
  const nft_rule_rec* current = nullptr;
  const fw_finding::accept_rule* without = nullptr;  ///< a rule left out
  std::size_t chain_visits = 0;

  std::string rule_name(const nft_rule_rec& r) const {
    return "table " + r.family + " " + r.table + " chain " + r.chain + " handle " + std::to_string(r.handle) + ": " +
           r.text;
  }
  void note(const std::string& what) {
    auto n = (current ? rule_name(*current) + ": " : std::string()) + what;
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }
  /// Doubts of the rule being evaluated ("assumed to match"): said only when
  /// the rule may apply; one that a later expression rules out (udp dport
  /// 5353 for a TCP SYN) leaves no note.
  std::vector<std::string> doubts{};
  void doubt(const std::string& what) { doubts.push_back(what); }

  /// Whether any rule does DNAT (nft's dnat statement or iptables' DNAT target).
  std::optional<bool> dnat_seen{};
  bool has_dnat() {
    if (!dnat_seen) {
      dnat_seen = false;
      for (const auto& r : rs.rules)
        for (const auto& e : r.expr)
          if (e.is_object() && (e.contains("dnat") || (e.contains("xt") && field(e, "xt").is_object() &&
                                                       field(e, "xt").value("name", std::string()) == "DNAT")))
            dnat_seen = true;
    }
    return *dnat_seen;
  }

  /// The elements of a set reference: inline {"set":[...]}, "@name", a single value.
  const json* elements(const json& right, json& scratch) const {
    if (right.is_object() && right.contains("set")) return &field(right, "set");
    if (right.is_string() && !right.get<std::string>().empty() && right.get<std::string>()[0] == '@') {
      auto it = rs.sets.find(chain_key(current->family, current->table, right.get<std::string>().substr(1)));
      return it == rs.sets.end() ? nullptr : &it->second;
    }
    scratch = json::array({right});
    return &scratch;
  }

  static const json& unwrap(const json& e) {
    if (e.is_object() && e.contains("elem") && field(e, "elem").is_object() && field(e, "elem").contains("val"))
      return field(field(e, "elem"), "val");
    return e;
  }

  // --- single-element comparisons ---

  static std::optional<long long> number(const json& v) {
    if (v.is_number_integer() || v.is_number_unsigned()) return v.get<long long>();
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit)) return std::atoll(s.c_str());
    }
    return std::nullopt;
  }

  tri port_is(long long port, const json& e) {
    const auto& v = unwrap(e);
    if (auto n = number(v)) return *n == port ? tri::yes : tri::no;
    if (v.is_object() && v.contains("range") && field(v, "range").is_array() && field(v, "range").size() == 2) {
      auto lo = number(field(v, "range")[0]), hi = number(field(v, "range")[1]);
      if (lo && hi) return (port >= *lo && port <= *hi) ? tri::yes : tri::no;
    }
    doubt("a port value dropspot does not understand (" + v.dump() + "): assumed to match");
    return tri::maybe;
  }

  tri address_is(const asio::ip::address& a, const json& e) {
    const auto& v = unwrap(e);
    if (v.is_string()) {
      auto x = parse_address(v.get<std::string>());
      if (x) return *x == a ? tri::yes : tri::no;
    } else if (v.is_object() && v.contains("prefix")) {
      auto x = parse_address(field(v, "prefix").value("addr", std::string()));
      const auto& len = field(field(v, "prefix"), "len");
      if (x && len.is_number_unsigned()) return in_prefix(a, *x, len.get<unsigned>()) ? tri::yes : tri::no;
    } else if (const auto& range = field(v, "range");
               range.is_array() && range.size() == 2 && range[0].is_string() && range[1].is_string()) {
      auto lo = parse_address(range[0].get<std::string>()), hi = parse_address(range[1].get<std::string>());
      if (lo && hi) return in_range(a, *lo, *hi) ? tri::yes : tri::no;
    }
    doubt("an address value dropspot does not understand (" + v.dump() + "): assumed to match");
    return tri::maybe;
  }

  tri string_is(const std::string& s, const json& e) {
    const auto& v = unwrap(e);
    if (!v.is_string()) return tri::no;
    auto pat = v.get<std::string>();
    if (!pat.empty() && pat.back() == '*')
      return s.compare(0, pat.size() - 1, pat, 0, pat.size() - 1) == 0 ? tri::yes : tri::no;
    return s == pat ? tri::yes : tri::no;
  }

  /// Any element of `right` matches (tri::yes wins over maybe).
  template <class F>
  tri any_of(const json& right, F&& is) {
    json scratch;
    const json* elems = elements(right, scratch);
    if (!elems) {
      doubt("set " + right.dump() + " not found: assumed to match");
      return tri::maybe;
    }
    tri out = tri::no;
    for (const auto& e : *elems) {
      auto t = is(e);
      if (t == tri::yes) return tri::yes;
      if (t == tri::maybe) out = tri::maybe;
    }
    return out;
  }

  /// The element of the packet the left side names, as a comparison; nothing
  /// when it is unknown to dropspot (then the match "may match").
  /// `implied_no` is set when the left side cannot apply to this packet at all
  /// (ip saddr on an IPv6 packet, udp dport on TCP): nft then never matches.
  /// A protocol value ("tcp", 6; "udp", 17) names the packet's transport.
  tri is_own_l4(const json& v) const {
    if (pkt.too_big)
      return (pkt.v6 ? (v == "ipv6-icmp" || v == "icmpv6" || v == 58) : (v == "icmp" || v == 1)) ? tri::yes : tri::no;
    return (pkt.udp ? (v == "udp" || v == 17) : (v == "tcp" || v == 6)) ? tri::yes : tri::no;
  }

  /// icmp type/code, icmpv6 type/code of the 'fragmentation needed' / 'packet
  /// too big' packet (pkt.too_big).
  tri icmp_field(const std::string& proto, const std::string& field, const json& right, const std::string& op) {
    if (proto != (pkt.v6 ? "icmpv6" : "icmp")) return tri::no;  // the other family's ICMP
    const bool eq_like = op == "==" || op == "!=" || op == "in";
    auto is = [&](std::initializer_list<const char*> names, long long value) {
      return [&, names, value](const json& e) {
        const auto& v = unwrap(e);
        if (auto n = number(v)) return *n == value ? tri::yes : tri::no;
        if (!v.is_string()) return tri::maybe;
        for (const auto* name : names)
          if (v == name) return tri::yes;
        return tri::no;
      };
    };
    if (field != "type" && field != "code") {
      doubt("matches the ICMP " + field + ": assumed to match");
      return tri::maybe;
    }
    if (!eq_like) return tri::maybe;
    tri t = field == "type" ? (pkt.v6 ? any_of(right, is({"packet-too-big"}, 2))
                                      : any_of(right, is({"destination-unreachable"}, 3)))
                            : (pkt.v6 ? any_of(right, is({"no-route"}, 0))
                                      : any_of(right, is({"frag-needed", "fragmentation-needed"}, 4)));
    return op == "!=" ? negate(t) : t;
  }

  tri match(const json& m) {
    const auto op = m.value("op", std::string("=="));
    const json& left = field(m, "left");
    const json& right = field(m, "right");
    auto apply_op = [&](tri contained) { return op == "!=" ? negate(contained) : contained; };
    const bool eq_like = op == "==" || op == "!=" || op == "in";

    if (left.is_object() && left.contains("payload")) {
      const auto& p = field(left, "payload");
      auto proto = p.value("protocol", std::string());
      auto field = p.value("field", std::string());
      if (proto == "ip" || proto == "ip6") {
        if ((proto == "ip6") != pkt.v6) return tri::no;  // implicit nfproto dependency
        if (field == "protocol" || field == "nexthdr")
          return apply_op(any_of(right, [&](const json& e) { return is_own_l4(unwrap(e)); }));
        if (field == "saddr" || field == "daddr") {
          // The prober's address: the SYN's source, its reply's destination.
          const bool remote = (field == "saddr") != pkt.reply;
          const auto& addr = remote ? pkt.source : pkt.destination;
          if (!addr) {
            if (remote) {
              note(pkt.reply ? "matches the destination address; for any remote destination taken as not matching"
                             : "matches the source address; for any remote source taken as not matching");
              return op == "!=" ? tri::yes : tri::no;
            }
            doubt(std::string("matches the ") + (pkt.reply ? "source" : "destination") +
                  " address, unknown here: assumed to match");
            return tri::maybe;
          }
          if (!eq_like) return tri::maybe;
          return apply_op(any_of(right, [&](const json& e) { return address_is(*addr, e); }));
        }
      } else if (pkt.too_big) {
        if (proto == "icmp" || proto == "icmpv6") return icmp_field(proto, field, right, op);
        return tri::no;  // tcp, udp, th (an ICMP message has no ports), sctp ...
      } else if (proto == (pkt.udp ? "udp" : "tcp") || proto == "th") {
        if ((field == "dport") != pkt.reply && (field == "dport" || field == "sport")) {  // the server's port
          const long long port = pkt.port;
          if (eq_like) return apply_op(any_of(right, [&](const json& e) { return port_is(port, e); }));
          auto n = number(right);
          if (!n) return tri::maybe;
          if (op == "<") return port < *n ? tri::yes : tri::no;
          if (op == ">") return port > *n ? tri::yes : tri::no;
          if (op == "<=") return port <= *n ? tri::yes : tri::no;
          if (op == ">=") return port >= *n ? tri::yes : tri::no;
        }
        if (field == "sport" || field == "dport") {
          doubt(pkt.reply ? "matches the client's port, unknown: assumed to match"
                          : "matches the client's source port, unknown: assumed to match");
          return tri::maybe;
        }
        if (field == "flags") return flags_match(op, tcp_flags_of(pkt), right);
      } else if (!proto.empty()) {
        return tri::no;  // another transport (udp for a SYN, tcp for a datagram), icmp, sctp ...
      }
    }
    if (left.is_object() && left.contains("&") && field(left, "&").is_array() && field(left, "&").size() == 2) {
      const auto& inner = field(left, "&")[0];
      const auto& payload = field(inner, "payload");
      if (payload.is_object() && payload.value("field", std::string()) == "flags" &&
          payload.value("protocol", std::string()) == "tcp") {
        if (pkt.udp || pkt.too_big) return tri::no;  // a TCP header's flags: no datagram or ICMP has them
        auto mask = flag_bits(field(left, "&")[1]);
        if (mask) return flags_match(op == "in" ? "==" : op, tcp_flags_of(pkt) & *mask, right);
      }
    }
    if (left.is_object() && left.contains("meta")) {
      auto key = field(left, "meta").value("key", std::string());
      if (key == "protocol")
        return apply_op(
            any_of(right, [&](const json& e) { return unwrap(e) == (pkt.v6 ? "ip6" : "ip") ? tri::yes : tri::no; }));
      if (key == "l4proto") return apply_op(any_of(right, [&](const json& e) { return is_own_l4(unwrap(e)); }));
      if (key == "nfproto")
        return apply_op(
            any_of(right, [&](const json& e) { return unwrap(e) == (pkt.v6 ? "ipv6" : "ipv4") ? tri::yes : tri::no; }));
      // The SYN comes in on in_interface and has no output interface; its
      // reply goes out there and has no input interface.
      const bool in_key = key == "iifname" || key == "iif";
      const bool out_key = key == "oifname" || key == "oif";
      if ((in_key && pkt.reply) || (out_key && !pkt.reply)) return apply_op(tri::no);
      if (in_key || out_key) {
        if (pkt.in_interface.empty()) {
          auto is_lo = any_of(right, [&](const json& e) { return string_is("lo", e); });
          if (is_lo == tri::yes) return apply_op(tri::no);  // remote traffic never arrives on lo
          doubt(std::string("matches the ") + (pkt.reply ? "output" : "input") +
                " interface, unknown here: assumed to match");
          return tri::maybe;
        }
        return apply_op(any_of(right, [&](const json& e) { return string_is(pkt.in_interface, e); }));
      }
      if (key == "pkttype")
        return apply_op(any_of(right, [&](const json& e) { return unwrap(e) == "host" ? tri::yes : tri::no; }));
    }
    if (left.is_object() && left.contains("fib")) {
      // fib daddr type local: the packet is for this host
      const auto& f = field(left, "fib");
      if (f.value("result", std::string()) == "type" && f.contains("flags") &&
          field(f, "flags").dump().find("daddr") != std::string::npos)
        return apply_op(any_of(
            right, [&](const json& e) { return unwrap(e) == (pkt.reply ? "unicast" : "local") ? tri::yes : tri::no; }));
      // The reverse path filter (firewalld's rpfilter, `fib saddr . iif oif
      // missing drop`): is there a route back to the source through the
      // interface the SYN came in on? For a remote source with the host's
      // usual routes (the agent talks to the prober over them), there is: a
      // lookup that finds an interface is not "missing" (false in nft's JSON).
      if ((f.value("result", std::string()) == "oif" || f.value("result", std::string()) == "oifname") &&
          field(f, "flags").dump().find("saddr") != std::string::npos && right.is_boolean())
        return apply_op(right.get<bool>() ? tri::yes : tri::no);
    }
    if (left.is_object() && left.contains("ct")) {
      auto key = field(left, "ct").value("key", std::string());
      if (key == "state") {
        // "in" and arrays are bit tests: new is in {new, untracked}
        return apply_op(any_of(right, [&](const json& e) {
          const auto& v = unwrap(e);
          // An ICMP error about a tracked connection is "related".
          const char* state = pkt.too_big ? "related" : pkt.reply ? "established" : "new";
          if (v.is_array()) {
            for (const auto& x : v)
              if (x == state) return tri::yes;
            return tri::no;
          }
          return v == state ? tri::yes : tri::no;
        }));
      }
      if (key == "direction")
        return apply_op(any_of(right, [&](const json& e) {
          return unwrap(e) == (pkt.reply ? "reply" : "original") ? tri::yes : tri::no;
        }));
      if (key == "status") {
        // A first SYN's entry has no status bit yet (not confirmed, no reply
        // seen, not assured), and is DNATed only where a rule does DNAT.
        return apply_op(any_of(right, [&](const json& e) {
          const auto& v = unwrap(e);
          if (pkt.reply && (v == "confirmed" || v == "seen-reply")) return tri::yes;  // its SYN-ACK
          // the connection an ICMP error relates to has seen both ways
          if (pkt.too_big && (v == "confirmed" || v == "seen-reply" || v == "assured")) return tri::yes;
          if (v == "dnat" && has_dnat()) {
            doubt("ct status dnat: a DNAT rule of this ruleset may have rewritten the SYN: assumed to match");
            return tri::maybe;
          }
          return tri::no;
        }));
      }
    }
    doubt("an expression dropspot does not evaluate (" + render_left(left) + "): the rule may match");
    return tri::maybe;
  }

  static std::optional<std::uint64_t> flag_bits(const json& v) {
    if (v.is_number()) return v.get<std::uint64_t>();
    if (v.is_string()) return tcp_flag_bit(v.get<std::string>());
    if (v.is_array() || (v.is_object() && v.contains("set"))) {
      std::uint64_t bits = 0;
      for (const auto& x : v.is_array() ? v : field(v, "set")) {
        auto b = flag_bits(x);
        if (!b) return std::nullopt;
        bits |= *b;
      }
      return bits;
    }
    if (v.is_object() && v.contains("|") && v["|"].is_array()) {
      std::uint64_t bits = 0;
      for (const auto& x : v["|"]) {
        auto b = flag_bits(x);
        if (!b) return std::nullopt;
        bits |= *b;
      }
      return bits;
    }
    return std::nullopt;
  }

  tri flags_match(const std::string& op, std::uint64_t value, const json& right) {
    auto bits = flag_bits(right);
    if (!bits) {
      doubt("tcp flags value dropspot does not understand: assumed to match");
      return tri::maybe;
    }
    if (op == "in") return (value & *bits) ? tri::yes : tri::no;
    if (op == "==") return value == *bits ? tri::yes : tri::no;
    if (op == "!=") return value != *bits ? tri::yes : tri::no;
    return tri::maybe;
  }

  struct rule_result {
    tri matched = tri::yes;
    std::string verdict;  ///< accept drop reject jump goto return continue, or empty
    std::string target;
  };

  rule_result verdict_of(const json& v, rule_result r) {
    if (!v.is_object() || v.empty()) return r;
    const std::string& k = v.begin().key();  // see render_expr
    const json& val = v.begin().value();
    r.verdict = k;
    if ((k == "jump" || k == "goto") && val.is_object()) r.target = val.value("target", std::string());
    return r;
  }

  /// A rule's result, with its doubts said when it may apply.
  rule_result run_rule(const nft_rule_rec& rule) {
    doubts.clear();
    auto r = run_rule_expressions(rule);
    if (r.matched != tri::no)
      for (const auto& d : doubts) note(d);
    doubts.clear();
    return r;
  }

  rule_result run_rule_expressions(const nft_rule_rec& rule) {
    current = &rule;
    rule_result r;
    for (const auto& e : rule.expr) {
      if (!e.is_object() || e.empty()) continue;
      const std::string& k = e.begin().key();  // see render_expr
      const json& val = e.begin().value();
      if (k == "match") {
        auto t = match(val);
        if (t == tri::no) return {tri::no, {}, {}};
        if (t == tri::maybe) r.matched = tri::maybe;
      } else if (k == "vmap") {
        tri found = tri::no;
        json verdict;
        auto key_match = [&](const json& key_value) {
          json m = {{"op", "=="}, {"left", field(val, "key")}, {"right", key_value}};
          return match(m);
        };
        json scratch;
        const json* elems = elements(field(val, "data"), scratch);
        if (!elems) {
          doubt("verdict map " + field(val, "data").dump() + " not found: the rule may match");
          return {tri::maybe, {}, {}};
        }
        for (const auto& pair : *elems) {
          if (!pair.is_array() || pair.size() != 2) continue;
          auto t = key_match(pair[0]);
          if (t == tri::no) continue;
          found = t;
          verdict = pair[1];
          if (t == tri::yes) break;
        }
        if (found == tri::no) return {tri::no, {}, {}};
        if (found == tri::maybe) r.matched = tri::maybe;
        return verdict_of(verdict, r);
      } else if (k == "accept" || k == "drop" || k == "reject" || k == "jump" || k == "goto" || k == "return" ||
                 k == "continue") {
        return verdict_of(e, r);
      } else if (k == "queue") {
        doubt("queues packets to a userspace program: its verdict is unknown");
        return {tri::maybe, "accept", {}};
      } else if (k == "xt") {
        const auto type = val.is_object() ? val.value("type", std::string()) : std::string();
        const auto name = val.is_object() ? val.value("name", std::string()) : std::string();
        switch (judge_xt(type, name, rule.text, pkt.reply, pkt.too_big)) {
          case xt_effect::matches:
          case xt_effect::no_effect: break;
          case xt_effect::no_match: return {tri::no, {}, {}};
          case xt_effect::rejects: return verdict_of(json{{"reject", nullptr}}, r);
          case xt_effect::unknown:
            doubt("an iptables extension dropspot does not evaluate (" + render_expr(e) + "): the rule may match");
            r.matched = tri::maybe;
            break;
        }
      } else if (k == "counter" || k == "log" || k == "limit" || k == "mangle" || k == "notrack" || k == "set" ||
                 k == "ct helper" || k == "quota" || k == "meter" || k == "comment") {
        // statements that leave the verdict alone (a limit is assumed under its rate)
      } else {
        doubt("a statement dropspot does not evaluate (" + k + "): the rule may match");
        r.matched = tri::maybe;
      }
    }
    return r;
  }

  struct chain_result {
    fw_action action = fw_action::none;  ///< none: fell off the end (or returned)
    const nft_rule_rec* rule = nullptr;
    bool uncertain = false;
  };

  chain_result run_chain(const nft_chain_rec& chain, int depth) {
    if (depth > 32) {
      note("jumps nest deeper than 32 chains: evaluation stopped at chain " + chain.name);
      return {};
    }
    if (++chain_visits > max_chain_visits) {
      note("jumps enter chains more than " + std::to_string(max_chain_visits) + " times: evaluation stopped");
      return {};
    }
    for (auto index : chain.rules) {
      const auto& rule = rs.rules[index];
      if (without && rule.handle == without->handle && rule.table == without->table && rule.family == without->family)
        continue;
      auto r = run_rule(rule);
      if (r.matched == tri::no || r.verdict.empty() || r.verdict == "continue") continue;
      const bool maybe = r.matched == tri::maybe;
      if (r.verdict == "accept") return {fw_action::accept, &rule, maybe};
      if (r.verdict == "drop") return {fw_action::drop, &rule, maybe};
      if (r.verdict == "reject") return {fw_action::reject, &rule, maybe};
      if (r.verdict == "return") return {};
      if (r.verdict == "jump" || r.verdict == "goto") {
        auto target = rs.chains.find(chain_key(chain.family, chain.table, r.target));
        if (target == rs.chains.end()) {
          notes.push_back("chain " + r.target + " not found");
          continue;
        }
        auto sub = run_chain(target->second, depth + 1);
        sub.uncertain = sub.uncertain || maybe;
        if (sub.action != fw_action::none || r.verdict == "goto") return sub;
      }
    }
    return {};
  }
};

}  // namespace

namespace {

fw_finding evaluate_unchecked(const nft_ruleset& rules, const syn_packet& packet,
                              const fw_finding::accept_rule* without) {
  const auto& rs = rules.get();
  fw_finding out;
  // The hooks a SYN to this host passes, in order: netdev/inet ingress,
  // prerouting, input; within a hook, by priority.
  // Its reply: output, then postrouting.
  auto hook_rank = [](const std::string& hook) {
    return hook == "ingress" || hook == "output" ? 0 : hook == "prerouting" || hook == "postrouting" ? 1 : 2;
  };
  std::vector<const nft_chain_rec*> base;
  for (const auto& [key, c] : rs.chains) {
    if (!c.base || c.type != "filter") continue;  // nat and route chains do not filter
    const bool family_fits = c.family == "inet" || c.family == (packet.v6 ? "ip6" : "ip");
    if (packet.reply) {
      if ((c.hook == "output" || c.hook == "postrouting") && family_fits) base.push_back(&c);
    } else if ((c.hook == "input" || c.hook == "prerouting") && family_fits)
      base.push_back(&c);
    else if (c.hook == "ingress" && (c.family == "netdev" || c.family == "inet")) {
      // an ingress chain sees one device: remote traffic never arrives on lo
      const auto& iface = packet.in_interface;
      if (!c.device.empty() && (c.device == "lo" || (!iface.empty() && iface != c.device))) continue;
      if (!c.device.empty() && iface.empty())
        out.notes.push_back("table " + c.family + " " + c.table + " chain " + c.name + " filters device " + c.device +
                            " only; the input interface is unknown here: assumed to be it");
      base.push_back(&c);
    }
  }
  std::stable_sort(base.begin(), base.end(), [&](auto* a, auto* b) {
    if (hook_rank(a->hook) != hook_rank(b->hook)) return hook_rank(a->hook) < hook_rank(b->hook);
    return a->prio != b->prio ? a->prio < b->prio : a->order < b->order;
  });
  nft_eval ev{.rs = rs, .pkt = packet, .notes = out.notes, .without = without};
  for (const auto* c : base) {
    auto r = ev.run_chain(*c, 0);
    if (r.action == fw_action::none) {
      if (c->policy == "drop") {
        out.action = fw_action::drop;
        out.rule = "table " + c->family + " " + c->table + " chain " + c->name + " policy drop";
        out.family = c->family;
        out.table = c->table;
        out.chain = c->name;
        return out;
      }
      out.action = fw_action::accept;
      continue;
    }
    if (r.action == fw_action::accept) {
      out.action = fw_action::accept;
      out.accepted.push_back({ev.rule_name(*r.rule), r.rule->family, r.rule->table, r.rule->chain, r.rule->handle});
      continue;
    }
    out.action = r.action;
    out.rule = ev.rule_name(*r.rule);
    out.family = r.rule->family;
    out.table = r.rule->table;
    out.chain = r.rule->chain;
    out.handle = r.rule->handle;
    if (r.uncertain) out.notes.push_back("the rule that decided may not match: see the notes before it");
    return out;
  }
  if (base.empty()) out.action = fw_action::none;
  return out;
}

}  // namespace

fw_finding evaluate(const nft_ruleset& rules, const syn_packet& packet, const fw_finding::accept_rule* without) {
  try {
    return evaluate_unchecked(rules, packet, without);
  } catch (const json::exception& e) {
    fw_finding out;
    out.notes.push_back(std::string("the nftables ruleset has a structure dropspot does not understand (") + e.what() +
                        "): not evaluated");
    return out;
  }
}

}  // namespace dropspot::agent
