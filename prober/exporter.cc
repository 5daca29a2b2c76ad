#include "prober/exporter.h"

#include <algorithm>
#include <array>

#include "common/endpoint.h"
#include "common/net.h"
#include "common/text.h"

namespace dropspot::prober {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

result<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int lo = hi >= 0 ? hex_value(text[i + 2]) : -1;
      if (lo < 0) return result<std::string>::failure("bad %-escape in " + quote(text.substr(0, 40)));
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return result<std::string>::failure("a NUL byte in " + quote(text.substr(0, 40)));
    out += c;
  }
  return out;
}

constexpr std::array probe_keys = {"agent", "expect", "probe", "timeout", "app-timeout"};

std::string without_trailing_dot(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return lower(host);
}

}  // namespace

result<query_params> parse_query(std::string_view query) {
  using R = result<query_params>;
  if (query.size() > max_query_size)
    return R::failure("the query is longer than " + std::to_string(max_query_size) + " bytes");
  query_params params;
  for (auto pair : split(query, '&')) {
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = url_decode(pair.substr(0, eq));
    if (!name) return R::failure(name.error());
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return R::failure(value.error());
    params.emplace_back(*name, *value);
    if (params.size() > max_query_params)
      return R::failure("more than " + std::to_string(max_query_params) + " parameters");
  }
  return params;
}

result<target_line> probe_request(const query_params& params) {
  using R = result<target_line>;
  target_line line;
  bool have_target = false, have_ports = false;
  for (const auto& [name, value] : params) {
    if (name == "target") {
      if (have_target) return R::failure("target given twice (one target a request)");
      if (value.empty()) return R::failure("target is empty");
      line.host = value;
      have_target = true;
    } else if (name == "ports") {
      if (have_ports) return R::failure("ports given twice (write ports=22,80,443)");
      line.ports = value;
      have_ports = true;
    } else if (std::find(probe_keys.begin(), probe_keys.end(), name) != probe_keys.end()) {
      if (value.empty()) return R::failure(name + " is empty");
      line.settings.emplace_back(name, value);
    } else {
      return R::failure("unknown parameter " + quote(name) +
                        " (target, ports, agent, expect, probe, timeout, app-timeout)");
    }
  }
  if (!have_target) return R::failure("no target: /probe?target=HOST&ports=22,80,443");
  return line;
}

result<allow_rule> parse_allow_rule(std::string_view text) {
  using R = result<allow_rule>;
  const auto t = trim(text);
  allow_rule rule;
  if (t == "*") {
    rule.text = "*";
    rule.any = true;
    return rule;
  }
  // An address or prefix: the part before any '/' parses as an address.
  if (address_in_cidr(asio::ip::address_v4::loopback(), t).has_value()) {
    rule.text = std::string(t);
    rule.prefix = true;
    return rule;
  }
  if (t.find('/') != std::string_view::npos)
    return R::failure(quote(t) + " is not an address prefix (e.g. 203.0.113.0/24, 2001:db8::/32)");
  auto host = validate_host(t);
  if (!host) return R::failure(host.error());
  rule.text = without_trailing_dot(*host);
  return rule;
}

bool target_allowed(const std::vector<allow_rule>& rules, std::string_view host,
                    const std::optional<asio::ip::address>& address) {
  const auto name = without_trailing_dot(host);
  return std::any_of(rules.begin(), rules.end(), [&](const allow_rule& r) {
    if (r.any) return true;
    if (r.prefix) return address && address_in_cidr(*address, r.text).value_or(false);
    return r.text == name;
  });
}

}  // namespace dropspot::prober
