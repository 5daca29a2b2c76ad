// The UDP probes' reply readers (prober/app/udp): the first byte picks the
// kind (dns, dns with a name, ntp, quic, wireguard, udp), the rest is the
// datagram that came back. Every reading names its kind, says ok or not,
// counts the bytes, and never reads past the datagram.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "prober/app/udp.h"

using namespace dropspot::prober::app;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::array<const char*, 6> kinds = {"dns", "dns", "ntp", "quic", "wireguard", "udp"};
  const auto pick = data[0] % kinds.size();
  const std::string_view reply(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr std::uint64_t now = 1'764'500'000'000'000;
  // Fixed IDs, so that seeds can answer the request (the DNS ID is "01").
  const auto request = make_udp_request(kinds[pick], pick == 1 ? "test.example" : "", "ping", "0123456789abcdef", now);
  const auto r = read_udp_reply(request, reply, now);
  if (r.kind() != kinds[pick] || !r.has_ok()) std::abort();
  const auto bytes = r.fields().find("bytes");
  if (bytes == r.fields().end() || bytes->second != std::to_string(reply.size())) std::abort();
  if (!r.ok() && r.detail().empty()) std::abort();
  return 0;
}
