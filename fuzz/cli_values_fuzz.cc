// The command-line value parsers (common/ports, duration, endpoint): any
// string a user may type, and what is printed back parses to the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/duration.h"
#include "common/endpoint.h"
#include "common/ports.h"

using namespace dropspot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto ports = parse_port_list(text)) {
    const auto& list = ports.value();
    if (list.empty()) std::abort();
    for (auto p : list)
      if (p == 0) std::abort();
    auto again = parse_port_list(format_port_list(list));
    if (!again || again.value() != list) std::abort();
  } else if (ports.error().empty()) {
    std::abort();
  }

  if (auto specs = parse_port_specs(text)) {
    const auto& lists = specs.value();
    if (lists.empty()) std::abort();
    auto again = parse_port_specs(format_port_specs(lists));
    if (!again || again.value().tcp != lists.tcp || again.value().udp != lists.udp) std::abort();
  } else if (specs.error().empty()) {
    std::abort();
  }

  if (auto port = parse_port(text)) {
    if (port.value() == 0) std::abort();
  }

  if (auto d = parse_duration(text)) {
    if (d.value().count() < 0 || d.value() > std::chrono::hours(24)) std::abort();
    auto again = parse_duration(format_duration(d.value()));
    if (!again) std::abort();
  } else if (d.error().empty()) {
    std::abort();
  }

  (void)is_ip_literal(text);
  if (auto host = validate_host(text)) {
    if (host.value().empty()) std::abort();
  }
  if (auto ep = parse_endpoint(text)) {
    const auto& e = ep.value();
    // Port 0 means "not given": then the host alone is printed back.
    auto again = parse_endpoint(e.port == 0 ? e.host : format_endpoint(e.host, e.port));
    if (!again || again.value().host != e.host || again.value().port != e.port) std::abort();
  }
  return 0;
}
