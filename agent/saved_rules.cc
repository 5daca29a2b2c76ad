#include "agent/saved_rules.h"
#include "agent/host_files.h"
#include "agent/run_program.h"
#include "common/text.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dropspot::agent {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

/// The script run in the throwaway namespace: loads each file, then lists the
/// result as JSON and as text, split by a marker line. A file nft refuses is
/// named on stdout (run_program keeps no stderr).
constexpr const char* load_script =
    "for f do\n"
    "  if ! m=$(nft -f \"$f\" 2>&1); then\n"
    "    printf 'dropspot-load-failed %s: %s\\n' \"$f\" \"$(printf '%s\\n' \"$m\" | head -n 1)\"; exit 0\n"
    "  fi\n"
    "done\n"
    "nft -j list ruleset && echo && echo '#--dropspot-text--' && nft -a list ruleset\n";

/// Loads nft scripts into a network namespace of their own and lists the
/// result. As root: `unshare --net`. As the packaged unit's user: a user
/// namespace too, where it is root (RestrictNamespaces=user net in the unit);
/// the host's rules are never touched either way.
bool load_nft(const std::vector<std::string>& paths, std::chrono::milliseconds timeout, std::string& json,
              std::string& text, std::string& error) {
  std::vector<std::string> argv{"unshare"};
  if (::geteuid() != 0) argv.insert(argv.end(), {"--user", "--map-root-user"});
  argv.insert(argv.end(), {"--net", "--", "sh", "-c", load_script, "sh"});
  argv.insert(argv.end(), paths.begin(), paths.end());
  auto out = run_program(argv, timeout, error);
  if (!out) {
    error = "could not load them in a network namespace of their own (" + error +
            (::geteuid() != 0 ? "; are unprivileged user namespaces disabled?)" : ")");
    return false;
  }
  constexpr std::string_view failed = "dropspot-load-failed ";
  if (out->rfind(failed, 0) == 0) {
    error = "nft -f " + escape(trim(std::string_view(*out).substr(failed.size(), 300)));
    return false;
  }
  constexpr std::string_view marker = "\n#--dropspot-text--\n";
  const auto split = out->find(marker);
  if (split == std::string::npos) {
    error = "nft list ruleset printed no result";
    return false;
  }
  json = out->substr(0, split);
  text = out->substr(split + marker.size());
  return true;
}

}  // namespace

bool looks_like_iptables_save(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    return line[0] == '*' || line[0] == ':' || line.rfind("-A ", 0) == 0;
  }
  return false;
}

saved_rules saved_rules_from(std::string_view nft_json, std::string_view nft_text, std::string_view iptables_v4,
                             std::string_view iptables_v6, std::vector<std::string> sources) {
  saved_rules out;
  out.sources = std::move(sources);
  if (!nft_json.empty()) {
    auto parsed = parse_nft_json(nft_json, nft_text);
    if (parsed)
      out.rules.nft = std::move(parsed).value();
    else
      out.notes.push_back("saved nft rules: " + parsed.error());
  }
  auto ipt = [&](std::string_view text, std::optional<ipt_ruleset>& slot) {
    if (text.empty()) return;
    auto parsed = parse_iptables_save(text);
    if (parsed)
      slot = std::move(parsed).value();
    else
      out.notes.push_back("saved iptables rules: " + parsed.error());
  };
  ipt(iptables_v4, out.rules.iptables_legacy_v4);
  ipt(iptables_v6, out.rules.iptables_legacy_v6);
  out.rules.iptables_files = true;
  return out;
}

saved_rules read_saved_rules(const saved_rules_options& options) {
  std::vector<std::string> nft_paths, sources, notes;
  std::string v4, v6;
  auto consider = [&](const std::string& shown, const std::string& path, int family) {
    std::string text;
    if (!read_text(path, text)) {
      // There but unreadable (iptables-persistent writes rules.v4 0640
      // root:root): said, never a silent "no drift".
      if (path_exists(path) && ::access(path.c_str(), R_OK) != 0)
        notes.push_back(shown + " not compared: " + std::strerror(errno) +
                        (::geteuid() != 0 ? " (root's only: `sudo agent check` compares it)" : ""));
      return;
    }
    sources.push_back(shown);
    if (looks_like_iptables_save(text)) {
      // family 0: an explicit file of unknown family: IPv6 when it names IPv6 addresses only... keep it simple: both
      if (family != 6) v4 += text;
      if (family != 4) v6 += text;
    } else {
      nft_paths.push_back(path);
    }
  };
  if (!options.files.empty()) {
    for (const auto& f : options.files) {
      const bool six = f.find("v6") != std::string::npos || f.find("ip6") != std::string::npos;
      const bool four = f.find("v4") != std::string::npos;
      consider(f, f, six ? 6 : four ? 4 : 0);
    }
  } else {
    consider("/etc/nftables.conf", join_root(options.root, "/etc/nftables.conf"), 0);
    consider("/etc/sysconfig/nftables.conf", join_root(options.root, "/etc/sysconfig/nftables.conf"), 0);
    consider("/etc/iptables/rules.v4", join_root(options.root, "/etc/iptables/rules.v4"), 4);
    consider("/etc/iptables/rules.v6", join_root(options.root, "/etc/iptables/rules.v6"), 6);
    consider("/etc/sysconfig/iptables", join_root(options.root, "/etc/sysconfig/iptables"), 4);
    consider("/etc/sysconfig/ip6tables", join_root(options.root, "/etc/sysconfig/ip6tables"), 6);
  }
  std::string json, text;
  if (!nft_paths.empty()) {
    std::string error = "loading them is switched off";
    if (!options.use_netns || !load_nft(nft_paths, options.timeout, json, text, error)) {
      notes.push_back("saved nft rules not compared: " + error);
      // without the nft part the comparison would be wrong: drop those sources
      std::vector<std::string> kept;
      for (const auto& s : sources) {
        bool is_nft = false;
        for (const auto& p : nft_paths)
          if (p == s || p == join_root(options.root, s)) is_nft = true;
        if (!is_nft) kept.push_back(s);
      }
      sources = kept;
      json.clear();
    }
  }
  auto out = saved_rules_from(json, text, v4, v6, std::move(sources));
  for (auto& n : notes) out.notes.push_back(std::move(n));
  return out;
}

std::string compare_saved(const firewall_diagnosis& live, const firewall_diagnosis& saved, std::uint16_t port,
                          const std::vector<std::string>& sources) {
  const auto n = std::to_string(port);
  const bool live_blocks = !live.blocked.empty();
  const bool saved_blocks = !saved.blocked.empty();
  if (live_blocks == saved_blocks) return {};
  const auto where = "the saved rules (" + join(sources) + ")";
  if (!live_blocks)
    return "allowed now, not saved: gone after reboot: " + where + " block port " + n + ": " + saved.blocked.front();
  return "blocked now, but " + where + " allow port " + n + ": someone changed the live rules (" +
         live.blocked.front() + ")";
}

}  // namespace dropspot::agent
