#include "common/ports.h"

#include <algorithm>
#include <charconv>

#include "common/text.h"

namespace dropspot {

namespace {

constexpr std::size_t max_item_shown = 40;

std::string shown(std::string_view item) { return quote(item.substr(0, max_item_shown)); }

}  // namespace

result<std::uint16_t> parse_port(std::string_view text) {
  text = trim(text);
  if (text.empty()) return result<std::uint16_t>::failure("empty port");
  unsigned value = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && ptr == last && value > 65535))
    return result<std::uint16_t>::failure(shown(text) + " is out of range (1-65535)");
  if (ec != std::errc() || ptr != last)
    return result<std::uint16_t>::failure(shown(text) + " is not a port number (1-65535)");
  if (value == 0) return result<std::uint16_t>::failure("port 0 is not a usable port (1-65535)");
  return static_cast<std::uint16_t>(value);
}

result<std::vector<std::uint16_t>> parse_port_list(std::string_view text) {
  using R = result<std::vector<std::uint16_t>>;
  if (trim(text).empty()) return R::failure("empty port list");
  std::vector<std::uint16_t> ports;
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.empty()) return R::failure("empty item in port list " + shown(text));
    auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      auto port = parse_port(item);
      if (!port) return R::failure(port.error());
      ports.push_back(*port);
      continue;
    }
    auto lo = parse_port(item.substr(0, dash));
    auto hi = parse_port(item.substr(dash + 1));
    if (!lo || !hi) return R::failure("bad range " + shown(item) + ": " + (!lo ? lo.error() : hi.error()));
    if (*lo > *hi) return R::failure("bad range " + shown(item) + ": start is above end");
    for (unsigned p = *lo; p <= *hi; ++p) ports.push_back(static_cast<std::uint16_t>(p));
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

std::string format_port_list(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (std::size_t i = 0; i < ports.size();) {
    std::size_t j = i;
    while (j + 1 < ports.size() && ports[j + 1] == ports[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(ports[i]);
    if (j > i) out += '-' + std::to_string(ports[j]);
    i = j + 1;
  }
  return out;
}

result<std::uint16_t> port_of_listen(std::string_view s) {
  if (auto p = parse_port(s)) return p;
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || (s.front() == '[' && s.find(']') > colon))  // "[::1]" without port
    return result<std::uint16_t>::failure("no port in '" + std::string(s) + "'");
  return parse_port(s.substr(colon + 1));
}

}  // namespace dropspot
