// The packet parser (agent/packet): one captured frame of any link type the
// agent handles, then the session's view of it. The first byte picks the link
// type; the rest is the frame as libpcap would hand it over.
#include <cstdint>
#include <cstdlib>
#include <iterator>

#include "agent/packet.h"

using namespace dropspot::agent;

namespace {

constexpr int link_types[] = {dlt::en10mb, dlt::linux_sll2, dlt::linux_sll, dlt::raw,  dlt::linktype_raw,
                              dlt::ipv4,   dlt::ipv6,       dlt::null,      dlt::loop, 147};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int link = link_types[data[0] % std::size(link_types)];
  const std::span<const std::uint8_t> frame(data + 1, size - 1);

  parsed_packet p;
  const auto error = parse_packet(link, frame, p);
  if (to_string(error) == nullptr) std::abort();
  if (error != packet_error::none) return 0;

  // Invariants the capture relies on: the header-only copy is cut inside the
  // frame, addresses are set, options fit.
  if (p.header_length == 0 || p.header_length > frame.size()) std::abort();
  if ((p.src.family != 4 && p.src.family != 6) || p.src.family != p.dst.family) std::abort();
  if (p.kind == transport::tcp && p.tcp.options.kind_count > p.tcp.options.kinds.size()) std::abort();
  (void)p.src.to_string();
  (void)p.dst.to_string();

  // The session's view from either end, with the packet's own ports under test.
  std::vector<std::uint16_t> ports;
  if (p.kind == transport::tcp) {
    ports = {p.tcp.src_port, p.tcp.dst_port};
  } else {
    ports = {p.icmp.inner_src_port, p.icmp.inner_dst_port};
    (void)p.icmp.inner_src.to_string();
  }
  dropspot::v1::PacketEvent event;
  for (const auto& peer : {p.src, p.dst, p.icmp.inner_src, p.icmp.inner_dst}) {
    if (peer.family == 0) continue;
    const auto session = session_perspective::make(peer, ports);
    const auto role = classify(p, session);
    const bool is_event = to_packet_event(p, session, 1, "eth0", event);
    if (role.has_value() != is_event) std::abort();
    if (role && (role->port == 0 ? !session.ports[0] : !session.ports[role->port])) std::abort();
  }
  return 0;
}
