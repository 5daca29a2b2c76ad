#include "common/net.h"

#include <asio/ip/address.hpp>
#include <array>
#include <vector>

#include "common/text.h"

namespace dropspot {

std::string normalize_address(std::string_view address) {
  std::string a(trim(address));
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  if (auto pct = a.find('%'); pct != std::string::npos) a.resize(pct);
  std::error_code ec;
  if (const auto v4 = asio::ip::make_address_v4(a, ec); !ec) return v4.to_string();
  if (const auto v6 = asio::ip::make_address_v6(a, ec); !ec) {
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    return v6.to_string();
  }
  return lower(a);
}

bool looks_ipv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

bool is_loopback_address(std::string_view address) {
  const auto a = normalize_address(address);
  return a == "::1" || a.rfind("127.", 0) == 0 || a == "localhost";
}

std::string host_port(std::string_view address, std::uint32_t port) {
  std::string a(address);
  if (looks_ipv6(a)) a = "[" + a + "]";
  return a + ":" + std::to_string(port);
}

std::string listener_owner(const v1::Listener& listener) {
  if (!listener.process().empty()) return listener.process();
  if (!listener.unit().empty()) return listener.unit();
  return "a process";
}

bool listener_accepts(const v1::Listener& listener, std::string_view destination) {
  const auto bound = normalize_address(listener.address());
  const auto dst = normalize_address(destination);
  if (bound.empty() || bound == "*") return true;
  if (dst.empty()) return !is_loopback_address(bound);  // cannot tell: only loopback is surely wrong
  const bool dst_v6 = looks_ipv6(dst);
  if (bound == "0.0.0.0") return !dst_v6;
  if (bound == "::") return dst_v6 || !listener.v6_only();
  return bound == dst;
}

bool listener_accepts(const v1::Listener& listener, const asio::ip::address& destination) {
  return listener_accepts(listener, destination.to_string());
}

std::string icmp_error_name(bool v6, std::uint32_t type, std::uint32_t code) {
  if (!v6 && type == 3) {
    static constexpr std::array<const char*, 16> names = {"net-unreachable",
                                                          "host-unreachable",
                                                          "protocol-unreachable",
                                                          "port-unreachable",
                                                          "fragmentation-needed",
                                                          "source-route-failed",
                                                          "net-unknown",
                                                          "host-unknown",
                                                          "source-host-isolated",
                                                          "net-prohibited",
                                                          "host-prohibited",
                                                          "net-unreachable-for-tos",
                                                          "host-unreachable-for-tos",
                                                          "admin-prohibited",
                                                          "host-precedence-violation",
                                                          "precedence-cutoff"};
    if (code < names.size()) return names[code];
  }
  if (!v6 && type == 11) return "time-exceeded";
  if (v6 && type == 1) {
    static constexpr std::array<const char*, 7> names = {
        "no-route",         "admin-prohibited", "beyond-scope", "address-unreachable",
        "port-unreachable", "policy-fail",      "reject-route"};
    if (code < names.size()) return names[code];
  }
  if (v6 && type == 2) return "packet-too-big";
  if (v6 && type == 3) return "time-exceeded";
  return std::string(v6 ? "ICMPv6" : "ICMP") + " type " + std::to_string(type) + " code " + std::to_string(code);
}

namespace {

/// An address as bytes (4 or 16) for prefix comparisons.
std::vector<unsigned char> address_bytes(const asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

}  // namespace

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

std::optional<asio::ip::address> parse_ip(std::string_view text) {
  asio::error_code ec;
  auto a = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

bool in_prefix(const asio::ip::address& a, const asio::ip::address& net, unsigned len) {
  if (a.is_v4() != net.is_v4()) return false;
  const auto x = address_bytes(a), y = address_bytes(net);
  for (std::size_t i = 0; i < x.size() && len > 0; ++i) {
    const unsigned bits = std::min(len, 8u);
    const auto mask = static_cast<unsigned char>(0xFF << (8 - bits));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    len -= bits;
  }
  return true;
}

bool in_range(const asio::ip::address& a, const asio::ip::address& lo, const asio::ip::address& hi) {
  if (a.is_v4() != lo.is_v4() || a.is_v4() != hi.is_v4()) return false;
  const auto x = address_bytes(a);
  return x >= address_bytes(lo) && x <= address_bytes(hi);
}

std::optional<bool> address_in_cidr(const asio::ip::address& a, std::string_view cidr) {
  const auto slash = cidr.find('/');
  const auto net = parse_ip(cidr.substr(0, slash));
  if (!net) return std::nullopt;
  const unsigned max = net->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const auto rest = cidr.substr(slash + 1);
    if (rest.find('.') != std::string_view::npos) {  // iptables may print a dotted mask
      const auto mask = parse_ip(rest);
      if (!mask || !mask->is_v4() || !net->is_v4()) return std::nullopt;
      len = static_cast<unsigned>(__builtin_popcount(mask->to_v4().to_uint()));
    } else {
      if (rest.empty() || rest.size() > 3 || rest.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
      len = static_cast<unsigned>(std::stoul(std::string(rest)));
      if (len > max) return std::nullopt;
    }
  }
  const bool mapped = a.is_v6() && a.to_v6().is_v4_mapped();
  return in_prefix(mapped ? asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()) : a, *net, len);
}

}  // namespace dropspot
