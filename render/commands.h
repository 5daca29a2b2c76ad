#pragma once
// The commands inside advice ("check what listens: ss -tlnp 'sport = :80'"),
// found so that the text report never breaks one across lines: a command
// broken in the middle cannot be copied and pasted. Pure code.
#include <string>
#include <string_view>

namespace dropspot {

/// Whether `word` starts a command users type (ss, systemctl, nft, ufw,
/// firewall-cmd, journalctl, curl, openssl, semanage, apt, dnf, ...).
bool is_command_word(std::string_view word);

/// `advice` with the spaces inside each command replaced by `glue`, so that a
/// line breaker keeps every command whole. A command starts with a command
/// word at the start, after ": ", "; " or "(", and runs to the end, to the
/// ")" that closes a parenthesis opened before it, or to " (" or ", " outside
/// quotes (the prose that follows it).
std::string glue_commands(std::string_view advice, char glue);

}  // namespace dropspot
