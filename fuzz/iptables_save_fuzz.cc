// The iptables-save parser and evaluator (agent/firewall): the filter table's
// INPUT chain and the chains it jumps to, for SYNs of both families.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/firewall/firewall.h"

using namespace dropspot::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rules = parse_iptables_save(text);
  if (!rules) {
    if (rules.error().empty()) std::abort();
    return 0;
  }
  syn_packet v4{.v6 = false,
                .source = asio::ip::make_address("198.51.100.7"),
                .destination = asio::ip::make_address("203.0.113.2"),
                .port = 22,
                .in_interface = "eth0"};
  syn_packet v6{.v6 = true,
                .source = asio::ip::make_address("2001:db8::7"),
                .destination = std::nullopt,
                .port = 8080,
                .in_interface = ""};
  syn_packet any{.v6 = false, .source = std::nullopt, .destination = std::nullopt, .port = 80, .in_interface = ""};
  for (const auto& packet : {v4, v6, any}) {
    const auto finding = evaluate(rules.value(), packet, "iptables");
    if (finding.blocks() && finding.rule.empty()) std::abort();
    firewall_snapshot snapshot;
    snapshot.iptables_legacy_v4 = rules.value();
    snapshot.iptables_legacy_v6 = rules.value();
    (void)diagnose(snapshot, packet);
  }
  return 0;
}
