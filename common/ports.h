#pragma once
// Port lists as users write them: "22,80,8000-8010".
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dropspot {

/// Parses a comma-separated list of ports and inclusive ranges (1-65535).
/// Spaces around items are ignored, duplicates are merged, the result is
/// sorted. Empty items, reversed ranges, 0, out-of-range or non-numeric
/// items are errors naming the offending item.
result<std::vector<std::uint16_t>> parse_port_list(std::string_view text);

/// Parses one port number (1-65535).
result<std::uint16_t> parse_port(std::string_view text);

/// The port of a listen address as configuration files and systemd write
/// it: "80", "0.0.0.0:80", "[::]:443", "*:8080"; an error for an address
/// alone ("[::1]", "/run/x.sock").
result<std::uint16_t> port_of_listen(std::string_view text);

/// Renders ports back compactly: {22,80,81,82} -> "22,80-82".
std::string format_port_list(const std::vector<std::uint16_t>& ports);

}  // namespace dropspot
