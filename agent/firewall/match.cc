// Matching helpers shared by the nft and iptables evaluators.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "agent/firewall/internal.h"

namespace dropspot::agent {

const char* to_string(fw_action a) {
  switch (a) {
    case fw_action::none: return "none";
    case fw_action::accept: return "accept";
    case fw_action::drop: return "drop";
    case fw_action::reject: return "reject";
  }
  return "?";
}

namespace firewall_detail {

std::optional<std::uint64_t> tcp_flag_bit(std::string_view name) {
  static const std::pair<std::string_view, std::uint64_t> flags[] = {{"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04},
                                                                     {"psh", 0x08}, {"ack", 0x10}, {"urg", 0x20},
                                                                     {"ecn", 0x40}, {"cwr", 0x80}};
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [n, bit] : flags)
    if (lower == n) return bit;
  return std::nullopt;
}

}  // namespace firewall_detail
}  // namespace dropspot::agent
