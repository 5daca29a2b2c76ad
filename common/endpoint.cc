#include "common/endpoint.h"

#include <asio/ip/address.hpp>

#include <cctype>

#include "common/ports.h"
#include "common/text.h"

namespace dropspot {

bool is_ip_literal(std::string_view host) {
  std::error_code ec;
  asio::ip::make_address(std::string(host), ec);
  return !ec;
}

result<std::string> validate_host(std::string_view host) {
  using R = result<std::string>;
  const std::string shown = quote(host.substr(0, 80));
  if (host.empty()) return R::failure("empty host name");
  if (is_ip_literal(host)) return std::string(host);
  std::string_view name = host;
  if (name.back() == '.') name.remove_suffix(1);  // fully qualified
  if (name.empty() || name.size() > 253) return R::failure("host name " + shown + " is not a valid name");
  for (std::string_view label : split(name, '.')) {
    if (label.empty() || label.size() > 63) return R::failure("host name " + shown + " has an empty or too long label");
    if (label.front() == '-' || label.back() == '-')
      return R::failure("host name " + shown + " has a label starting or ending with '-'");
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-' && c != '_')
        return R::failure("host name " + shown + " contains " + quote(std::string(1, static_cast<char>(c))) +
                          ", which no host name may contain");
  }
  return std::string(host);
}

result<endpoint_spec> parse_endpoint(std::string_view text) {
  using R = result<endpoint_spec>;
  text = trim(text);
  endpoint_spec spec;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return R::failure("missing ']' in " + quote(text));
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return R::failure("unexpected text after ']' in " + quote(text));
      port = rest.substr(1);
      if (port.empty()) return R::failure("missing port after ':' in " + quote(text));
    }
    if (!is_ip_literal(host) || host.find(':') == std::string_view::npos)
      return R::failure(quote(host) + " in brackets is not an IPv6 address");
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) {
      // Several colons: a bare IPv6 literal without port.
      if (!is_ip_literal(text)) return R::failure(quote(text) + " is not an address (write [IPv6]:PORT)");
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return R::failure("missing port after ':' in " + quote(text));
    }
  }
  auto valid = validate_host(host);
  if (!valid) return R::failure(valid.error());
  spec.host = *valid;
  if (!port.empty()) {
    auto p = parse_port(port);
    if (!p) return R::failure("in " + quote(text) + ": " + p.error());
    spec.port = *p;
  }
  return spec;
}

std::string format_endpoint(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos)
    out = "[" + std::string(host) + "]";
  else
    out = std::string(host);
  return out + ":" + std::to_string(port);
}

}  // namespace dropspot
