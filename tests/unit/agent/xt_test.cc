// iptables extensions in iptables-nft rules, judged for a first SYN from the
// text nft translates them to.
#include <catch2/catch.hpp>

#include "agent/firewall/internal.h"

using namespace dropspot::agent::firewall_detail;

TEST_CASE("judge_xt: conntrack states and statuses for a first SYN") {
  CHECK(judge_xt("match", "conntrack", "ct state related,established counter packets 1 bytes 2 accept") ==
        xt_effect::no_match);
  CHECK(judge_xt("match", "conntrack", "ct state invalid counter packets 0 bytes 0 drop") == xt_effect::no_match);
  CHECK(judge_xt("match", "conntrack", "meta l4proto tcp ct state new counter accept") == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", "ct state { established, new } accept") == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", "ct state != established drop") == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", "ct state != new drop") == xt_effect::no_match);
  CHECK(judge_xt("match", "state", "ct state new accept") == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", "ct status dnat counter accept") == xt_effect::no_match);
  CHECK(judge_xt("match", "conntrack", "ct status != dnat drop") == xt_effect::matches);
  // nft printed no translation: unknown, the rule may match
  CHECK(judge_xt("match", "conntrack", "xt match conntrack counter accept") == xt_effect::unknown);
  CHECK(judge_xt("match", "conntrack", "ct state") == xt_effect::unknown);
  CHECK(judge_xt("match", "conntrack", "ct state { new") == xt_effect::unknown);
}

TEST_CASE("judge_xt: addrtype, icmp, limit, comment and targets") {
  CHECK(judge_xt("match", "addrtype", "fib daddr type local counter return") == xt_effect::matches);
  CHECK(judge_xt("match", "addrtype", "fib daddr type broadcast counter jump x") == xt_effect::no_match);
  CHECK(judge_xt("match", "addrtype", "fib daddr type != local drop") == xt_effect::no_match);
  CHECK(judge_xt("match", "addrtype", "fib saddr type unicast accept") == xt_effect::matches);
  CHECK(judge_xt("match", "addrtype", "xt match addrtype drop") == xt_effect::unknown);
  CHECK(judge_xt("match", "icmp", "meta l4proto icmp xt match icmp accept") == xt_effect::no_match);
  CHECK(judge_xt("match", "icmp6", "xt match icmp6 accept") == xt_effect::no_match);
  CHECK(judge_xt("match", "rt", "rt type 0 counter drop") == xt_effect::no_match);
  CHECK(judge_xt("match", "limit", "limit rate 3/minute burst 10 packets log") == xt_effect::matches);
  CHECK(judge_xt("match", "comment", "") == xt_effect::no_effect);
  CHECK(judge_xt("match", "recent", "xt match recent jump ufw-user-limit") == xt_effect::unknown);
  CHECK(judge_xt("target", "LOG", "") == xt_effect::no_effect);
  CHECK(judge_xt("target", "NFLOG", "") == xt_effect::no_effect);
  CHECK(judge_xt("target", "REJECT", "") == xt_effect::rejects);
  CHECK(judge_xt("target", "MASQUERADE", "") == xt_effect::unknown);
  CHECK(judge_xt("", "", "") == xt_effect::unknown);
}

TEST_CASE("judge_xt: for the SYN-ACK (established) and the ICMP 'fragmentation needed' (related)") {
  const auto rel = "ct state related,established counter accept";
  CHECK(judge_xt("match", "conntrack", rel, true) == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", rel, false, true) == xt_effect::matches);
  CHECK(judge_xt("match", "conntrack", "ct state new accept", false, true) == xt_effect::no_match);
  CHECK(judge_xt("match", "icmp", "icmp type destination-unreachable icmp code frag-needed drop", false, true) ==
        xt_effect::matches);
  CHECK(judge_xt("match", "icmp", "icmp type destination-unreachable icmp code port-unreachable drop", false, true) ==
        xt_effect::no_match);
  CHECK(judge_xt("match", "icmp", "icmp type echo-request drop", false, true) == xt_effect::no_match);
  CHECK(judge_xt("match", "icmp", "icmp type != echo-request drop", false, true) == xt_effect::matches);
  CHECK(judge_xt("match", "icmp6", "icmpv6 type packet-too-big accept", false, true) == xt_effect::matches);
  CHECK(judge_xt("match", "icmp", "xt match icmp counter drop", false, true) == xt_effect::unknown);
  CHECK(judge_xt("match", "tcp", "tcp dport 80 drop", false, true) == xt_effect::no_match);
}
