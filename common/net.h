#pragma once
// Addresses, endpoints and ICMP errors as dropspot compares and writes them,
// and the one rule of which listening socket a SYN reaches: shared by the
// agent (its own diagnosis), the verdict engine and the renderers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dropspot.pb.h"

namespace asio::ip {
class address;
}

namespace dropspot {

/// Normalised address text: brackets and %scope removed, IPv4-mapped IPv6
/// shown as IPv4, IPv6 in canonical form. Text that is not an address is
/// returned lower-cased.
std::string normalize_address(std::string_view address);

/// Whether address text is IPv6 (it has a colon), without parsing it.
bool looks_ipv6(std::string_view address);

/// 127.0.0.0/8, ::1 (also v4-mapped) or "localhost".
bool is_loopback_address(std::string_view address);

/// "198.51.100.2:40000", "[2001:db8::2]:40000". The address is used as given
/// (escape it first where it came from the network).
std::string host_port(std::string_view address, std::uint32_t port);

/// Whether a listener bound to `listener` accepts a SYN sent to `destination`,
/// as the kernel's lookup decides: IPv4 reaches 0.0.0.0, the same IPv4 address,
/// and IPv6 sockets on :: (or the v4-mapped address) unless IPV6_V6ONLY; IPv6
/// reaches :: and the same address. An empty or "*" bound address accepts
/// everything; an unknown destination is reached by all but loopback sockets.
/// The port is not compared.
/// Who a listener is, in one word: its process's name; else its systemd unit
/// (the agent may name the unit from the socket's cgroup without being
/// allowed to look into another user's process); else "a process".
std::string listener_owner(const v1::Listener& listener);

bool listener_accepts(const v1::Listener& listener, std::string_view destination);
bool listener_accepts(const v1::Listener& listener, const asio::ip::address& destination);

/// An address literal (no brackets, no scope), IPv4-mapped IPv6 given as IPv4.
std::optional<asio::ip::address> parse_ip(std::string_view text);

/// An IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as IPv4; any other unchanged.
asio::ip::address unmapped(const asio::ip::address& a);

/// Whether `a` lies in the prefix net/len (false across families).
bool in_prefix(const asio::ip::address& a, const asio::ip::address& net, unsigned len);
/// Whether `a` lies in lo..hi, both included (false across families).
bool in_range(const asio::ip::address& a, const asio::ip::address& lo, const asio::ip::address& hi);

/// "198.51.100.0/25", "2001:db8::/32", one address (a /32 or /128), or
/// iptables' dotted mask ("10.0.0.0/255.0.0.0"): does `a` lie in it?
/// nullopt when the text is no such prefix (a length beyond the family's or
/// not a number, an ipset name, a MAC); false across families.
std::optional<bool> address_in_cidr(const asio::ip::address& a, std::string_view cidr);

/// "admin-prohibited", "port-unreachable", ... for an ICMP (v6=false) or
/// ICMPv6 (v6=true) error; "ICMP type T code C" otherwise.
std::string icmp_error_name(bool v6, std::uint32_t type, std::uint32_t code);

}  // namespace dropspot
