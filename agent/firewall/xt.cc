// iptables extensions inside nft rules (iptables-nft): judged for a first SYN
// (its reply; an ICMP 'fragmentation needed') from the text nft translates
// them to.
#include <algorithm>

#include "agent/firewall/internal.h"
#include "common/text.h"

namespace dropspot::agent::firewall_detail {

std::optional<std::vector<std::string>> values_after(std::string_view text, std::string_view key, bool& negated) {
  const auto at = text.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(at + key.size());
  negated = false;
  if (rest.rfind("!= ", 0) == 0) {
    negated = true;
    rest.remove_prefix(3);
  } else if (rest.rfind("== ", 0) == 0) {
    rest.remove_prefix(3);
  }
  std::string_view list;
  if (!rest.empty() && rest.front() == '{') {
    const auto end = rest.find('}');
    if (end == std::string_view::npos) return std::nullopt;
    list = rest.substr(1, end - 1);
  } else {
    list = rest.substr(0, rest.find(' '));
  }
  std::vector<std::string> out;
  for (auto v : split(list, ',')) {
    v = trim(v);
    if (!v.empty()) out.emplace_back(v);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

namespace {

xt_effect from_set(const std::optional<std::vector<std::string>>& values, bool negated,
                   std::initializer_list<std::string_view> true_for_the_syn) {
  bool hit = false;
  for (const auto& v : *values)
    hit = hit || std::find(true_for_the_syn.begin(), true_for_the_syn.end(), v) != true_for_the_syn.end();
  return hit != negated ? xt_effect::matches : xt_effect::no_match;
}

/// An icmp/icmp6 match for the 'fragmentation needed' / 'packet too big'
/// packet, from nft's translation ("icmp type destination-unreachable icmp
/// code frag-needed", "icmpv6 type packet-too-big").
xt_effect judge_icmp_too_big(std::string_view name, std::string_view rule_text) {
  bool negated = false;
  const bool v6 = name == "icmp6";
  auto type = values_after(rule_text, v6 ? "icmpv6 type " : "icmp type ", negated);
  if (!type) return xt_effect::unknown;
  auto effect =
      v6 ? from_set(type, negated, {"packet-too-big", "2"}) : from_set(type, negated, {"destination-unreachable", "3"});
  if (effect != xt_effect::matches || v6) return effect;
  if (auto code = values_after(rule_text, "icmp code ", negated))
    return from_set(code, negated, {"frag-needed", "fragmentation-needed", "4"});
  return effect;
}

}  // namespace

xt_effect judge_xt(std::string_view type, std::string_view name, std::string_view rule_text, bool reply, bool too_big) {
  bool negated = false;
  if (type == "target") {
    if (name == "LOG" || name == "NFLOG") return xt_effect::no_effect;
    if (name == "REJECT") return xt_effect::rejects;
    return xt_effect::unknown;
  }
  if (name == "comment") return xt_effect::no_effect;
  if (name == "limit") return xt_effect::matches;  // as nft's own limit: assumed under its rate
  if (name == "icmp" || name == "icmp6") return too_big ? judge_icmp_too_big(name, rule_text) : xt_effect::no_match;
  if ((name == "tcp" || name == "udp" || name == "multiport") && too_big) return xt_effect::no_match;
  if (name == "rt") return xt_effect::no_match;  // IPv6 routing header (ufw drops type 0): a SYN carries none
  if (name == "conntrack" || name == "state") {
    // A first SYN: conntrack state new, no status bit (not DNATed, not yet
    // confirmed or seen a reply), direction original. Its SYN-ACK:
    // established; an ICMP error about the connection: related.
    if (auto states = values_after(rule_text, "ct state ", negated))
      return from_set(states, negated, {too_big ? "related" : reply ? "established" : "new"});
    if (auto status = values_after(rule_text, "ct status ", negated)) return from_set(status, negated, {});
    return xt_effect::unknown;
  }
  if (name == "addrtype") {
    // To one of this host's own addresses, from a remote unicast one.
    if (auto t = values_after(rule_text, "fib daddr type ", negated))
      return from_set(t, negated, {reply ? "unicast" : "local"});
    if (auto t = values_after(rule_text, "fib saddr type ", negated))
      return from_set(t, negated, {reply ? "local" : "unicast"});
    return xt_effect::unknown;
  }
  return xt_effect::unknown;
}

}  // namespace dropspot::agent::firewall_detail
