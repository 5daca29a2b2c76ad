// The nftables ruleset parser and evaluator (agent/firewall): `nft -j list
// ruleset` JSON, optionally followed by a NUL byte and the `nft -a list
// ruleset` text, then the verdict for SYNs of both families.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/firewall/firewall.h"

using namespace dropspot::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto nul = all.find('\0');
  const auto json = all.substr(0, nul);
  const auto text = nul == std::string_view::npos ? std::string_view() : all.substr(nul + 1);

  (void)parse_nft_handles(text);
  auto rules = parse_nft_json(json, text);
  if (!rules) {
    if (rules.error().empty()) std::abort();
    return 0;
  }
  (void)rules.value().rule_count();
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
    const auto finding = evaluate(rules.value(), packet);
    if (finding.blocks() && finding.rule.empty()) std::abort();  // a block always names its rule
    firewall_snapshot snapshot;
    snapshot.nft = parse_nft_json(json, text).value();
    (void)diagnose(snapshot, packet);
  }
  return 0;
}
