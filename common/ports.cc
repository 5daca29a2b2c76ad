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

result<std::pair<std::string_view, bool>> split_protocol_suffix(std::string_view item) {
  using R = result<std::pair<std::string_view, bool>>;
  item = trim(item);
  const auto slash = item.find('/');
  if (slash == std::string_view::npos) return std::pair{item, false};
  if (trim(item.substr(0, slash)).empty()) return R::failure(shown(item) + ": no port before the '/'");
  const auto suffix = lower(item.substr(slash + 1));
  if (suffix == "udp") return std::pair{item.substr(0, slash), true};
  if (suffix == "tcp") return std::pair{item.substr(0, slash), false};
  return R::failure(shown(item) + ": unknown protocol " + shown(item.substr(slash + 1)) + " (tcp or udp)");
}

result<port_lists> parse_port_specs(std::string_view text) {
  using R = result<port_lists>;
  if (trim(text).empty()) return R::failure("empty port list");
  std::string tcp;
  std::string udp;
  for (std::string_view item : split(text, ',')) {
    if (trim(item).empty()) return R::failure("empty item in port list " + shown(text));
    auto split_item = split_protocol_suffix(item);
    if (!split_item) return R::failure(split_item.error());
    auto& list = split_item->second ? udp : tcp;
    if (!list.empty()) list += ',';
    list += split_item->first;
  }
  port_lists out;
  for (auto [list, into] : {std::pair{&tcp, &out.tcp}, std::pair{&udp, &out.udp}}) {
    if (list->empty()) continue;
    auto ports = parse_port_list(*list);
    if (!ports) return R::failure(ports.error());
    *into = *ports;
  }
  return out;
}

std::vector<port_key> port_keys(const std::vector<std::uint16_t>& tcp, const std::vector<std::uint16_t>& udp) {
  std::vector<port_key> keys(tcp.begin(), tcp.end());
  for (auto p : udp) keys.push_back(make_port_key(p, true));
  return keys;
}

std::string port_label(std::uint32_t port, bool udp) { return std::to_string(port) + (udp ? "/udp" : ""); }

std::string format_port_specs(const port_lists& ports) {
  std::string out = format_port_list(ports.tcp);
  if (ports.udp.empty()) return out;
  std::string udp = format_port_list(ports.udp);
  for (std::size_t at = 0;; ++at) {  // "5000-5002,53" -> "5000-5002/udp,53/udp"
    at = udp.find(',', at);
    if (at == std::string::npos) break;
    udp.insert(at, "/udp");
    at += 4;
  }
  udp += "/udp";
  return out.empty() ? udp : out + ',' + udp;
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
