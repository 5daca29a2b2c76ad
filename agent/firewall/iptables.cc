// iptables: iptables-save text, and what its filter table's INPUT chain does with a SYN.
#include <cstdlib>
#include <sstream>

#include "agent/firewall/internal.h"

namespace dropspot::agent {

using namespace firewall_detail;

// ---------------------------------------------------------------------------
// iptables
// ---------------------------------------------------------------------------

namespace {

/// Splits an iptables-save line into arguments; "quoted strings" stay one.
std::vector<std::string> split_args(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, have = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size())
        cur += line[++i];
      else if (c == '"')
        quoted = false;
      else
        cur += c;
    } else if (c == '"') {
      quoted = have = true;
    } else if (c == ' ' || c == '\t') {
      if (have) out.push_back(std::move(cur));
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(std::move(cur));
  return out;
}

bool port_in_spec(std::uint16_t port, std::string_view spec) {  // "80", "8000:8010", ":1023"
  auto colon = spec.find(':');
  if (colon == std::string_view::npos) return std::atoi(std::string(spec).c_str()) == port;
  long lo = colon == 0 ? 0 : std::atol(std::string(spec.substr(0, colon)).c_str());
  long hi = colon + 1 == spec.size() ? 65535 : std::atol(std::string(spec.substr(colon + 1)).c_str());
  return port >= lo && port <= hi;
}

std::vector<std::string> split_list(std::string_view s, char sep = ',') {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = s.find(sep, start);
    out.emplace_back(s.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::optional<std::uint64_t> ipt_flags(std::string_view list) {
  if (list == "ALL") return 0x3F;
  if (list == "NONE") return 0;
  std::uint64_t bits = 0;
  for (const auto& f : split_list(list)) {
    auto b = tcp_flag_bit(f);
    if (!b) return std::nullopt;
    bits |= *b;
  }
  return bits;
}

struct ipt_eval {
  const ipt_ruleset& rs;
  const syn_packet& pkt;
  std::string_view label;
  std::vector<std::string>& notes;
  const ipt_rule* current = nullptr;
  std::size_t chain_visits = 0;

  std::string rule_name(const ipt_rule& r) const { return std::string(label) + ": " + r.line; }
  void note(const std::string& what) {
    auto n = (current ? rule_name(*current) + ": " : std::string()) + what;
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }

  struct rule_result {
    tri matched = tri::yes;
    std::string target;  ///< after -j
    bool go = false;     ///< -g
  };

  /// -p's value names the packet's protocol.
  bool own_protocol(const std::string& p) const {
    if (p == "all") return true;
    if (pkt.too_big) return pkt.v6 ? (p == "ipv6-icmp" || p == "icmpv6" || p == "58") : (p == "icmp" || p == "1");
    return p == (pkt.udp ? "udp" : "tcp") || p == (pkt.udp ? "17" : "6");
  }

  /// --icmp-type / --icmpv6-type for the 'fragmentation needed' / 'packet
  /// too big' packet: a name ("fragmentation-needed", "destination-
  /// unreachable", "packet-too-big") or TYPE[/CODE].
  tri icmp_type_matches(bool v6, const std::string& spec) const {
    if (v6 != pkt.v6) return tri::no;
    if (v6) return spec == "packet-too-big" || spec == "2" || spec == "2/0" ? tri::yes : tri::no;
    if (spec == "fragmentation-needed" || spec == "destination-unreachable" || spec == "3" || spec == "3/4")
      return tri::yes;
    return tri::no;
  }

  rule_result run_rule(const ipt_rule& rule) {
    current = &rule;
    rule_result r;
    const auto& a = rule.args;
    bool neg = false;
    auto value = [&](std::size_t& i) -> std::string { return i + 1 < a.size() ? a[++i] : std::string(); };
    auto combine = [&](tri t) {
      if (neg) t = negate(t);
      neg = false;
      if (t == tri::no)
        r.matched = tri::no;
      else if (t == tri::maybe && r.matched == tri::yes)
        r.matched = tri::maybe;
    };
    for (std::size_t i = 0; i < a.size() && r.matched != tri::no; ++i) {
      const auto& o = a[i];
      if (o == "!") {
        neg = true;
      } else if (o == "-p" || o == "--protocol") {
        auto p = value(i);
        combine(own_protocol(p) ? tri::yes : tri::no);
      } else if (o == "-s" || o == "--source" || o == "-d" || o == "--destination") {
        const bool src = o == "-s" || o == "--source";
        auto list = value(i);
        const bool remote = src != pkt.reply;  // the prober's address: the SYN's source, its reply's destination
        const auto& addr = remote ? pkt.source : pkt.destination;
        if (!addr) {
          if (remote) {
            note(pkt.reply ? "matches the destination address; for any remote destination taken as not matching"
                           : "matches the source address; for any remote source taken as not matching");
            combine(tri::no);
          } else {
            note(std::string("matches the ") + (pkt.reply ? "source" : "destination") +
                 " address, unknown here: assumed to match");
            neg = false;
            combine(tri::maybe);
          }
          continue;
        }
        tri t = tri::no;
        for (const auto& cidr : split_list(list)) {
          auto m = address_matches_cidr(*addr, cidr);
          if (!m)
            t = tri::maybe;
          else if (*m) {
            t = tri::yes;
            break;
          }
        }
        combine(t);
      } else if ((o == "-i" || o == "--in-interface") && pkt.reply) {
        value(i);
        combine(tri::no);  // a reply leaving this host came in on no interface
      } else if (o == "-i" || o == "--in-interface" || ((o == "-o" || o == "--out-interface") && pkt.reply)) {
        auto name = value(i);
        std::string iface = pkt.in_interface;
        bool wildcard = !name.empty() && name.back() == '+';
        auto prefix = wildcard ? name.substr(0, name.size() - 1) : name;
        if (iface.empty()) {
          if (name == "lo") {
            combine(tri::no);
          } else {
            note(std::string("matches the ") + (pkt.reply ? "output" : "input") +
                 " interface, unknown here: assumed to match");
            neg = false;
            combine(tri::maybe);
          }
          continue;
        }
        combine((wildcard ? iface.compare(0, prefix.size(), prefix) == 0 : iface == name) ? tri::yes : tri::no);
      } else if (o == "-o" || o == "--out-interface") {
        value(i);
        combine(tri::yes);
      } else if (o == "-m" || o == "--match") {
        auto mod = value(i);
        static const char* known[] = {"tcp",     "udp",      "multiport", "conntrack", "state",
                                      "comment", "addrtype", "limit",     "icmp",      "icmp6"};
        if (mod == "rt" || mod == "frag") {
          // IPv6 routing headers and fragments (ufw drops type-0 routing
          // headers): a probe's SYN carries neither, nor does its answer.
          combine(tri::no);
        } else if (std::find(std::begin(known), std::end(known), mod) == std::end(known)) {
          note("an iptables match dropspot does not evaluate (-m " + mod + "): the rule may match");
          combine(tri::maybe);
        }
      } else if (pkt.too_big &&
                 (o == "--dport" || o == "--destination-port" || o == "--sport" || o == "--source-port" ||
                  o == "--dports" || o == "--destination-ports" || o == "--sports" || o == "--source-ports" ||
                  o == "--ports" || o == "--syn" || o == "--tcp-flags")) {
        if (o == "--tcp-flags") value(i);
        if (o != "--syn") value(i);
        combine(tri::no);  // an ICMP message has no ports or TCP flags
      } else if (o == "--icmp-type" || o == "--icmpv6-type") {
        combine(!pkt.too_big ? tri::no : icmp_type_matches(o == "--icmpv6-type", value(i)));
      } else if ((o == "--dport" || o == "--destination-port") != pkt.reply &&
                 (o == "--dport" || o == "--destination-port" || o == "--sport" || o == "--source-port")) {
        combine(port_in_spec(pkt.port, value(i)) ? tri::yes : tri::no);  // the server's port
      } else if ((o == "--dports" || o == "--destination-ports") != pkt.reply &&
                 (o == "--dports" || o == "--destination-ports" || o == "--sports" || o == "--source-ports")) {
        bool any = false;
        for (const auto& p : split_list(value(i))) any = any || port_in_spec(pkt.port, p);
        combine(any ? tri::yes : tri::no);
      } else if (o == "--ports") {
        bool any = false;
        for (const auto& p : split_list(value(i))) any = any || port_in_spec(pkt.port, p);
        combine(any ? tri::yes : tri::no);
      } else if (o == "--sport" || o == "--source-port" || o == "--sports" || o == "--source-ports" || o == "--dport" ||
                 o == "--destination-port" || o == "--dports" || o == "--destination-ports") {
        value(i);
        note("matches the client's source port, unknown: assumed to match");
        neg = false;
        combine(tri::maybe);
      } else if (o == "--ctstate" || o == "--state") {
        bool any = false;
        for (const auto& s : split_list(value(i)))
          any = any || s == (pkt.too_big ? "RELATED" : pkt.reply ? "ESTABLISHED" : "NEW");
        combine(any ? tri::yes : tri::no);
      } else if (o == "--syn") {
        combine(pkt.reply || pkt.udp ? tri::no : tri::yes);  // SYN set, ACK clear
      } else if (o == "--tcp-flags") {
        auto mask = ipt_flags(value(i));
        auto comp = ipt_flags(value(i));
        combine(pkt.udp        ? tri::no
                : mask && comp ? ((tcp_flags_of(pkt) & *mask) == *comp ? tri::yes : tri::no)
                               : tri::maybe);
      } else if (o == "--dst-type") {
        auto t = value(i);
        combine(t == (pkt.reply ? "UNICAST" : "LOCAL") ? tri::yes : tri::no);
      } else if (o == "-j" || o == "--jump" || o == "-g" || o == "--goto") {
        r.go = o == "-g" || o == "--goto";
        r.target = value(i);
        // the target's own options (--reject-with, --log-prefix) follow; they do not match
        break;
      } else if (o == "--comment" || o == "--limit" || o == "--limit-burst" || o == "--src-type") {
        value(i);
        neg = false;
      } else if (o.rfind("--", 0) == 0) {
        // an option of a match dropspot does not evaluate: skip its values
        while (i + 1 < a.size() && a[i + 1].rfind('-', 0) != 0 && a[i + 1] != "!") ++i;
        neg = false;
      }
    }
    return r;
  }

  struct chain_result {
    fw_action action = fw_action::none;
    const ipt_rule* rule = nullptr;
    bool uncertain = false;
  };

  chain_result run_chain(const std::string& name, int depth) {
    auto c = rs.chains.find(name);
    if (c == rs.chains.end() || depth > 32) return {};
    if (++chain_visits > max_chain_visits) {
      note("jumps enter chains more than " + std::to_string(max_chain_visits) + " times: evaluation stopped");
      return {};
    }
    for (const auto& rule : c->second.rules) {
      auto r = run_rule(rule);
      if (r.matched == tri::no || r.target.empty()) continue;
      const bool maybe = r.matched == tri::maybe;
      if (r.target == "ACCEPT") return {fw_action::accept, &rule, maybe};
      if (r.target == "DROP") return {fw_action::drop, &rule, maybe};
      if (r.target == "REJECT") return {fw_action::reject, &rule, maybe};
      if (r.target == "RETURN") return {};
      if (rs.chains.count(r.target)) {
        auto sub = run_chain(r.target, depth + 1);
        sub.uncertain = sub.uncertain || maybe;
        if (sub.action != fw_action::none || r.go) return sub;
        continue;
      }
      if (r.target != "LOG" && r.target != "NFLOG" && r.target != "MARK" && r.target != "CONNMARK")
        note("target " + r.target + " is not evaluated: assumed to let the packet go on");
    }
    return {};
  }
};

}  // namespace

result<ipt_ruleset> parse_iptables_save(std::string_view text) {
  ipt_ruleset out;
  std::istringstream in{std::string(text)};
  std::string line, table;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.find("Generated by") != std::string::npos && line.find("(nf_tables)") != std::string::npos)
        out.nft_backend = true;
      continue;
    }
    if (line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    if (line == "COMMIT") {
      table.clear();
      continue;
    }
    if (table != "filter") continue;
    if (line[0] == ':') {
      auto args = split_args(line.substr(1));
      if (args.size() < 2)
        return result<ipt_ruleset>::failure("iptables-save line " + std::to_string(n) + ": bad chain");
      out.chains[args[0]].policy = args[1];
      continue;
    }
    auto args = split_args(line);
    if (args.size() < 2 || args[0] != "-A")
      return result<ipt_ruleset>::failure("iptables-save line " + std::to_string(n) + ": expected -A CHAIN");
    ipt_rule rule;
    rule.line = line;
    rule.args.assign(args.begin() + 2, args.end());
    out.chains[args[1]].rules.push_back(std::move(rule));
  }
  return out;
}

fw_finding evaluate(const ipt_ruleset& rules, const syn_packet& packet, std::string_view label) {
  fw_finding out;
  const std::string chain = packet.reply ? "OUTPUT" : "INPUT";
  auto input = rules.chains.find(chain);
  if (input == rules.chains.end()) return out;
  ipt_eval ev{rules, packet, label, out.notes};
  auto r = ev.run_chain(chain, 0);
  if (r.action == fw_action::none) {
    if (input->second.policy == "DROP") {
      out.action = fw_action::drop;
      out.rule = std::string(label) + ": chain " + chain + " policy DROP (:" + chain + " DROP)";
    } else {
      out.action = fw_action::accept;
    }
    return out;
  }
  out.action = r.action;
  out.rule = ev.rule_name(*r.rule);
  if (r.uncertain) out.notes.push_back("the rule that decided may not match: see the notes before it");
  return out;
}

}  // namespace dropspot::agent
