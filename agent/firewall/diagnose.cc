// The host's firewall, all sources together: reading them and diagnosing a SYN.
#include "agent/firewall/firewall.h"
#include "agent/run_program.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/firewall_rule.h"

namespace dropspot::agent {

// ---------------------------------------------------------------------------
// All sources
// ---------------------------------------------------------------------------

namespace {

/// One direction: the SYN on its way in, or its reply on its way out.
firewall_diagnosis diagnose_one(const firewall_snapshot& snap, const syn_packet& packet) {
  firewall_diagnosis out;
  out.notes = snap.notes;
  auto add = [&](fw_finding f) {
    for (auto& n : f.notes) out.notes.push_back(std::move(n));
    if (!f.blocks()) return false;
    if (out.action == fw_action::none || out.action == fw_action::accept) out.action = f.action;
    out.blocked.push_back(f.rule);
    return true;
  };
  if (snap.nft) {
    out.inspected = true;
    auto f = evaluate(*snap.nft, packet);
    const auto family = f.family;
    const auto table = f.table;
    // Where ufw made the rule, its own words first: what `ufw status` shows.
    const bool ufw_chains = has_ufw_chains(*snap.nft);
    const auto ufw = ufw_rule_name(f, ufw_chains);
    if (!ufw.empty()) out.blocked.push_back(ufw);
    if (!packet.too_big) out.unkept = ufw_unkept_accept(*snap.nft, packet, f, ufw_chains);
    if (add(std::move(f))) {
      // a rule of an iptables-nft table: quote the iptables line too
      const auto& ipt = packet.v6 ? snap.iptables_nft_v6 : snap.iptables_nft_v4;
      if (ipt && family == (packet.v6 ? "ip6" : "ip") && table == "filter") {
        auto i = evaluate(*ipt, packet, packet.v6 ? "ip6tables" : "iptables");
        if (i.blocks()) out.blocked.push_back(i.rule);
      }
    } else if (out.action == fw_action::none) {
      out.action = fw_action::accept;
    }
  }
  const auto& legacy = packet.v6 ? snap.iptables_legacy_v6 : snap.iptables_legacy_v4;
  if (legacy) {
    out.inspected = true;
    const std::string label =
        std::string(packet.v6 ? "ip6tables" : "iptables") + (snap.iptables_files ? "" : "-legacy");
    add(evaluate(*legacy, packet, label));
  }
  if (packet.v6 ? snap.legacy_unread_v6 : snap.legacy_unread_v4) out.inspected = false;
  return out;
}

}  // namespace

firewall_diagnosis diagnose(const firewall_snapshot& snap, const syn_packet& packet) {
  auto in = diagnose_one(snap, packet);
  if (!in.blocked.empty() || packet.reply || packet.too_big) return in;
  // The SYN passes: does its answer get out? A rule in the output path that
  // drops the SYN-ACK looks, from outside, like one that drops the SYN.
  auto out = diagnose_one(snap, packet.answer());
  if (out.blocked.empty()) return in;
  out.blocked.insert(out.blocked.begin(), std::string(output_path_marker));
  for (auto& n : in.notes)
    if (std::find(out.notes.begin(), out.notes.end(), n) == out.notes.end()) out.notes.push_back(std::move(n));
  return out;
}

namespace {

/// Whether the host's `iptables` (or `ip6tables`) is the legacy backend
/// (Debian's and Ubuntu's alternatives: /etc/alternatives/iptables ->
/// /usr/sbin/iptables-legacy).
bool legacy_selected(const std::string& family) {
  std::error_code ec;
  const auto target = std::filesystem::read_symlink("/etc/alternatives/" + family, ec);
  return !ec && target.filename().string() == family + "-legacy";
}

}  // namespace

firewall_snapshot read_firewall(std::chrono::milliseconds timeout) {
  firewall_snapshot snap;
  std::string err;
  if (auto j = run_program({"nft", "-j", "list", "ruleset"}, timeout, err)) {
    std::string text_err;
    auto text = run_program({"nft", "-a", "list", "ruleset"}, timeout, text_err);
    auto parsed = parse_nft_json(*j, text ? *text : std::string());
    if (parsed)
      snap.nft = std::move(parsed).value();
    else
      snap.notes.push_back(parsed.error());
  } else {
    snap.notes.push_back("nftables not read (" + err + ")");
  }
  // Whether the program ran (its rules, if any, are in a slot).
  auto read_ipt = [&](const char* program, std::optional<ipt_ruleset>& nft_slot,
                      std::optional<ipt_ruleset>& legacy_slot) {
    std::string e;
    auto text = run_program({program}, timeout, e);
    if (!text) return false;
    auto parsed = parse_iptables_save(*text);
    if (!parsed) {
      snap.notes.push_back(std::string(program) + ": " + parsed.error());
      return true;
    }
    if (parsed->nft_backend)
      nft_slot = std::move(parsed).value();
    else if (!parsed->chains.empty())
      legacy_slot = std::move(parsed).value();
    return true;
  };
  read_ipt("iptables-save", snap.iptables_nft_v4, snap.iptables_legacy_v4);
  read_ipt("ip6tables-save", snap.iptables_nft_v6, snap.iptables_legacy_v6);
  std::optional<ipt_ruleset> unused;
  for (const bool v6 : {false, true}) {
    const std::string family = v6 ? "ip6tables" : "iptables";
    const std::string program = family + "-legacy-save";
    if (read_ipt(program.c_str(), unused, v6 ? snap.iptables_legacy_v6 : snap.iptables_legacy_v4)) continue;
    // It lists the tables from /proc/net/ip_tables_names, which only root
    // reads: said where the host chose the legacy backend, silent elsewhere
    // (its tables exist only where something uses them).
    if (!legacy_selected(family)) continue;
    (v6 ? snap.legacy_unread_v6 : snap.legacy_unread_v4) = true;
    std::string why = program + " failed";
    if (::geteuid() != 0)
      why += std::string(": /proc/net/") + (v6 ? "ip6" : "ip") + "_tables_names is root's only and the agent " +
             "does not run as root; `sudo " + program + "` or `sudo agent check` reads them";
    snap.notes.push_back(family + "-legacy rules not read (" + why + ")");
  }
  return snap;
}

}  // namespace dropspot::agent
