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
/// Empty for anything else.
std::string firewall_fix_command(const std::string& rule, std::uint16_t port);

}  // namespace dropspot
