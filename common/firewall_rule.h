#pragma once
// Firewall rules as the agent names them in PortFacts.firewall, and the command
// that undoes one. Pure; shared by the agent (agent check) and the verdicts.
#include <cstdint>
#include <string>

namespace dropspot {

/// The command that removes a blocking rule, or lets the port past a drop
/// policy, for the names the agent gives:
///   "table inet filter chain input handle 7: tcp dport 8081 drop"
///       -> "nft delete rule inet filter input handle 7"
///   "table inet filter chain input policy drop"
///       -> "nft insert rule inet filter input tcp dport 8081 accept"
///   "iptables: -A INPUT -p tcp -m tcp --dport 8082 -j DROP"
///       -> "iptables -D INPUT -p tcp -m tcp --dport 8082 -j DROP"
///   "iptables-legacy: chain INPUT policy DROP (...)"
///       -> "iptables-legacy -I INPUT -p tcp --dport 8081 -j ACCEPT"
/// With `reply` (the rules follow output_path_marker: they drop the server's
/// answer), a policy is passed with the server's port as source port
/// ("tcp sport 8081 accept", "-I OUTPUT -p tcp --sport 8081 -j ACCEPT").
/// Empty for anything else.
std::string firewall_fix_command(const std::string& rule, std::uint16_t port, bool reply = false);

/// The command that lets the ICMP path-MTU discovery needs (IPv4 'fragmentation
/// needed', IPv6 'packet too big') past a rule of PortFacts.icmp_firewall: an
/// accept inserted first in the rule's chain, so that the rule keeps doing
/// what else it does (a rule that drops all ICMP, against ping):
///   "table inet filter chain input handle 7: meta l4proto icmp drop"
///       -> "nft insert rule inet filter input icmp type destination-unreachable icmp code frag-needed accept"
///   "ip6tables: -A INPUT -p ipv6-icmp -j DROP"
///       -> "ip6tables -I INPUT -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT"
/// Empty for anything else.
std::string icmp_too_big_accept_command(const std::string& rule, bool v6);

/// The first line of PortFacts.firewall when the SYN passes but a rule drops
/// the server's reply on its way out; the rules that do it follow.
inline constexpr const char* output_path_marker = "output path: the server's reply (SYN-ACK) is dropped on its way out";

}  // namespace dropspot
