#include "render/commands.h"

#include <algorithm>
#include <array>

namespace dropspot {

namespace {

constexpr std::array<std::string_view, 58> command_words = {"agent",
                                                            "apachectl",
                                                            "apache2ctl",
                                                            "apk",
                                                            "apt",
                                                            "apt-get",
                                                            "ausearch",
                                                            "cat",
                                                            "certbot",
                                                            "chmod",
                                                            "curl",
                                                            "dig",
                                                            "dnf",
                                                            "doveconf",
                                                            "dpkg-reconfigure",
                                                            "exim4",
                                                            "firewall-cmd",
                                                            "getenforce",
                                                            "grep",
                                                            "host",
                                                            "install",
                                                            "ip",
                                                            "ip6tables",
                                                            "ip6tables-save",
                                                            "iptables",
                                                            "iptables-legacy",
                                                            "iptables-save",
                                                            "journalctl",
                                                            "less",
                                                            "mtr",
                                                            "nc",
                                                            "netfilter-persistent",
                                                            "nft",
                                                            "nginx",
                                                            "nmap",
                                                            "nslookup",
                                                            "openssl",
                                                            "pacman",
                                                            "ping",
                                                            "postconf",
                                                            "postfix",
                                                            "prober",
                                                            "semanage",
                                                            "sed",
                                                            "service",
                                                            "ss",
                                                            "ssh",
                                                            "sshd",
                                                            "sudo",
                                                            "systemctl",
                                                            "tcpdump",
                                                            "Test-NetConnection",
                                                            "traceroute",
                                                            "ufw",
                                                            "update-exim4.conf",
                                                            "yum",
                                                            "zypper",
                                                            "tracepath"};

}  // namespace

bool is_command_word(std::string_view word) {
  return std::find(command_words.begin(), command_words.end(), word) != command_words.end();
}

std::string glue_commands(std::string_view advice, char glue) {
  std::string out(advice);
  // Parentheses open before the current position (in prose and in commands).
  int depth = 0;
  std::size_t i = 0;
  const auto starts_command = [&](std::size_t at) {
    auto end = advice.find_first_of(" ;)", at);
    if (end == std::string_view::npos) end = advice.size();
    return is_command_word(advice.substr(at, end - at));
  };
  // "..., or nft list ruleset": a command also starts after these words.
  const auto after_connective = [&](std::size_t space) {
    if (space == 0) return false;
    const auto begin = advice.rfind(' ', space - 1);
    const auto word = advice.substr(begin == std::string_view::npos ? 0 : begin + 1,
                                    space - (begin == std::string_view::npos ? 0 : begin + 1));
    return word == "or" || word == "then" || word == "and" || word == "run" || word == "with";
  };
  bool at_start = true;  // the start of the text, or just after ": ", "; ", ", ", "(" or a connective
  while (i < advice.size()) {
    if (at_start && starts_command(i)) {
      // A command: glue its spaces up to where it ends.
      const int base = depth;
      char quote = 0;
      std::size_t j = i;
      for (; j < advice.size(); ++j) {
        const char c = advice[j];
        if (quote) {
          if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (c == '(') {
          if (j > 0 && advice[j - 1] == ' ' && depth == base) break;  // " (": prose follows
          ++depth;
        } else if (c == ')') {
          if (depth == base) break;  // closes a parenthesis opened before the command
          --depth;
        } else if (c == ',' && j + 1 < advice.size() && advice[j + 1] == ' ') {
          break;
        } else if (c == ';' && depth == base && j + 2 < advice.size() && advice[j + 1] == ' ' &&
                   !starts_command(j + 2)) {
          break;  // "; check: ..." : prose again
        }
        if (c == ' ' && j + 1 < advice.size() && (advice[j + 1] != '(' || quote)) out[j] = glue;
      }
      i = j;
      at_start = false;
      continue;
    }
    const char c = advice[i];
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    const bool spaced = i + 1 < advice.size() && advice[i + 1] == ' ';
    at_start = c == '(' || ((c == ':' || c == ';' || c == ',') && spaced) || (c == ' ' && after_connective(i));
    ++i;
    if (at_start && c != '(' && c != ' ') ++i;  // past the space after ':', ';' or ','
  }
  return out;
}

}  // namespace dropspot
