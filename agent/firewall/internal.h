#pragma once
// The firewall code's shared parts (not for use outside agent/firewall/):
// three-valued matching, TCP flags, address prefixes and ranges, reading the
// JSON nft prints, and nft_ruleset's inside.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/firewall/firewall.h"
#include "common/net.h"

namespace dropspot::agent::firewall_detail {

using json = nlohmann::json;

/// A three-valued match: an unknown expression "may match".
enum class tri { no, yes, maybe };
inline tri negate(tri t) { return t == tri::yes ? tri::no : t == tri::no ? tri::yes : tri::maybe; }

constexpr std::uint64_t tcp_syn = 0x02;
constexpr std::uint64_t tcp_ack = 0x10;
/// The flags of the packet a syn_packet stands for: SYN, or SYN-ACK for its reply.
inline std::uint64_t tcp_flags_of(const syn_packet& p) { return p.reply ? (tcp_syn | tcp_ack) : tcp_syn; }

/// Chains entered in one evaluation at most (nft and iptables): jumps that fan
/// out (two rules jumping to a chain that does the same, 32 deep) would
/// otherwise take 2^32.
constexpr std::size_t max_chain_visits = 10000;

/// A TCP flag by its name in nft or iptables ("syn", "ACK"...).
std::optional<std::uint64_t> tcp_flag_bit(std::string_view name);
/// An address; v4-mapped IPv6 given as IPv4.
inline std::optional<asio::ip::address> parse_address(std::string_view s) { return parse_ip(s); }
using dropspot::in_prefix;  // common/net.h
using dropspot::in_range;
/// "198.51.100.0/25" or "2001:db8::1": does the address match it?
inline std::optional<bool> address_matches_cidr(const asio::ip::address& a, std::string_view cidr) {
  return address_in_cidr(a, cidr);
}

/// j[key] for JSON that came from outside: null when j is not an object or
/// has no such key (nlohmann's const operator[] is undefined behaviour then).
const json& field(const json& j, const char* key);
/// nft's JSON expressions written back as nft text, for notes and rule names.
std::string render_left(const json& l);
std::string render_expr(const json& e);
std::string chain_key(std::string_view family, std::string_view table, std::string_view chain);

/// What an iptables extension in an iptables-nft rule (nft's `xt` expression,
/// opaque in the JSON) does with a first SYN.
enum class xt_effect {
  matches,    ///< the match holds for the SYN
  no_match,   ///< it does not: the rule does not apply
  no_effect,  ///< a comment or a LOG/NFLOG target: the rule goes on
  rejects,    ///< the REJECT target
  unknown,    ///< cannot tell: the rule "may match"
};
/// The values after `key` in a rule's text ("ct state related,established",
/// "ct state { new, untracked }", "fib daddr type != local", "tcp dport
/// 8080"): nothing when the key is absent. `negated` is set for "!=".
std::optional<std::vector<std::string>> values_after(std::string_view text, std::string_view key, bool& negated);

/// Judged from the text nft translated the rule to (`nft -a list ruleset`):
/// conntrack/state ("ct state related,established": a first SYN is new;
/// "ct status dnat": it has no status yet), addrtype ("fib daddr type local":
/// a SYN to this host), icmp/icmp6 (never a TCP packet), rt (an IPv6 routing
/// header: a SYN has none), limit (assumed under
/// its rate). Where nft printed no translation ("xt match recent"): unknown.
/// With `reply`, for the server's SYN-ACK instead: established, reply
/// direction, to a remote unicast address.
/// With `too_big`, for the ICMP 'fragmentation needed' / 'packet too big'
/// about the connection (syn_packet::too_big): conntrack state related.
xt_effect judge_xt(std::string_view type, std::string_view name, std::string_view rule_text, bool reply = false,
                   bool too_big = false);

}  // namespace dropspot::agent::firewall_detail

namespace dropspot::agent {

using firewall_detail::json;

struct nft_rule_rec {
  std::string family, table, chain;
  std::uint64_t handle = 0;
  json expr;
  std::string text;  ///< from `nft -a list ruleset`, else rendered
};
struct nft_chain_rec {
  std::string family, table, name;
  bool base = false;
  std::string hook, policy, type, device;
  long long prio = 0;
  std::size_t order = 0;
  std::vector<std::size_t> rules;  ///< indices into impl::rules
};
struct nft_ruleset::impl {
  std::vector<nft_rule_rec> rules;
  std::map<std::string, nft_chain_rec> chains;  ///< by chain_key
  std::map<std::string, json> sets;             ///< by chain_key(family, table, set): its "elem"
};

}  // namespace dropspot::agent
