// ufw's rules as ufw names them: the user reads `ufw status`, not the chains
// ufw generates.
#include "agent/firewall/internal.h"
#include "common/text.h"

namespace dropspot::agent {

namespace {

/// The word or {set} after `key` in an nft rule's text, as ufw writes a list
/// ("80,443"); empty when absent (or negated, which ufw never writes).
std::string value_after(std::string_view text, std::string_view key) {
  bool negated = false;
  const auto values = firewall_detail::values_after(text, key, negated);
  if (!values || negated) return {};
  std::string out;
  for (const auto& v : *values) out += (out.empty() ? "" : ",") + v;
  return out;
}

}  // namespace

bool has_ufw_chains(const nft_ruleset& rules) {
  for (const auto& [key, c] : rules.get().chains)
    if (c.name == "ufw-user-input" || c.name == "ufw6-user-input") return true;
  return false;
}

std::string ufw_rule_name(const fw_finding& f, bool ufw_chains) {
  if (!ufw_chains || !f.blocks()) return {};
  const bool v6 = f.family == "ip6";
  if (f.chain == "INPUT" && std::string_view(f.rule).ends_with(" policy drop"))
    return "ufw default deny incoming (no ufw rule allows the port: `ufw status verbose`)";
  if (f.chain == (v6 ? "ufw6-reject-input" : "ufw-reject-input"))
    return "ufw default reject incoming (no ufw rule allows the port: `ufw status verbose`)";
  if (f.chain == (v6 ? "ufw6-user-limit" : "ufw-user-limit"))
    return "ufw limit: more than 6 new connections from this address within 30 s (`ufw status verbose`)";
  if (f.chain != (v6 ? "ufw6-user-input" : "ufw-user-input")) return {};
  const auto colon = f.rule.find(": ");
  const std::string_view text =
      colon == std::string::npos ? std::string_view() : std::string_view(f.rule).substr(colon + 2);
  const bool udp = text.find("udp dport ") != std::string_view::npos;
  const auto port = value_after(text, udp ? "udp dport " : "tcp dport ");
  const auto from = value_after(text, v6 ? "ip6 saddr " : "ip saddr ");
  const std::string action = f.action == fw_action::reject ? "reject" : "deny";
  const std::string proto = udp ? "udp" : "tcp";
  if (port.empty() && from.empty()) return {};
  if (from.empty()) return "ufw " + action + " " + port + "/" + proto;
  if (port.empty()) return "ufw " + action + " from " + from;
  return "ufw " + action + " from " + from + " to any port " + port + " proto " + proto;
}

std::string ufw_unkept_accept(const nft_ruleset& rules, const syn_packet& packet, const fw_finding& finding,
                              bool ufw_chains) {
  if (finding.action != fw_action::accept || !ufw_chains) return {};
  const std::string family = packet.v6 ? "ip6" : "ip";
  for (const auto& a : finding.accepted) {
    if (a.family != family || a.table != "filter" || a.chain.rfind("ufw", 0) == 0) continue;
    auto without = evaluate(rules, packet, &a);
    if (!without.blocks()) continue;
    auto ufw = ufw_rule_name(without, true);
    return "allowed now only by a rule ufw did not make (" + a.rule + "): ufw drops it at its next reload or boot, " +
           "and then " + (ufw.empty() ? without.rule : ufw) + " blocks the port";
  }
  return {};
}

}  // namespace dropspot::agent
