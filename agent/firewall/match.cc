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

std::optional<asio::ip::address> parse_address(std::string_view s) {
  asio::error_code ec;
  auto a = asio::ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

namespace {

/// An address as bytes (4 or 16) for prefix and range comparisons.
std::vector<unsigned char> address_bytes(const asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

}  // namespace

bool in_prefix(const asio::ip::address& a, const asio::ip::address& net, unsigned len) {
  if (a.is_v4() != net.is_v4()) return false;
  auto x = address_bytes(a), y = address_bytes(net);
  for (unsigned i = 0; i < x.size() && len > 0; ++i) {
    const unsigned bits = std::min(len, 8u);
    const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    len -= bits;
  }
  return true;
}

bool in_range(const asio::ip::address& a, const asio::ip::address& lo, const asio::ip::address& hi) {
  if (a.is_v4() != lo.is_v4() || a.is_v4() != hi.is_v4()) return false;
  auto x = address_bytes(a);
  return x >= address_bytes(lo) && x <= address_bytes(hi);
}

/// "198.51.100.0/25" or "2001:db8::1": does the address match it?
std::optional<bool> address_matches_cidr(const asio::ip::address& a, std::string_view cidr) {
  auto slash = cidr.find('/');
  auto net = parse_address(cidr.substr(0, slash));
  if (!net) return std::nullopt;
  unsigned len = net->is_v4() ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto rest = cidr.substr(slash + 1);
    if (rest.find('.') != std::string_view::npos) {  // iptables may print a dotted mask
      auto mask = parse_address(rest);
      if (!mask || !mask->is_v4()) return std::nullopt;
      len = static_cast<unsigned>(__builtin_popcount(mask->to_v4().to_uint()));
    } else {
      len = static_cast<unsigned>(std::atoi(std::string(rest).c_str()));
    }
  }
  return in_prefix(a, *net, len);
}

}  // namespace firewall_detail
}  // namespace dropspot::agent
