#include "common/firewall_rule.h"

#include <sstream>

namespace dropspot {

std::string firewall_fix_command(const std::string& rule, std::uint16_t port, bool reply) {
  const auto p = std::to_string(port);
  const std::string port_match = reply ? " tcp sport " : " tcp dport ";
  if (rule.rfind("table ", 0) == 0) {
    std::istringstream in(rule);
    std::string w_table, family, table, w_chain, chain, what, handle;
    in >> w_table >> family >> table >> w_chain >> chain >> what >> handle;
    if (w_chain != "chain") return {};
    if (what == "handle" && handle.size() > 1 && handle.back() == ':') {
      handle.pop_back();
      return "nft delete rule " + family + " " + table + " " + chain + " handle " + handle;
    }
    if (what == "policy") return "nft insert rule " + family + " " + table + " " + chain + port_match + p + " accept";
    return {};
  }
  auto colon = rule.find(": ");
  if (colon == std::string::npos) return {};
  const auto tool = rule.substr(0, colon);
  if (tool != "iptables" && tool != "ip6tables" && tool != "iptables-legacy" && tool != "ip6tables-legacy") return {};
  const auto body = rule.substr(colon + 2);
  if (body.rfind("-A ", 0) == 0) return tool + " -D " + body.substr(3);
  if (body.rfind("chain INPUT policy", 0) == 0 && !reply) return tool + " -I INPUT -p tcp --dport " + p + " -j ACCEPT";
  if (body.rfind("chain OUTPUT policy", 0) == 0 && reply) return tool + " -I OUTPUT -p tcp --sport " + p + " -j ACCEPT";
  return {};
}

std::string icmp_too_big_accept_command(const std::string& rule, bool v6) {
  if (rule.rfind("table ", 0) == 0) {
    std::istringstream in(rule);
    std::string w_table, family, table, w_chain, chain;
    in >> w_table >> family >> table >> w_chain >> chain;
    if (w_chain != "chain" || chain.empty()) return {};
    return "nft insert rule " + family + " " + table + " " + chain +
           (v6 ? " icmpv6 type packet-too-big accept"
               : " icmp type destination-unreachable icmp code frag-needed accept");
  }
  auto colon = rule.find(": ");
  if (colon == std::string::npos) return {};
  const auto tool = rule.substr(0, colon);
  if (tool != "iptables" && tool != "ip6tables" && tool != "iptables-legacy" && tool != "ip6tables-legacy") return {};
  std::istringstream in(rule.substr(colon + 2));
  std::string first, chain;
  in >> first >> chain;
  if (first == "chain") {
    std::string policy;
    in >> policy;
    if (policy != "policy") return {};
  } else if (first != "-A") {
    return {};
  }
  if (chain.empty()) return {};
  return tool + " -I " + chain +
         (v6 ? " -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT"
             : " -p icmp --icmp-type fragmentation-needed -j ACCEPT");
}

}  // namespace dropspot
