#pragma once
// Port lists as users write them: "22,80,8000-8010".
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace dropspot {

/// Parses a comma-separated list of ports and inclusive ranges (1-65535).
/// Spaces around items are ignored, duplicates are merged, the result is
/// sorted. Empty items, reversed ranges, 0, out-of-range or non-numeric
/// items are errors naming the offending item.
result<std::vector<std::uint16_t>> parse_port_list(std::string_view text);

/// The ports of a list that names transports: "22,80,53/udp,5000-5010/udp"
/// (no suffix, or /tcp: TCP). Each list sorted and without duplicates.
struct port_lists {
  std::vector<std::uint16_t> tcp;
  std::vector<std::uint16_t> udp;
  bool empty() const { return tcp.empty() && udp.empty(); }
  std::size_t size() const { return tcp.size() + udp.size(); }
};

/// Parses a port list whose items may carry /tcp or /udp (any case); the
/// errors are parse_port_list's, and an unknown suffix names the item.
result<port_lists> parse_port_specs(std::string_view text);

/// Splits "53/udp" into its port text and whether it names UDP; an unknown
/// suffix is an error naming the item. No suffix: TCP.
result<std::pair<std::string_view, bool>> split_protocol_suffix(std::string_view item);

/// One port under test as one number, for maps and lists over both
/// transports: the port, plus 65536 for UDP. TCP keys are the port itself.
using port_key = std::uint32_t;
constexpr port_key make_port_key(std::uint16_t port, bool udp) { return port | (udp ? 0x10000u : 0u); }
constexpr std::uint16_t key_port(port_key key) { return static_cast<std::uint16_t>(key & 0xffffu); }
constexpr bool key_udp(port_key key) { return (key & 0x10000u) != 0; }
/// Every port of the lists as keys: TCP first, then UDP, each in order.
std::vector<port_key> port_keys(const std::vector<std::uint16_t>& tcp, const std::vector<std::uint16_t>& udp);

/// "80" for TCP, "53/udp" for UDP: a port as the report names it.
std::string port_label(std::uint32_t port, bool udp);
/// port_label of a key.
inline std::string key_label(port_key key) { return port_label(key_port(key), key_udp(key)); }

/// Renders both lists compactly: "22,80-82,53/udp,5000-5002/udp".
std::string format_port_specs(const port_lists& ports);

/// Parses one port number (1-65535).
result<std::uint16_t> parse_port(std::string_view text);

/// The port of a listen address as configuration files and systemd write
/// it: "80", "0.0.0.0:80", "[::]:443", "*:8080"; an error for an address
/// alone ("[::1]", "/run/x.sock").
result<std::uint16_t> port_of_listen(std::string_view text);

/// Renders ports back compactly: {22,80,81,82} -> "22,80-82".
std::string format_port_list(const std::vector<std::uint16_t>& ports);

}  // namespace dropspot
