#pragma once
// The firewall rules that survive a reboot, to compare with the live ones.
//
// Files (under an injectable root): /etc/nftables.conf (Debian) and
// /etc/sysconfig/nftables.conf (RHEL) with their includes; /etc/iptables/
// rules.v4 and rules.v6 (iptables-persistent); /etc/sysconfig/iptables and
// ip6tables (iptables-services). `--saved-rules FILE` replaces that list
// (each file is nft syntax or iptables-save format, told apart by content).
//
// An nft script is loaded exactly as nft would at boot, in a network namespace
// of its own (`unshare --net`, `nft -f FILE`, `nft -j list ruleset` there);
// not as root, inside a user namespace too (`unshare --user --map-root-user`),
// where the packaged unit's user is root of nothing but that namespace. Where
// neither works the file is reported as not compared, with the reason.
// iptables-save files are parsed directly.
//
// compare_saved is pure: the live verdict against the saved one, per port.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "agent/firewall/firewall.h"

namespace dropspot::agent {

struct saved_rules_options {
  std::string root = "/";          ///< where /etc is read (a fixture tree in tests)
  std::vector<std::string> files;  ///< explicit files (absolute, not under root): replace the well-known list
  bool use_netns = true;           ///< load nft scripts in a throwaway network namespace
  std::chrono::milliseconds timeout{5000};
};

/// What would be loaded at boot.
struct saved_rules {
  firewall_snapshot rules;           ///< nft: the scripts; iptables_legacy_v4/v6: the iptables-save files
  std::vector<std::string> sources;  ///< files read, as named in the warnings
  std::vector<std::string> notes;    ///< files that could not be read or loaded
  bool found() const { return !sources.empty(); }
};

/// iptables-save format ("*filter", ":INPUT ACCEPT [0:0]", "-A ...") rather than nft syntax.
bool looks_like_iptables_save(std::string_view text);

/// Reads the saved rules (see the top of this file).
saved_rules read_saved_rules(const saved_rules_options& options);

/// Parses the saved rules from texts already loaded: `nft_json` / `nft_text`
/// (`nft -j list ruleset` / `nft -a list ruleset` of the loaded scripts, empty
/// when none) and iptables-save texts for IPv4 and IPv6. For tests and for
/// read_saved_rules.
saved_rules saved_rules_from(std::string_view nft_json, std::string_view nft_text, std::string_view iptables_v4,
                             std::string_view iptables_v6, std::vector<std::string> sources);

/// The difference between the live and the saved verdict for a SYN to `port`,
/// as one warning; empty when they agree:
///   "allowed now, not saved: gone after reboot: the saved rules (/etc/nftables.conf) block port 80: RULE"
///   "blocked now, but the saved rules (/etc/nftables.conf) allow port 80: someone changed the live rules (RULE)"
std::string compare_saved(const firewall_diagnosis& live, const firewall_diagnosis& saved, std::uint16_t port,
                          const std::vector<std::string>& sources);

}  // namespace dropspot::agent
