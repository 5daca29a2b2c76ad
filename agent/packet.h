#pragma once
// One captured frame, parsed into the few header fields dropspot needs, and
// put into a session's perspective as a PacketEvent.
//
// Pure: no libpcap, no sockets. Parsing fills a caller-owned plain struct and
// never allocates; every byte comes from the network, so every read is
// bounds-checked against the captured length and a frame that is cut short or
// malformed is rejected with a packet_error saying why.
#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot::agent {

/// Link-layer header types as pcap_datalink() reports them on Linux (DLT_*),
/// plus the LINKTYPE_* value a savefile may store for raw IP.
namespace dlt {
inline constexpr int null = 0;            ///< BSD loopback: 4-byte address family, host byte order
inline constexpr int en10mb = 1;          ///< Ethernet, up to two 802.1Q/802.1ad tags
inline constexpr int raw = 12;            ///< raw IPv4 or IPv6 (DLT_RAW on Linux)
inline constexpr int linktype_raw = 101;  ///< raw IP as stored in savefiles (LINKTYPE_RAW)
inline constexpr int loop = 108;          ///< OpenBSD loopback: address family in network byte order
inline constexpr int linux_sll = 113;     ///< Linux cooked capture v1 (the "any" device)
inline constexpr int ipv4 = 228;          ///< raw IPv4 (LINKTYPE_IPV4)
inline constexpr int ipv6 = 229;          ///< raw IPv6 (LINKTYPE_IPV6)
inline constexpr int linux_sll2 = 276;    ///< Linux cooked capture v2: adds the interface index
}  // namespace dlt

/// An IPv4 or IPv6 address, stored inline.
struct ip_address {
  std::uint8_t family = 0;               ///< 4, 6, or 0 when unset
  std::array<std::uint8_t, 16> bytes{};  ///< IPv4 in the first 4 bytes, the rest zero

  static ip_address v4(const std::uint8_t* p);
  static ip_address v6(const std::uint8_t* p);
  /// Parses an address literal; an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
  /// becomes IPv4, since that is how its packets appear on the wire.
  static std::optional<ip_address> parse(std::string_view text);
  /// IPv4-mapped IPv6 becomes IPv4; anything else is returned unchanged.
  ip_address unmapped() const;
  /// "203.0.113.2", "2001:db8::2"; empty when unset.
  std::string to_string() const;
  friend bool operator==(const ip_address&, const ip_address&) = default;
};

/// What a Linux cooked header says about a frame (SLL packet type).
enum class link_direction : std::uint8_t {
  unknown,     ///< not a cooked capture
  to_host,     ///< addressed to this host (PACKET_HOST)
  broadcast,   ///< link-layer broadcast
  multicast,   ///< link-layer multicast
  other_host,  ///< addressed to another host, seen in promiscuous mode
  outgoing,    ///< sent by this host (PACKET_OUTGOING)
};

/// TCP header flag bits (byte 13 of the header).
namespace tcp_flag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
inline constexpr std::uint8_t urg = 0x20;
inline constexpr std::uint8_t ece = 0x40;
inline constexpr std::uint8_t cwr = 0x80;
}  // namespace tcp_flag

/// The TCP options dropspot compares between what the prober sent and what
/// arrived (an MSS clamped or options stripped in flight are middlebox signs).
struct tcp_option_summary {
  bool has_mss = false;
  std::uint16_t mss = 0;
  bool has_window_scale = false;
  std::uint8_t window_scale = 0;  ///< the shift count as sent (not capped at 14)
  bool sack_permitted = false;
  bool timestamps = false;
  /// An option ran past the header or had a length below 2; parsing stopped
  /// there and the options before it are kept.
  bool malformed = false;
  /// Option kinds in order, NOP (1) and EOL (0) omitted: at most 20 fit in
  /// the 40 option bytes, the array leaves room for any malformed mix.
  std::array<std::uint8_t, 40> kinds{};
  std::uint8_t kind_count = 0;
};

struct tcp_fields {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;  ///< tcp_flag bits
  std::uint16_t window = 0;
  tcp_option_summary options;
  std::uint32_t payload_length = 0;  ///< from the IP length fields (0 when they say nothing: TSO, jumbograms)
};

struct udp_fields {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint16_t payload_length = 0;  ///< from the UDP length field (0 for a jumbogram)
};

/// An ICMP or ICMPv6 error and the TCP or UDP packet it quotes.
struct icmp_error_fields {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  ip_address inner_src;  ///< the quoted packet's source: who sent the packet that failed
  ip_address inner_dst;
  std::uint8_t inner_ttl = 0;  ///< the quoted TTL / hop limit, as it was when the packet failed
  std::uint16_t inner_src_port = 0;
  std::uint16_t inner_dst_port = 0;
  std::uint32_t inner_seq = 0;
  bool inner_udp = false;        ///< the quoted packet is UDP (ports only), else TCP
  bool has_inner_flags = false;  ///< the quote reached byte 13 of the TCP header
  std::uint8_t inner_flags = 0;
  /// 'fragmentation needed' (ICMP 3/4) and 'packet too big' (ICMPv6 2): the
  /// MTU of the link the packet did not fit (0: not said).
  std::uint32_t mtu = 0;
};

enum class transport : std::uint8_t {
  tcp,         ///< `tcp` is filled
  udp,         ///< `udp` is filled
  icmp_error,  ///< `icmp` is filled
};

/// One parsed frame. Plain data, cheap to fill, no heap.
struct parsed_packet {
  link_direction link = link_direction::unknown;
  std::uint32_t if_index = 0;  ///< from a cooked v2 header; 0 when unknown
  ip_address src;
  ip_address dst;
  std::uint8_t ttl = 0;         ///< TTL or hop limit of the outer IP header
  std::uint32_t ip_length = 0;  ///< the outer IP packet's size from its header (0: not said)
  transport kind = transport::tcp;
  tcp_fields tcp;
  udp_fields udp;
  icmp_error_fields icmp;
  /// Bytes of the frame up to the end of the last header parsed (the TCP
  /// header, or for an ICMP error the quoted TCP bytes read): a copy cut
  /// there holds headers only, never payload.
  std::size_t header_length = 0;
};

/// Why a frame was not parsed. Every value is a reason to skip the frame.
enum class packet_error : std::uint8_t {
  none,                        ///< parsed
  truncated,                   ///< a header ends beyond the captured bytes
  unsupported_link,            ///< a link type this parser does not know
  not_ip,                      ///< the link carries something else (ARP, LLDP, 3 VLAN tags, ...)
  bad_ip_header,               ///< wrong IP version, header length or total length
  fragment,                    ///< an IPv4/IPv6 non-first fragment: no transport header in it
  too_many_extension_headers,  ///< an IPv6 extension header chain longer than we walk (8)
  unsupported_protocol,        ///< not TCP, UDP, ICMP or ICMPv6 (ESP, no-next-header, ...)
  bad_tcp_header,              ///< a TCP data offset below 5 words
  bad_udp_header,              ///< a UDP length below its 8-byte header
  icmp_not_error,              ///< ICMP other than dest-unreachable / time-exceeded (echo, packet-too-big, ...)
  bad_icmp_quote,              ///< the quoted packet is not IP+TCP/UDP, is a fragment, or is shorter than IP + 8 bytes
};

const char* to_string(packet_error e);

/// Parses one frame of the given link type (a dlt:: value). On success fills
/// `out` completely and returns packet_error::none; on failure `out` holds
/// whatever was parsed before the error and must not be used.
/// Non-first fragments are refused; the IP total length bounds the headers
/// (Ethernet padding is never read as header), and 0 means "as captured"
/// (TSO / jumbograms).
packet_error parse_packet(int link_type, std::span<const std::uint8_t> frame, parsed_packet& out);

/// The agent's side of one session: who the peer is and which ports are
/// the service ports under test.
struct session_perspective {
  ip_address peer;               ///< the prober's address (IPv4-mapped IPv6 stored as IPv4)
  std::vector<ip_address> also;  ///< its other addresses (its other family), handled as the peer
  std::bitset<65536> ports;      ///< TCP service ports on this host
  std::bitset<65536> udp_ports;  ///< UDP service ports on this host

  /// Normalises the addresses with unmapped() and sets the ports.
  static session_perspective make(const ip_address& peer, const std::vector<std::uint16_t>& ports,
                                  const std::vector<std::uint16_t>& udp_ports = {},
                                  const std::vector<ip_address>& also = {});
  /// One of the prober's addresses.
  bool is_peer(const ip_address& a) const { return a == peer || std::find(also.begin(), also.end(), a) != also.end(); }
};

/// Where a packet stands in a session.
///
/// TCP: a packet from the peer to a service port is INBOUND (port = its
/// destination port); a packet from a service port to the peer is OUTBOUND
/// (port = its source port). If the peer is this host itself (loopback),
/// the inbound test is tried first.
///
/// ICMP errors are judged by the packet they quote, since an error always
/// travels back to the quoted packet's sender:
///  - quoting a packet FROM the peer to a service port: the error goes back
///    to the peer, so it leaves this host — OUTBOUND (the host, its firewall
///    or a local route refused the peer's SYN); port = quoted destination port.
///  - quoting a packet TO the peer from a service port: the error comes to
///    this host, from a router on the return path or from the peer itself —
///    INBOUND (the host's SYN-ACK/RST was refused on the way back); port =
///    quoted source port.
/// The outer source of an ICMP error is who sent it (this host, a router or
/// the peer) and may be any address.
struct packet_role {
  v1::PacketEvent::Direction direction = v1::PacketEvent::DIRECTION_UNSPECIFIED;
  v1::PacketEvent::Kind kind = v1::PacketEvent::KIND_UNSPECIFIED;
  std::uint16_t port = 0;  ///< the service port under test
  bool udp = false;        ///< of a UDP port (a datagram, or an ICMP error quoting one)
};

/// The packet's role in the session, or nullopt when it is not the session's
/// (another peer, a port not under test).
/// Kinds: RST when RST is set; SYN_ACK for SYN+ACK; SYN for SYN alone; ACK
/// for any other TCP segment; DATAGRAM for UDP (from the peer to a UDP
/// service port: INBOUND; from one to the peer: OUTBOUND); ICMP_ERROR for
/// ICMP errors, quoting TCP or UDP (checked against that protocol's ports).
std::optional<packet_role> classify(const parsed_packet& packet, const session_perspective& session);

/// Fills `event` (cleared first) for a packet of the session; returns false
/// and leaves `event` alone when the packet is not the session's.
/// src/dst are the outer IP addresses, so for an ICMP error `src` is who
/// sent the error; src_port/dst_port, seq and tcp_flags are then those of
/// the quoted TCP header (flags 0 when not quoted). Options are set for TCP
/// segments that carry any. Reuse one event to avoid allocating per packet.
bool to_packet_event(const parsed_packet& packet, const session_perspective& session, std::uint64_t time_unix_us,
                     std::string_view interface, v1::PacketEvent& event);

}  // namespace dropspot::agent
