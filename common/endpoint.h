#pragma once
// Host names and HOST[:PORT] endpoints as users write them.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dropspot {

struct endpoint_spec {
  std::string host;        ///< name or address literal, without brackets
  std::uint16_t port = 0;  ///< 0 when not given
};

/// True for an IPv4 or IPv6 address literal.
bool is_ip_literal(std::string_view host);

/// Validates a host: an IPv4/IPv6 literal or a DNS name (RFC 1123 labels of
/// letters, digits and hyphens, 1-63 characters each, 253 in all).
result<std::string> validate_host(std::string_view host);

/// Parses HOST, HOST:PORT, [V6], [V6]:PORT; a bare IPv6 literal has no port.
result<endpoint_spec> parse_endpoint(std::string_view text);

/// Formats an endpoint back: "[2001:db8::1]:7411", "host:7411".
std::string format_endpoint(std::string_view host, std::uint16_t port);

}  // namespace dropspot
