#pragma once
// Host firewall attribution: which rule drops or rejects a TCP SYN to a port
// (a UDP datagram; the ICMP that path-MTU discovery needs).
//
// Sources: the nftables ruleset as JSON (`nft -j list ruleset`, which also
// holds the rules iptables-nft made) with its text form (`nft -a list ruleset`)
// to quote rules as written; `iptables-save` / `ip6tables-save` output, both
// for iptables-legacy (its own hook, evaluated like a ruleset of its own) and
// for iptables-nft (only to quote the iptables line of a rule nft found).
//
// The evaluation follows the kernel: every base chain on the input hook of the
// packet's family (ip or ip6, plus inet) in priority order; in a chain, rules in
// order; jump/goto/return; accept ends a base chain only, drop and reject end
// everything; a chain without verdict ends with its policy. An expression the
// evaluator does not know makes its rule "may match": the rule is assumed to
// match and the finding says so in its notes, never silently (only for rules
// that may apply: a doubt about a rule a later match rules out is not said).
// iptables-nft's `xt` extensions are judged from nft's translation of the
// rule (judge_xt in internal.h). Where ufw made the rules, the blocking one is
// also named in ufw's words (ufw_rule_name).
//
// The parsers and evaluators are pure; only read_firewall touches the system.
#include <asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dropspot::agent {

/// The packet the question is about: a TCP SYN (conntrack state new).
struct syn_packet {
  bool v6 = false;                               ///< IPv6 (ip6/inet chains) or IPv4 (ip/inet chains)
  std::optional<asio::ip::address> source;       ///< nothing: any remote source
  std::optional<asio::ip::address> destination;  ///< nothing: any local address
  std::uint16_t port = 0;                        ///< destination port
  bool udp = false;                              ///< a UDP datagram (and its reply) instead of a TCP SYN
  /// An ICMP 'fragmentation needed' (IPv4: type 3 code 4) or ICMPv6 'packet
  /// too big' (type 2) instead: a router's answer to the server's full-size
  /// segment of this port's connection, coming in like the SYN (on
  /// in_interface, to the server) from an unknown router (`source` unset),
  /// conntrack state related (original direction). Path-MTU discovery
  /// needs it to reach the server's kernel (issue 18).
  bool too_big = false;
  std::string in_interface;  ///< empty: unknown (never "lo": the source is remote)
  /// The other direction: the server's SYN-ACK to that SYN, leaving through
  /// the output and postrouting hooks (OUTPUT in iptables) on in_interface.
  /// Addresses and ports keep their meaning (source: the prober's), conntrack
  /// sees an established entry in the reply direction.
  bool reply = false;
  /// The same packet's answer (see `reply`).
  syn_packet answer() const {
    auto r = *this;
    r.reply = true;
    return r;
  }
  /// The ICMP that tells the server its segments on this port are too big
  /// (see `too_big`).
  syn_packet too_big_about() const {
    auto r = *this;
    r.udp = false;
    r.reply = false;
    r.too_big = true;
    r.source.reset();
    return r;
  }
};

enum class fw_action {
  none,    ///< no verdict: the ruleset lets the packet through by default
  accept,  ///< an accept rule or an accept policy ended the evaluation
  drop,
  reject,
};
const char* to_string(fw_action a);

/// What a ruleset does with the packet.
struct fw_finding {
  fw_action action = fw_action::none;
  /// The rule (or policy) that decided, as the evidence names it:
  /// "table inet filter chain input handle 7: tcp dport 8081 drop",
  /// "iptables: -A INPUT -p tcp -m tcp --dport 8082 -j DROP",
  /// "table inet filter chain input policy drop". Empty when nothing decided.
  std::string rule;
  /// Uncertainties met on the way ("may match" rules, unknown source...).
  std::vector<std::string> notes;
  /// For nft rules of an iptables-nft table: family, table, chain, handle.
  std::string family, table, chain;
  std::uint64_t handle = 0;
  /// The rules that accepted the packet, one per base chain that did (nft).
  struct accept_rule {
    std::string rule, family, table, chain;
    std::uint64_t handle = 0;
  };
  std::vector<accept_rule> accepted;
  bool blocks() const { return action == fw_action::drop || action == fw_action::reject; }
};

// ---------------------------------------------------------------------------
// nftables
// ---------------------------------------------------------------------------

/// A parsed `nft -j list ruleset` (opaque; the JSON stays inside).
class nft_ruleset {
 public:
  nft_ruleset();
  ~nft_ruleset();
  nft_ruleset(nft_ruleset&&) noexcept;
  nft_ruleset& operator=(nft_ruleset&&) noexcept;
  struct impl;
  const impl& get() const { return *impl_; }
  impl& get() { return *impl_; }
  /// Number of rules, for tests and notes.
  std::size_t rule_count() const;

 private:
  std::unique_ptr<impl> impl_;
};

/// Parses `nft -j list ruleset` output. `text`, if not empty, is `nft -a list
/// ruleset` output: rules are then quoted as written (with their handle) rather
/// than rendered from JSON.
result<nft_ruleset> parse_nft_json(std::string_view json, std::string_view text = {});

/// The rule texts of `nft -a list ruleset` output by "family table chain handle",
/// and the device of each ingress chain by "family table chain device".
std::map<std::string, std::string> parse_nft_handles(std::string_view text);

/// What the nftables ruleset does with the packet; `without`, if given, is a
/// rule left out (what the ruleset would do without it).
fw_finding evaluate(const nft_ruleset& rules, const syn_packet& packet,
                    const fw_finding::accept_rule* without = nullptr);

/// Whether ufw made the ruleset (its chains ufw-user-input, ufw6-user-input).
bool has_ufw_chains(const nft_ruleset& rules);
/// What the blocking finding is in ufw's words, when ufw made the rule:
/// "ufw default deny incoming" (INPUT's drop policy), "ufw deny 8080/tcp",
/// "ufw reject from 192.0.2.0/24 to any port 80 proto tcp", a ufw limit; empty
/// otherwise.
std::string ufw_rule_name(const fw_finding& finding, bool ufw_chains);
/// On a ufw host (`ufw_chains`: has_ufw_chains), a packet accepted only by a
/// rule outside ufw's chains (an
/// `iptables -I INPUT ... -j ACCEPT` by hand): what says so, with what ufw's
/// own rules would do at its next reload or boot; empty otherwise.
std::string ufw_unkept_accept(const nft_ruleset& rules, const syn_packet& packet, const fw_finding& finding,
                              bool ufw_chains);

// ---------------------------------------------------------------------------
// iptables
// ---------------------------------------------------------------------------

/// One `-A CHAIN ...` line of iptables-save, split into arguments.
struct ipt_rule {
  std::string line;               ///< as iptables-save printed it
  std::vector<std::string> args;  ///< after "-A CHAIN"
};
struct ipt_chain {
  std::string policy;  ///< ACCEPT/DROP for built-in chains, "-" for user chains
  std::vector<ipt_rule> rules;
};
/// The filter table of iptables-save output.
struct ipt_ruleset {
  std::map<std::string, ipt_chain> chains;
  bool nft_backend = false;  ///< "# Generated by iptables-save ... (nf_tables)"
};

/// Parses iptables-save (or ip6tables-save) output; only *filter is kept.
result<ipt_ruleset> parse_iptables_save(std::string_view text);

/// What the filter table's INPUT chain does with the packet. `label` prefixes
/// the rule ("iptables", "ip6tables-legacy").
fw_finding evaluate(const ipt_ruleset& rules, const syn_packet& packet, std::string_view label);

// ---------------------------------------------------------------------------
// The host, all sources together
// ---------------------------------------------------------------------------

/// What read_firewall collected: each source is empty when absent.
struct firewall_snapshot {
  std::optional<nft_ruleset> nft;
  std::optional<ipt_ruleset> iptables_nft_v4, iptables_nft_v6;  ///< to quote iptables-nft lines
  std::optional<ipt_ruleset> iptables_legacy_v4, iptables_legacy_v6;
  /// The host uses iptables-legacy and its rules could not be read: the
  /// firewall is then not known to let a packet through.
  bool legacy_unread_v4 = false, legacy_unread_v6 = false;
  /// The iptables slots hold saved files (iptables-persistent's rules.v4,
  /// loaded by iptables-restore at boot), named "iptables:", not live legacy tables.
  bool iptables_files = false;
  std::vector<std::string> notes;  ///< sources that failed or are missing
};

/// Everything the firewall does with the packet: the rules that block it,
/// each as one line for PortFacts.firewall (the nft rule, then the iptables
/// line it came from), plus notes. `blocked` is empty when nothing blocks.
struct firewall_diagnosis {
  std::vector<std::string> blocked;  ///< rules that drop/reject, as named in the evidence
  std::vector<std::string> notes;
  fw_action action = fw_action::none;
  bool inspected = false;  ///< the sources in use could be read (none blocks: no rule blocks)
  std::string unkept;      ///< allowed by a rule the firewall manager will drop (ufw_unkept_accept)
};
firewall_diagnosis diagnose(const firewall_snapshot& snapshot, const syn_packet& packet);

/// Reads the live rulesets: nft (JSON and text), iptables-save/ip6tables-save
/// when they use the nft backend, iptables-legacy-save/ip6tables-legacy-save.
firewall_snapshot read_firewall(std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace dropspot::agent
