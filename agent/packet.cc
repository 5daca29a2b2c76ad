#include "agent/packet.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace dropspot::agent {

namespace {

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint16_t ethertype_vlan = 0x8100;      // 802.1Q
constexpr std::uint16_t ethertype_qinq = 0x88a8;      // 802.1ad
constexpr std::uint16_t ethertype_qinq_old = 0x9100;  // pre-standard QinQ
constexpr int max_vlan_tags = 2;
constexpr int max_ipv6_extension_headers = 8;

constexpr std::uint8_t proto_icmp = 1;
constexpr std::uint8_t proto_tcp = 6;
constexpr std::uint8_t proto_udp = 17;
constexpr std::uint8_t proto_icmpv6 = 58;

/// The frame with the bounds every read is checked against.
struct frame_view {
  const std::uint8_t* data;
  std::size_t captured;  ///< bytes captured
  /// Where the current IP packet ends: the captured length, or less when
  /// the IP length field says so (Ethernet padding follows).
  std::size_t end;

  std::uint8_t u8(std::size_t off) const { return data[off]; }
  std::uint16_t u16(std::size_t off) const { return static_cast<std::uint16_t>((data[off] << 8) | data[off + 1]); }
  std::uint32_t u32(std::size_t off) const {
    return (std::uint32_t{data[off]} << 24) | (std::uint32_t{data[off + 1]} << 16) |
           (std::uint32_t{data[off + 2]} << 8) | std::uint32_t{data[off + 3]};
  }
  /// True when [off, off + len) lies within `limit`.
  static bool fits(std::size_t off, std::size_t len, std::size_t limit) { return off <= limit && len <= limit - off; }
  bool has(std::size_t off, std::size_t len) const { return fits(off, len, end); }
  /// The reason [off, off + len) does not fit: past the capture, or past
  /// what the IP length field allows (then `malformed` is the reason).
  packet_error short_by(std::size_t off, std::size_t len, packet_error malformed) const {
    return fits(off, len, captured) ? malformed : packet_error::truncated;
  }
};

bool is_vlan_tag(std::uint16_t ethertype) {
  return ethertype == ethertype_vlan || ethertype == ethertype_qinq || ethertype == ethertype_qinq_old;
}

/// Skips up to two VLAN tags at `off`; updates the ethertype and offset.
packet_error skip_vlan_tags(const frame_view& f, std::size_t& off, std::uint16_t& ethertype) {
  for (int tags = 0; is_vlan_tag(ethertype); ++tags) {
    if (tags == max_vlan_tags) return packet_error::not_ip;
    if (!f.has(off, 4)) return packet_error::truncated;
    ethertype = f.u16(off + 2);
    off += 4;
  }
  return packet_error::none;
}

link_direction direction_of_sll_type(std::uint16_t type) {
  switch (type) {
    case 0: return link_direction::to_host;
    case 1: return link_direction::broadcast;
    case 2: return link_direction::multicast;
    case 3: return link_direction::other_host;
    case 4: return link_direction::outgoing;
    default: return link_direction::unknown;
  }
}

/// Walks IPv6 extension headers from `off`, leaving `next` at the first
/// non-extension header and `off` at its start.
packet_error walk_ipv6_extensions(const frame_view& f, std::size_t& off, std::uint8_t& next) {
  for (int i = 0;; ++i) {
    std::size_t length = 0;
    switch (next) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        if (!f.has(off, 2)) return f.short_by(off, 2, packet_error::bad_ip_header);
        length = (std::size_t{f.u8(off + 1)} + 1) * 8;
        break;
      case 44:  // fragment
        if (!f.has(off, 8)) return f.short_by(off, 8, packet_error::bad_ip_header);
        if ((f.u16(off + 2) & 0xfff8) != 0) return packet_error::fragment;
        length = 8;
        break;
      case 51:  // authentication header
        if (!f.has(off, 2)) return f.short_by(off, 2, packet_error::bad_ip_header);
        length = (std::size_t{f.u8(off + 1)} + 2) * 4;
        break;
      default: return packet_error::none;
    }
    if (i == max_ipv6_extension_headers) return packet_error::too_many_extension_headers;
    if (!f.has(off, length)) return f.short_by(off, length, packet_error::bad_ip_header);
    next = f.u8(off);
    off += length;
  }
}

void parse_tcp_options(const frame_view& f, std::size_t begin, std::size_t stop, tcp_option_summary& o) {
  std::size_t i = begin;
  while (i < stop) {
    const std::uint8_t kind = f.u8(i);
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // NOP
      ++i;
      continue;
    }
    if (o.kind_count < o.kinds.size()) o.kinds[o.kind_count++] = kind;
    if (stop - i < 2) {
      o.malformed = true;
      break;
    }
    const std::uint8_t length = f.u8(i + 1);
    if (length < 2 || length > stop - i) {  // a length of 0 or 1 would loop
      o.malformed = true;
      break;
    }
    switch (kind) {
      case 2:
        if (length == 4) {
          o.has_mss = true;
          o.mss = f.u16(i + 2);
        } else {
          o.malformed = true;
        }
        break;
      case 3:
        if (length == 3) {
          o.has_window_scale = true;
          o.window_scale = f.u8(i + 2);
        } else {
          o.malformed = true;
        }
        break;
      case 4:
        if (length == 2)
          o.sack_permitted = true;
        else
          o.malformed = true;
        break;
      case 8:
        if (length == 10)
          o.timestamps = true;
        else
          o.malformed = true;
        break;
      default: break;
    }
    i += length;
  }
}

packet_error parse_tcp(const frame_view& f, std::size_t off, parsed_packet& out) {
  if (!f.has(off, 20)) return f.short_by(off, 20, packet_error::bad_ip_header);
  tcp_fields& t = out.tcp;
  t.src_port = f.u16(off);
  t.dst_port = f.u16(off + 2);
  t.seq = f.u32(off + 4);
  t.ack = f.u32(off + 8);
  const std::size_t header = static_cast<std::size_t>(f.u8(off + 12) >> 4) * 4;
  t.flags = f.u8(off + 13);
  t.window = f.u16(off + 14);
  if (header < 20) return packet_error::bad_tcp_header;
  if (!f.has(off, header)) return f.short_by(off, header, packet_error::bad_ip_header);
  parse_tcp_options(f, off + 20, off + header, t.options);
  out.kind = transport::tcp;
  out.header_length = off + header;
  return packet_error::none;
}

/// A parsed TCP packet's payload length: the IP packet's size less the
/// headers up to the TCP header's end (the IP header at ip).
packet_error with_payload_length(packet_error e, std::size_t ip, parsed_packet& out) {
  const std::size_t headers = out.header_length - ip;
  if (e == packet_error::none && out.ip_length > headers)
    out.tcp.payload_length = static_cast<std::uint32_t>(out.ip_length - headers);
  return e;
}

packet_error parse_udp(const frame_view& f, std::size_t off, parsed_packet& out) {
  if (!f.has(off, 8)) return f.short_by(off, 8, packet_error::bad_ip_header);
  udp_fields& u = out.udp;
  u.src_port = f.u16(off);
  u.dst_port = f.u16(off + 2);
  const std::uint16_t length = f.u16(off + 4);
  // 0: a jumbogram's (RFC 2675); else at least the header itself.
  if (length != 0 && length < 8) return packet_error::bad_udp_header;
  u.payload_length = length == 0 ? 0 : static_cast<std::uint16_t>(length - 8);
  out.kind = transport::udp;
  out.header_length = off + 8;
  return packet_error::none;
}

/// The packet quoted by an ICMP error at `off`: an IP header of `version`
/// and at least the first 8 bytes of a TCP or UDP header.
packet_error parse_quote(const frame_view& f, std::size_t off, int version, parsed_packet& out) {
  icmp_error_fields& e = out.icmp;
  const auto short_by = [&](std::size_t o, std::size_t len) {
    return f.short_by(o, len, packet_error::bad_icmp_quote);
  };
  std::size_t tcp = 0;
  if (version == 4) {
    if (!f.has(off, 20)) return short_by(off, 20);
    const std::uint8_t b0 = f.u8(off);
    const std::size_t header = std::size_t{b0 & 0x0fu} * 4;
    if ((b0 >> 4) != 4 || header < 20) return packet_error::bad_icmp_quote;
    if (!f.has(off, header)) return short_by(off, header);
    if ((f.u16(off + 6) & 0x1fff) != 0 || (f.u8(off + 9) != proto_tcp && f.u8(off + 9) != proto_udp))
      return packet_error::bad_icmp_quote;
    e.inner_udp = f.u8(off + 9) == proto_udp;
    e.inner_ttl = f.u8(off + 8);
    e.inner_src = ip_address::v4(f.data + off + 12);
    e.inner_dst = ip_address::v4(f.data + off + 16);
    tcp = off + header;
  } else {
    if (!f.has(off, 40)) return short_by(off, 40);
    if ((f.u8(off) >> 4) != 6) return packet_error::bad_icmp_quote;
    std::uint8_t next = f.u8(off + 6);
    e.inner_ttl = f.u8(off + 7);
    e.inner_src = ip_address::v6(f.data + off + 8);
    e.inner_dst = ip_address::v6(f.data + off + 24);
    tcp = off + 40;
    const auto walked = walk_ipv6_extensions(f, tcp, next);
    if (walked == packet_error::truncated) return walked;
    if (walked != packet_error::none || (next != proto_tcp && next != proto_udp)) return packet_error::bad_icmp_quote;
    e.inner_udp = next == proto_udp;
  }
  if (!f.has(tcp, 8)) return short_by(tcp, 8);
  e.inner_src_port = f.u16(tcp);
  e.inner_dst_port = f.u16(tcp + 2);
  if (e.inner_udp) {  // ports, length, checksum: nothing more to read
    out.kind = transport::icmp_error;
    out.header_length = tcp + 8;
    return packet_error::none;
  }
  e.inner_seq = f.u32(tcp + 4);
  if (f.has(tcp, 14)) {
    e.has_inner_flags = true;
    e.inner_flags = f.u8(tcp + 13);
  }
  out.kind = transport::icmp_error;
  out.header_length = std::min(tcp + 20, f.end);
  return packet_error::none;
}

packet_error parse_icmp(const frame_view& f, std::size_t off, int version, parsed_packet& out) {
  if (!f.has(off, 8)) return f.short_by(off, 8, packet_error::bad_ip_header);
  const std::uint8_t type = f.u8(off);
  out.icmp.type = type;
  out.icmp.code = f.u8(off + 1);
  // dest-unreachable, time-exceeded; ICMPv6 also packet-too-big
  const bool error = version == 4 ? (type == 3 || type == 11) : (type == 1 || type == 2 || type == 3);
  if (!error) return packet_error::icmp_not_error;
  if (version == 4 && type == 3 && out.icmp.code == 4) out.icmp.mtu = f.u16(off + 6);  // RFC 1191
  if (version == 6 && type == 2) out.icmp.mtu = f.u32(off + 4);                        // RFC 4443 3.2
  return parse_quote(f, off + 8, version, out);
}

packet_error parse_ipv4(frame_view& f, std::size_t off, parsed_packet& out) {
  if (!f.has(off, 20)) return packet_error::truncated;
  const std::uint8_t b0 = f.u8(off);
  const std::size_t header = std::size_t{b0 & 0x0fu} * 4;
  if ((b0 >> 4) != 4 || header < 20) return packet_error::bad_ip_header;
  const std::size_t total = f.u16(off + 2);
  if (total != 0 && total < header) return packet_error::bad_ip_header;
  if (total != 0 && frame_view::fits(off, total, f.end)) f.end = off + total;
  if (!f.has(off, header)) return f.short_by(off, header, packet_error::bad_ip_header);
  if ((f.u16(off + 6) & 0x1fff) != 0) return packet_error::fragment;
  out.ttl = f.u8(off + 8);
  const std::uint8_t protocol = f.u8(off + 9);
  out.src = ip_address::v4(f.data + off + 12);
  out.dst = ip_address::v4(f.data + off + 16);
  out.ip_length = static_cast<std::uint32_t>(total);
  if (protocol == proto_tcp) return with_payload_length(parse_tcp(f, off + header, out), off, out);
  if (protocol == proto_udp) return parse_udp(f, off + header, out);
  if (protocol == proto_icmp) return parse_icmp(f, off + header, 4, out);
  return packet_error::unsupported_protocol;
}

packet_error parse_ipv6(frame_view& f, std::size_t off, parsed_packet& out) {
  if (!f.has(off, 40)) return packet_error::truncated;
  if ((f.u8(off) >> 4) != 6) return packet_error::bad_ip_header;
  const std::size_t payload = f.u16(off + 4);
  if (payload != 0 && frame_view::fits(off + 40, payload, f.end)) f.end = off + 40 + payload;
  std::uint8_t next = f.u8(off + 6);
  out.ttl = f.u8(off + 7);
  out.src = ip_address::v6(f.data + off + 8);
  out.dst = ip_address::v6(f.data + off + 24);
  out.ip_length = payload == 0 ? 0 : static_cast<std::uint32_t>(40 + payload);
  std::size_t l4 = off + 40;
  if (auto e = walk_ipv6_extensions(f, l4, next); e != packet_error::none) return e;
  if (next == proto_tcp) return with_payload_length(parse_tcp(f, l4, out), off, out);
  if (next == proto_udp) return parse_udp(f, l4, out);
  if (next == proto_icmpv6) return parse_icmp(f, l4, 6, out);
  return packet_error::unsupported_protocol;
}

packet_error parse_by_ethertype(frame_view& f, std::size_t off, std::uint16_t ethertype, parsed_packet& out) {
  if (auto e = skip_vlan_tags(f, off, ethertype); e != packet_error::none) return e;
  if (ethertype == ethertype_ipv4) return parse_ipv4(f, off, out);
  if (ethertype == ethertype_ipv6) return parse_ipv6(f, off, out);
  return packet_error::not_ip;
}

/// Raw IP: the version nibble decides.
packet_error parse_raw_ip(frame_view& f, std::size_t off, parsed_packet& out) {
  if (!f.has(off, 1)) return packet_error::truncated;
  switch (f.u8(off) >> 4) {
    case 4: return parse_ipv4(f, off, out);
    case 6: return parse_ipv6(f, off, out);
    default: return packet_error::bad_ip_header;
  }
}

/// BSD loopback: an address family, in either byte order.
packet_error parse_loopback(frame_view& f, bool network_order, parsed_packet& out) {
  if (!f.has(0, 4)) return packet_error::truncated;
  std::uint32_t family = f.u32(0);
  if (!network_order && family > 0xffff) family = __builtin_bswap32(family);  // little-endian writer
  switch (family) {
    case 2: return parse_ipv4(f, 4, out);  // AF_INET everywhere
    case 10:                               // AF_INET6: Linux
    case 24:                               // NetBSD, OpenBSD
    case 28:                               // FreeBSD
    case 30:                               // macOS
      return parse_ipv6(f, 4, out);
    default: return packet_error::not_ip;
  }
}

}  // namespace

ip_address ip_address::v4(const std::uint8_t* p) {
  ip_address a;
  a.family = 4;
  std::memcpy(a.bytes.data(), p, 4);
  return a;
}

ip_address ip_address::v6(const std::uint8_t* p) {
  ip_address a;
  a.family = 6;
  std::memcpy(a.bytes.data(), p, 16);
  return a;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  std::uint8_t bytes[16] = {};
  if (::inet_pton(AF_INET, buf, bytes) == 1) return v4(bytes);
  if (::inet_pton(AF_INET6, buf, bytes) == 1) return v6(bytes).unmapped();
  return std::nullopt;
}

ip_address ip_address::unmapped() const {
  static constexpr std::uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family != 6 || std::memcmp(bytes.data(), mapped_prefix, sizeof mapped_prefix) != 0) return *this;
  return v4(bytes.data() + 12);
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 4)
    ::inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else if (family == 6)
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

const char* to_string(packet_error e) {
  switch (e) {
    case packet_error::none: return "ok";
    case packet_error::truncated: return "truncated: a header ends beyond the captured bytes";
    case packet_error::unsupported_link: return "unsupported link type";
    case packet_error::not_ip: return "not IP";
    case packet_error::bad_ip_header: return "bad IP header (version, header length or total length)";
    case packet_error::fragment: return "non-first IP fragment";
    case packet_error::too_many_extension_headers: return "too many IPv6 extension headers";
    case packet_error::unsupported_protocol: return "neither TCP, UDP nor ICMP";
    case packet_error::bad_udp_header: return "bad UDP length (below the 8-byte header)";
    case packet_error::bad_tcp_header: return "bad TCP header length";
    case packet_error::icmp_not_error: return "ICMP message that is not an unreachable or time-exceeded error";
    case packet_error::bad_icmp_quote: return "ICMP error that does not quote IP + 8 bytes of TCP or UDP";
  }
  return "unknown";
}

packet_error parse_packet(int link_type, std::span<const std::uint8_t> frame, parsed_packet& out) {
  out = parsed_packet{};
  frame_view f{frame.data(), frame.size(), frame.size()};
  switch (link_type) {
    case dlt::en10mb:
      if (!f.has(0, 14)) return packet_error::truncated;
      return parse_by_ethertype(f, 14, f.u16(12), out);
    case dlt::linux_sll:
      if (!f.has(0, 16)) return packet_error::truncated;
      out.link = direction_of_sll_type(f.u16(0));
      return parse_by_ethertype(f, 16, f.u16(14), out);
    case dlt::linux_sll2:
      if (!f.has(0, 20)) return packet_error::truncated;
      out.if_index = f.u32(4);
      out.link = direction_of_sll_type(f.u8(10));
      return parse_by_ethertype(f, 20, f.u16(0), out);
    case dlt::raw:
    case dlt::linktype_raw: return parse_raw_ip(f, 0, out);
    case dlt::ipv4:
      if (f.has(0, 1) && (f.u8(0) >> 4) != 4) return packet_error::bad_ip_header;
      return parse_ipv4(f, 0, out);
    case dlt::ipv6:
      if (f.has(0, 1) && (f.u8(0) >> 4) != 6) return packet_error::bad_ip_header;
      return parse_ipv6(f, 0, out);
    case dlt::null: return parse_loopback(f, false, out);
    case dlt::loop: return parse_loopback(f, true, out);
    default: return packet_error::unsupported_link;
  }
}

session_perspective session_perspective::make(const ip_address& peer, const std::vector<std::uint16_t>& ports,
                                              const std::vector<std::uint16_t>& udp_ports,
                                              const std::vector<ip_address>& also) {
  session_perspective s;
  s.peer = peer.unmapped();
  for (const auto& a : also) s.also.push_back(a.unmapped());
  for (auto p : ports) s.ports.set(p);
  for (auto p : udp_ports) s.udp_ports.set(p);
  return s;
}

std::optional<packet_role> classify(const parsed_packet& packet, const session_perspective& session) {
  using event = v1::PacketEvent;
  if (packet.kind == transport::icmp_error) {
    const auto& e = packet.icmp;
    const auto& ports = e.inner_udp ? session.udp_ports : session.ports;
    if (session.is_peer(e.inner_src) && ports.test(e.inner_dst_port))
      return packet_role{event::OUTBOUND, event::ICMP_ERROR, e.inner_dst_port, e.inner_udp};
    if (session.is_peer(e.inner_dst) && ports.test(e.inner_src_port))
      return packet_role{event::INBOUND, event::ICMP_ERROR, e.inner_src_port, e.inner_udp};
    return std::nullopt;
  }
  if (packet.kind == transport::udp) {
    const auto& u = packet.udp;
    if (session.is_peer(packet.src) && session.udp_ports.test(u.dst_port))
      return packet_role{event::INBOUND, event::DATAGRAM, u.dst_port, true};
    if (session.is_peer(packet.dst) && session.udp_ports.test(u.src_port))
      return packet_role{event::OUTBOUND, event::DATAGRAM, u.src_port, true};
    return std::nullopt;
  }
  const auto& t = packet.tcp;
  event::Kind kind = event::ACK;
  if (t.flags & tcp_flag::rst)
    kind = event::RST;
  else if ((t.flags & tcp_flag::syn) && (t.flags & tcp_flag::ack))
    kind = event::SYN_ACK;
  else if (t.flags & tcp_flag::syn)
    kind = event::SYN;
  if (session.is_peer(packet.src) && session.ports.test(t.dst_port))
    return packet_role{event::INBOUND, kind, t.dst_port};
  if (session.is_peer(packet.dst) && session.ports.test(t.src_port))
    return packet_role{event::OUTBOUND, kind, t.src_port};
  return std::nullopt;
}

namespace {

/// Sets a string field from an address without a temporary std::string.
template <class Setter>
void set_address(const ip_address& a, Setter&& set) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.family == 4)
    ::inet_ntop(AF_INET, a.bytes.data(), buf, sizeof buf);
  else if (a.family == 6)
    ::inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
  set(buf);
}

}  // namespace

bool to_packet_event(const parsed_packet& packet, const session_perspective& session, std::uint64_t time_unix_us,
                     std::string_view interface, v1::PacketEvent& event) {
  const auto role = classify(packet, session);
  if (!role) return false;
  event.Clear();
  event.set_time_unix_us(time_unix_us);
  event.set_direction(role->direction);
  event.set_kind(role->kind);
  event.set_port(role->port);
  event.set_protocol(role->udp ? v1::UDP : v1::TCP);
  set_address(packet.src, [&](const char* s) { event.set_src(s); });
  set_address(packet.dst, [&](const char* s) { event.set_dst(s); });
  event.set_ttl(packet.ttl);
  event.set_ip_length(packet.ip_length);
  if (!interface.empty()) event.set_interface(interface.data(), interface.size());
  if (packet.kind == transport::icmp_error) {
    const auto& e = packet.icmp;
    event.set_icmp_type(e.type);
    event.set_icmp_code(e.code);
    event.set_src_port(e.inner_src_port);
    event.set_dst_port(e.inner_dst_port);
    event.set_seq(e.inner_seq);
    if (e.has_inner_flags) event.set_tcp_flags(e.inner_flags);
    if (e.mtu != 0) event.set_mtu(e.mtu);
    return true;
  }
  if (packet.kind == transport::udp) {
    event.set_src_port(packet.udp.src_port);
    event.set_dst_port(packet.udp.dst_port);
    event.set_length(packet.udp.payload_length);
    return true;
  }
  const auto& t = packet.tcp;
  event.set_src_port(t.src_port);
  event.set_dst_port(t.dst_port);
  event.set_tcp_flags(t.flags);
  event.set_seq(t.seq);
  event.set_ack(t.ack);
  event.set_length(t.payload_length);
  const auto& o = t.options;
  if (o.kind_count > 0) {
    auto& opts = *event.mutable_options();
    if (o.has_mss) opts.set_mss(o.mss);
    if (o.has_window_scale) opts.set_window_scale(o.window_scale);
    opts.set_sack_permitted(o.sack_permitted);
    opts.set_timestamps(o.timestamps);
    for (std::uint8_t i = 0; i < o.kind_count; ++i) opts.add_kinds(o.kinds[i]);
  }
  return true;
}

}  // namespace dropspot::agent
