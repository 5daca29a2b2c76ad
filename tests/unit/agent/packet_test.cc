// The frame parser over frames built byte by byte, field by field; then the
// session perspective (direction, kind, service port) and the PacketEvent.
#include <catch2/catch.hpp>
#include <memory>
#include <random>

#include "agent/packet.h"
#include "support/packet_builder.h"

using namespace dropspot;
using namespace dropspot::agent;
using namespace testpkt;

namespace {

const std::string client = "198.51.100.2";
const std::string server = "203.0.113.2";
const std::string router = "192.0.2.2";
const std::string client6 = "2001:db8:1::2";
const std::string server6 = "2001:db8:2::2";
const std::string router6 = "2001:db8:12::2";

ip_address addr(const std::string& text) { return ip_address::parse(text).value(); }

packet_error parse(int link, const bytes& frame, parsed_packet& out) { return parse_packet(link, frame, out); }

parsed_packet parse_ok(int link, const bytes& frame) {
  parsed_packet p;
  const auto e = parse_packet(link, frame, p);
  INFO(to_string(e));
  REQUIRE(e == packet_error::none);
  return p;
}

std::vector<std::uint8_t> kinds_of(const tcp_option_summary& o) {
  return {o.kinds.begin(), o.kinds.begin() + o.kind_count};
}

/// The client's SYN to the server, as Linux sends it.
bytes client_syn(unsigned dport = 8080, std::uint8_t ttl = 62) {
  return ipv4(
      {client, server, 6, ttl},
      tcp({.src_port = 43210, .dst_port = dport, .seq = 1000, .flags = flags::syn, .options = linux_syn_options()}));
}

bytes server_syn_ack(unsigned sport = 8080) {
  return ipv4({server, client, 6, 64}, tcp({.src_port = sport,
                                            .dst_port = 43210,
                                            .seq = 5000,
                                            .ack = 1001,
                                            .flags = flags::syn | flags::ack,
                                            .window = 65160,
                                            .options = linux_syn_options(1460, 7)}));
}

}  // namespace

TEST_CASE("packet: Ethernet + IPv4 + TCP SYN with Linux options, field by field") {
  const bytes frame = in_ethernet(client_syn());
  const auto p = parse_ok(dlt::en10mb, frame);
  CHECK(p.link == link_direction::unknown);
  CHECK(p.src == addr(client));
  CHECK(p.dst == addr(server));
  CHECK(p.src.family == 4);
  CHECK(p.ttl == 62);
  REQUIRE(p.kind == transport::tcp);
  CHECK(p.tcp.src_port == 43210);
  CHECK(p.tcp.dst_port == 8080);
  CHECK(p.tcp.seq == 1000);
  CHECK(p.tcp.ack == 0);
  CHECK(p.tcp.flags == tcp_flag::syn);
  CHECK(p.tcp.window == 64240);
  const auto& o = p.tcp.options;
  CHECK(o.has_mss);
  CHECK(o.mss == 1460);
  CHECK(o.has_window_scale);
  CHECK(o.window_scale == 7);
  CHECK(o.sack_permitted);
  CHECK(o.timestamps);
  CHECK_FALSE(o.malformed);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{2, 4, 8, 3});
  CHECK(p.header_length == frame.size());  // 14 + 20 + 40
  CHECK(p.header_length == 74);
}

TEST_CASE("packet: VLAN tags, 802.1Q and QinQ; three tags are refused") {
  const bytes ip = client_syn();
  auto p = parse_ok(dlt::en10mb, ethernet(ethertype_ipv4, ip, {0x8100}));
  CHECK(p.tcp.dst_port == 8080);
  CHECK(p.header_length == 14 + 4 + ip.size());
  p = parse_ok(dlt::en10mb, ethernet(ethertype_ipv4, ip, {0x88a8, 0x8100}));
  CHECK(p.tcp.dst_port == 8080);
  CHECK(p.header_length == 14 + 8 + ip.size());
  CHECK(parse(dlt::en10mb, ethernet(ethertype_ipv4, ip, {0x88a8, 0x8100, 0x8100}), p) == packet_error::not_ip);
  CHECK(parse(dlt::en10mb, ethernet(0x0806, bytes(28, 0)), p) == packet_error::not_ip);  // ARP
}

TEST_CASE("packet: Ethernet padding is not read as header") {
  // A bare RST is 54 bytes; Ethernet pads it to 60 with bytes that would be options.
  bytes frame = in_ethernet(
      ipv4({server, client}, tcp({.src_port = 8080, .dst_port = 43210, .seq = 7, .flags = flags::rst | flags::ack})));
  REQUIRE(frame.size() == 54);
  frame.insert(frame.end(), {2, 4, 0x05, 0xb4, 3, 3});
  const auto p = parse_ok(dlt::en10mb, frame);
  CHECK(p.tcp.flags == (tcp_flag::rst | tcp_flag::ack));
  CHECK(p.tcp.options.kind_count == 0);
  CHECK(p.header_length == 54);
}

TEST_CASE("packet: Linux cooked v1 and v2 headers give packet type and interface index") {
  auto p = parse_ok(dlt::linux_sll, sll(4, ethertype_ipv4, server_syn_ack()));
  CHECK(p.link == link_direction::outgoing);
  CHECK(p.if_index == 0);
  CHECK(p.tcp.flags == (tcp_flag::syn | tcp_flag::ack));
  CHECK(p.tcp.seq == 5000);
  CHECK(p.tcp.ack == 1001);
  CHECK(p.tcp.window == 65160);

  const bytes frame = sll2(7, 0, ethertype_ipv4, client_syn());
  p = parse_ok(dlt::linux_sll2, frame);
  CHECK(p.link == link_direction::to_host);
  CHECK(p.if_index == 7);
  CHECK(p.src == addr(client));
  CHECK(p.header_length == frame.size());
  CHECK(parse_ok(dlt::linux_sll2, sll2(3, 4, ethertype_ipv4, client_syn())).link == link_direction::outgoing);
  // A tag the kernel reinserted after the cooked header.
  bytes tagged = sll2(7, 0, 0x8100, {});
  put16(tagged, 100);
  put16(tagged, ethertype_ipv4);
  append(tagged, client_syn());
  CHECK(parse_ok(dlt::linux_sll2, tagged).tcp.dst_port == 8080);
}

TEST_CASE("packet: raw IP, LINKTYPE_IPV4/IPV6 and BSD loopback link types") {
  const bytes ip4 = client_syn();
  const bytes ip6 = ipv6({client6, server6}, tcp({.src_port = 1, .dst_port = 2, .flags = flags::syn}));
  CHECK(parse_ok(dlt::raw, ip4).tcp.dst_port == 8080);
  CHECK(parse_ok(dlt::raw, ip6).src == addr(client6));
  CHECK(parse_ok(dlt::linktype_raw, ip6).dst == addr(server6));
  CHECK(parse_ok(dlt::ipv4, ip4).ttl == 62);
  CHECK(parse_ok(dlt::ipv6, ip6).ttl == 64);
  parsed_packet p;
  CHECK(parse(dlt::ipv4, ip6, p) == packet_error::bad_ip_header);
  CHECK(parse(dlt::ipv6, ip4, p) == packet_error::bad_ip_header);
  CHECK(parse(dlt::raw, bytes{0x50, 0, 0, 0}, p) == packet_error::bad_ip_header);

  // DLT_NULL: host byte order, written here little-endian; DLT_LOOP: network order.
  CHECK(parse_ok(dlt::null, cat({{2, 0, 0, 0}, ip4})).tcp.dst_port == 8080);
  CHECK(parse_ok(dlt::null, cat({{0, 0, 0, 2}, ip4})).tcp.dst_port == 8080);
  CHECK(parse_ok(dlt::null, cat({{30, 0, 0, 0}, ip6})).src.family == 6);
  CHECK(parse_ok(dlt::loop, cat({{0, 0, 0, 24}, ip6})).src.family == 6);
  CHECK(parse(dlt::loop, cat({{0, 0, 0, 7}, ip4}), p) == packet_error::not_ip);
  CHECK(parse(147, ip4, p) == packet_error::unsupported_link);
}

TEST_CASE("packet: IPv4 options, fragments and header errors") {
  auto ip = ipv4({.src = client, .dst = server, .options = {0x94, 0x04, 0, 0}},  // router alert
                 tcp({.src_port = 1, .dst_port = 8080, .flags = flags::syn}));
  auto p = parse_ok(dlt::raw, ip);
  CHECK(p.tcp.dst_port == 8080);
  CHECK(p.header_length == 24 + 20);

  // First fragment (more-fragments set, offset 0) carries the TCP header.
  ip = ipv4({.src = client, .dst = server, .fragment = 0x2000}, tcp({.src_port = 1, .dst_port = 8080}));
  CHECK(parse_ok(dlt::raw, ip).tcp.dst_port == 8080);
  ip = ipv4({.src = client, .dst = server, .fragment = 0x2000 | 185}, bytes(40, 0xee));
  CHECK(parse(dlt::raw, ip, p) == packet_error::fragment);
  ip = ipv4({.src = client, .dst = server, .fragment = 3}, bytes(40, 0xee));  // last fragment
  CHECK(parse(dlt::raw, ip, p) == packet_error::fragment);

  ip = client_syn();
  ip[0] = 0x44;  // header length 16
  CHECK(parse(dlt::raw, ip, p) == packet_error::bad_ip_header);
  ip = client_syn();
  ip[2] = 0;
  ip[3] = 19;  // total length below the header length
  CHECK(parse(dlt::raw, ip, p) == packet_error::bad_ip_header);
  ip = client_syn();
  ip[3] = 30;  // total length cuts the TCP header: malformed, not truncated by the capture
  CHECK(parse(dlt::raw, ip, p) == packet_error::bad_ip_header);
  ip = client_syn();
  ip[2] = 0;
  ip[3] = 0;  // 0: as captured (TSO)
  CHECK(parse_ok(dlt::raw, ip).tcp.options.mss == 1460);
  // UDP: ports and the payload's length from the header; a length below 8 is malformed.
  ip =
      ipv4({.src = client, .dst = server, .protocol = 17}, bytes{0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4});
  const auto udp = parse_ok(dlt::raw, ip);
  CHECK(udp.kind == transport::udp);
  CHECK(udp.udp.src_port == 40000);
  CHECK(udp.udp.dst_port == 53);
  CHECK(udp.udp.payload_length == 4);
  CHECK(udp.header_length == 28);  // IP + UDP header: the payload is never kept
  ip = ipv4({.src = client, .dst = server, .protocol = 17}, bytes{0x9c, 0x40, 0x00, 0x35, 0x00, 0x07, 0, 0});
  CHECK(parse(dlt::raw, ip, p) == packet_error::bad_udp_header);
  ip = ipv4({.src = client, .dst = server, .protocol = 17}, bytes(7, 0));  // cut inside the UDP header
  CHECK(parse(dlt::raw, ip, p) == packet_error::truncated);
  ip = ipv4({.src = client, .dst = server, .protocol = 50}, bytes(8, 0));  // ESP
  CHECK(parse(dlt::raw, ip, p) == packet_error::unsupported_protocol);
}

TEST_CASE("packet: IPv6 with extension headers") {
  const auto seg = tcp({.src_port = 8080,
                        .dst_port = 50000,
                        .seq = 9,
                        .ack = 10,
                        .flags = flags::syn | flags::ack,
                        .options = {2, 4, 0x05, 0xa0}});
  const bytes ip = ipv6({.src = server6, .dst = client6, .next = 0, .hop_limit = 61},
                        cat({ext(60), ext(6, 1), seg}));  // hop-by-hop -> dest opts (16 bytes) -> TCP
  const bytes frame = in_ethernet(ip);
  const auto p = parse_ok(dlt::en10mb, frame);
  CHECK(p.src == addr(server6));
  CHECK(p.dst == addr(client6));
  CHECK(p.src.family == 6);
  CHECK(p.ttl == 61);
  CHECK(p.tcp.src_port == 8080);
  CHECK(p.tcp.dst_port == 50000);
  CHECK(p.tcp.flags == (tcp_flag::syn | tcp_flag::ack));
  CHECK(p.tcp.options.mss == 1440);
  CHECK(kinds_of(p.tcp.options) == std::vector<std::uint8_t>{2});
  CHECK(p.header_length == frame.size());

  parsed_packet q;
  // Fragment header: offset 0 goes on to TCP, any other offset is a later fragment.
  CHECK(parse_ok(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 44}, cat({frag_ext(6, 0, true), seg})))
            .tcp.seq == 9);
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 44}, cat({frag_ext(6, 100, false), seg})), q) ==
        packet_error::fragment);
  // A chain longer than 8 extension headers.
  bytes chain;
  for (int i = 0; i < 9; ++i) append(chain, ext(60));
  append(chain, seg);
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 0}, chain), q) ==
        packet_error::too_many_extension_headers);
  // Exactly 8 is walked.
  chain.erase(chain.begin(), chain.begin() + 8);
  chain[chain.size() - seg.size() - 8] = 6;
  CHECK(parse_ok(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 0}, chain)).tcp.src_port == 8080);
  // No next header; UDP.
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 59}, {}), q) ==
        packet_error::unsupported_protocol);
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 17}, bytes(8, 0)), q) == packet_error::none);
  CHECK(q.kind == transport::udp);
}

TEST_CASE("packet: TCP options that are cut, looping or odd stop parsing safely") {
  const auto with_options = [](bytes options) {
    return parse_ok(dlt::raw,
                    ipv4({client, server},
                         tcp({.src_port = 1, .dst_port = 2, .flags = flags::syn, .options = std::move(options)})))
        .tcp.options;
  };
  auto o = with_options({2, 0, 0, 0});  // length 0 would loop forever
  CHECK(o.malformed);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{2});
  CHECK_FALSE(o.has_mss);
  o = with_options({1, 1, 1, 3, 1, 0, 0, 0});  // length 1
  CHECK(o.malformed);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{3});
  o = with_options({2, 4, 5, 0xb4, 8, 10, 0, 0});  // timestamps run past the header
  CHECK(o.malformed);
  CHECK(o.mss == 1460);
  CHECK_FALSE(o.timestamps);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{2, 8});
  o = with_options({1, 1, 1, 2});  // a kind in the last byte, no room for its length
  CHECK(o.malformed);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{2});
  o = with_options({2, 3, 5, 4, 2, 0, 0, 0});  // MSS with a wrong length: kept as a kind, value not trusted
  CHECK(o.malformed);
  CHECK_FALSE(o.has_mss);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{2, 4});
  CHECK(o.sack_permitted);
  o = with_options({0, 2, 4, 5, 0xb4});  // EOL first: nothing after it counts
  CHECK_FALSE(o.malformed);
  CHECK(o.kind_count == 0);
  CHECK_FALSE(o.has_mss);
  o = with_options({30, 4, 0, 0, 34, 2, 1, 1});  // MPTCP, TFO: unknown kinds are listed
  CHECK_FALSE(o.malformed);
  CHECK(kinds_of(o) == std::vector<std::uint8_t>{30, 34});
  o = with_options(bytes(40, 1));  // 40 NOPs
  CHECK(o.kind_count == 0);
  CHECK_FALSE(o.malformed);

  bytes bad = client_syn();
  bad[20 + 12] = 0x40;  // data offset 4 words
  parsed_packet p;
  CHECK(parse(dlt::raw, bad, p) == packet_error::bad_tcp_header);
}

TEST_CASE("packet: ICMP port unreachable quoting a SYN, as Linux sends it") {
  const bytes syn = client_syn(8082, 62);
  const bytes frame = in_ethernet(ipv4({server, client, 1, 64}, icmp(3, 3, syn)));  // the whole SYN quoted
  const auto p = parse_ok(dlt::en10mb, frame);
  CHECK(p.src == addr(server));
  CHECK(p.dst == addr(client));
  CHECK(p.ttl == 64);
  REQUIRE(p.kind == transport::icmp_error);
  const auto& e = p.icmp;
  CHECK(e.type == 3);
  CHECK(e.code == 3);
  CHECK(e.inner_src == addr(client));
  CHECK(e.inner_dst == addr(server));
  CHECK(e.inner_ttl == 62);
  CHECK(e.inner_src_port == 43210);
  CHECK(e.inner_dst_port == 8082);
  CHECK(e.inner_seq == 1000);
  CHECK(e.has_inner_flags);
  CHECK(e.inner_flags == tcp_flag::syn);
  CHECK(p.header_length == 14 + 20 + 8 + 20 + 20);  // cut after the quoted TCP header's fixed part

  // A router quoting only the required 8 bytes of TCP: time exceeded in transit.
  const bytes short_quote(syn.begin(), syn.begin() + 28);
  const auto q = parse_ok(dlt::raw, ipv4({router, server, 1, 254}, icmp(11, 0, short_quote)));
  CHECK(q.icmp.type == 11);
  CHECK(q.icmp.inner_dst_port == 8082);
  CHECK(q.icmp.inner_seq == 1000);
  CHECK_FALSE(q.icmp.has_inner_flags);
  CHECK(q.header_length == 20 + 8 + 28);
}

TEST_CASE("packet: ICMPv6 administratively prohibited quoting an IPv6 SYN") {
  const bytes syn =
      ipv6({.src = client6, .dst = server6, .hop_limit = 62},
           tcp({.src_port = 40000, .dst_port = 8083, .seq = 77, .flags = flags::syn, .options = linux_syn_options()}));
  const bytes frame = in_sll2(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn)), 2, 4);
  const auto p = parse_ok(dlt::linux_sll2, frame);
  CHECK(p.link == link_direction::outgoing);
  REQUIRE(p.kind == transport::icmp_error);
  CHECK(p.icmp.type == 1);
  CHECK(p.icmp.code == 1);
  CHECK(p.icmp.inner_src == addr(client6));
  CHECK(p.icmp.inner_dst == addr(server6));
  CHECK(p.icmp.inner_ttl == 62);
  CHECK(p.icmp.inner_src_port == 40000);
  CHECK(p.icmp.inner_dst_port == 8083);
  CHECK(p.icmp.inner_seq == 77);
  CHECK(p.icmp.inner_flags == tcp_flag::syn);

  // Time exceeded (3) is an error too; the quoted packet may carry extension headers.
  const bytes syn_ext = ipv6({.src = client6, .dst = server6, .next = 60},
                             cat({ext(6), tcp({.src_port = 40000, .dst_port = 8083, .flags = flags::syn})}));
  CHECK(
      parse_ok(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 58}, icmp(3, 0, syn_ext))).icmp.inner_dst_port ==
      8083);
}

TEST_CASE("packet: ICMP that is not an error about TCP is skipped with its reason") {
  parsed_packet p;
  const bytes syn = client_syn();
  CHECK(parse(dlt::raw, ipv4({client, server, 1}, icmp(8, 0, bytes(16, 0))), p) == packet_error::icmp_not_error);
  CHECK(parse(dlt::raw, ipv4({client, server, 1}, icmp(5, 1, syn)), p) == packet_error::icmp_not_error);  // redirect
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 58}, icmp(4, 0, bytes(48, 0))), p) ==
        packet_error::icmp_not_error);  // parameter problem
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 58}, icmp(128, 0, bytes(8, 0))), p) ==
        packet_error::icmp_not_error);  // echo request
  // Quoting UDP: the ports only (port-unreachable for a datagram).
  CHECK(parse(dlt::raw,
              ipv4({server, client, 1}, icmp(3, 3, ipv4({client, server, 17}, bytes{0x9c, 0x40, 0, 53, 0, 8, 0, 0}))),
              p) == packet_error::none);
  CHECK(p.icmp.inner_udp);
  CHECK(p.icmp.inner_src_port == 40000);
  CHECK(p.icmp.inner_dst_port == 53);
  // Quoting another protocol, a later fragment, or IPv6 inside ICMPv4.
  CHECK(parse(dlt::raw, ipv4({server, client, 1}, icmp(3, 3, ipv4({client, server, 50}, bytes(8, 0)))), p) ==
        packet_error::bad_icmp_quote);
  CHECK(parse(dlt::raw,
              ipv4({server, client, 1}, icmp(3, 3, ipv4({.src = client, .dst = server, .fragment = 10}, bytes(8, 0)))),
              p) == packet_error::bad_icmp_quote);
  CHECK(parse(dlt::raw, ipv4({server, client, 1}, icmp(3, 3, ipv6({client6, server6}, bytes(20, 0)))), p) ==
        packet_error::bad_icmp_quote);
  // ICMPv6 carried in IPv4 and ICMPv4 carried in IPv6 are neither.
  CHECK(parse(dlt::raw, ipv4({server, client, 58}, icmp(1, 1, syn)), p) == packet_error::unsupported_protocol);
  CHECK(parse(dlt::raw, ipv6({.src = server6, .dst = client6, .next = 1}, icmp(3, 3, syn)), p) ==
        packet_error::unsupported_protocol);
  // The ICMP message itself claims less than the quote needs.
  auto cut = ipv4({server, client, 1}, icmp(3, 3, syn));
  cut[3] = 20 + 8 + 20 + 4;
  CHECK(parse(dlt::raw, cut, p) == packet_error::bad_icmp_quote);
}

TEST_CASE("packet: data lengths from the IP header, and the MTU in 'fragmentation needed' / 'packet too big'") {
  // A data segment: the length comes from the IP header, not the capture.
  const bytes data =
      ipv4({server, client, 6}, cat({tcp({.src_port = 80, .dst_port = 40000, .flags = flags::ack}), bytes(1448, 'x')}));
  auto p = parse_ok(dlt::raw, data);
  CHECK(p.ip_length == 20 + 20 + 1448);
  CHECK(p.tcp.payload_length == 1448);
  // Cut to its headers (a snap length): the lengths still say the whole.
  p = parse_ok(dlt::raw, bytes(data.begin(), data.begin() + 40));
  CHECK(p.tcp.payload_length == 1448);
  const bytes data6 = ipv6({.src = server6, .dst = client6, .next = 6},
                           cat({tcp({.src_port = 443, .dst_port = 40000, .flags = flags::ack}), bytes(1208, 'x')}));
  p = parse_ok(dlt::raw, data6);
  CHECK(p.ip_length == 40 + 20 + 1208);
  CHECK(p.tcp.payload_length == 1208);
  CHECK(parse_ok(dlt::raw, client_syn()).tcp.payload_length == 0);

  // A router's 'fragmentation needed' about the server's segment, next-hop MTU 1400 (RFC 1191).
  bytes frag = icmp(3, 4, bytes(data.begin(), data.begin() + 28));
  frag[6] = 1400 >> 8;
  frag[7] = 1400 & 0xff;
  p = parse_ok(dlt::raw, ipv4({router, server, 1, 254}, frag));
  CHECK(p.kind == transport::icmp_error);
  CHECK(p.icmp.mtu == 1400);
  CHECK(p.icmp.inner_src_port == 80);
  // ICMPv6 packet too big: the MTU in 32 bits (RFC 4443 3.2).
  bytes big = icmp(2, 0, bytes(data6.begin(), data6.begin() + 48));
  big[6] = 1280 >> 8;
  big[7] = 1280 & 0xff;
  p = parse_ok(dlt::raw, ipv6({.src = router6, .dst = server6, .next = 58}, big));
  CHECK(p.icmp.type == 2);
  CHECK(p.icmp.mtu == 1280);
  // Other errors carry none.
  CHECK(parse_ok(dlt::raw, ipv4({server, client, 1}, icmp(3, 3, client_syn()))).icmp.mtu == 0);
}

TEST_CASE("packet: every truncation of a header-only frame is refused") {
  const bytes syn = client_syn();
  const std::vector<std::pair<int, bytes>> frames = {
      {dlt::en10mb, in_ethernet(client_syn())},
      {dlt::en10mb, ethernet(ethertype_ipv4, server_syn_ack(), {0x88a8, 0x8100})},
      {dlt::linux_sll, sll(0, ethertype_ipv4, client_syn())},
      {dlt::linux_sll2, in_sll2(ipv6({.src = client6, .dst = server6, .next = 0},
                                     cat({ext(44), frag_ext(6, 0, false),
                                          tcp({.src_port = 1, .dst_port = 2, .options = linux_syn_options()})})))},
      {dlt::null, cat({{2, 0, 0, 0}, client_syn()})},
      {dlt::raw, ipv4({server, client, 1}, icmp(3, 3, bytes(syn.begin(), syn.begin() + 28)))},
  };
  for (const auto& [link, frame] : frames) {
    parsed_packet p;
    REQUIRE(parse(link, frame, p) == packet_error::none);
    REQUIRE(p.header_length == frame.size());
    for (std::size_t n = 0; n < frame.size(); ++n) {
      INFO("link " << link << ", " << n << " of " << frame.size() << " bytes");
      const bytes cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      CHECK(parse(link, cut, p) == packet_error::truncated);
    }
  }
}

TEST_CASE("packet: an ICMP error cut anywhere after IP + 8 quoted TCP bytes keeps its fields") {
  const bytes syn = client_syn(8082);
  const bytes frame = in_ethernet(ipv4({server, client, 1}, icmp(3, 13, syn)));
  const std::size_t minimum = 14 + 20 + 8 + 20 + 8;
  parsed_packet p;
  for (std::size_t n = 0; n <= frame.size(); ++n) {
    INFO(n << " of " << frame.size() << " bytes");
    const bytes cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    const auto e = parse(dlt::en10mb, cut, p);
    if (n < minimum) {
      CHECK(e == packet_error::truncated);
    } else {
      REQUIRE(e == packet_error::none);
      CHECK(p.icmp.inner_dst_port == 8082);
      CHECK(p.icmp.inner_seq == 1000);
      CHECK(p.icmp.has_inner_flags == (n >= minimum + 6));
      CHECK(p.header_length <= n);
    }
  }
}

TEST_CASE("packet: garbage and mutated frames never read out of bounds") {
  std::mt19937 rng(20240611);
  const std::vector<bytes> seeds = {
      in_ethernet(client_syn()),
      in_ethernet(ipv4({server, client, 1}, icmp(3, 3, client_syn()))),
      in_ethernet(ipv6(
          {.src = server6, .dst = client6, .next = 0},
          cat({ext(43, 1), ext(58),
               icmp(1, 4, ipv6({.src = client6, .dst = server6, .next = 60}, cat({ext(6), tcp({.dst_port = 80})})))}))),
  };
  const int links[] = {dlt::en10mb, dlt::linux_sll, dlt::linux_sll2, dlt::raw, dlt::null, dlt::loop, dlt::ipv6};
  int parsed = 0;
  for (int round = 0; round < 30000; ++round) {
    bytes frame;
    if (round % 3 == 0) {  // pure noise, biased towards IP-looking first bytes
      frame.resize(rng() % 160);
      for (auto& b : frame) b = static_cast<std::uint8_t>(rng());
      if (!frame.empty()) frame[0] = static_cast<std::uint8_t>((rng() % 2 ? 0x45 : 0x60) | (frame[0] & 0x0f));
    } else {  // a real frame with a few bytes changed and maybe cut
      frame = seeds[rng() % seeds.size()];
      for (auto k = static_cast<int>(rng() % 6); k >= 0; --k)
        frame[rng() % frame.size()] = static_cast<std::uint8_t>(rng());
      frame.resize(rng() % (frame.size() + 1));
    }
    const int link = round % 3 == 0 ? links[rng() % std::size(links)] : dlt::en10mb;
    // Parse from a heap copy of exactly the frame's size, so a sanitizer build
    // catches any read past it.
    const std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[frame.size() + 1]);
    std::copy(frame.begin(), frame.end(), exact.get());
    parsed_packet p;
    if (parse_packet(link, {exact.get(), frame.size()}, p) == packet_error::none) {
      ++parsed;
      REQUIRE(p.header_length <= frame.size());
      REQUIRE(p.tcp.options.kind_count <= 20);
    }
  }
  CHECK(parsed > 100);  // mutations that keep a frame valid do parse
}

TEST_CASE("ip_address: parse, print, IPv4-mapped becomes IPv4") {
  CHECK(addr("203.0.113.2").family == 4);
  CHECK(addr("203.0.113.2").to_string() == "203.0.113.2");
  CHECK(addr("2001:db8::2").to_string() == "2001:db8::2");
  CHECK(addr("::ffff:203.0.113.2") == addr("203.0.113.2"));
  CHECK(addr("::1").family == 6);
  CHECK_FALSE(ip_address::parse("").has_value());
  CHECK_FALSE(ip_address::parse("203.0.113").has_value());
  CHECK_FALSE(ip_address::parse("host").has_value());
  CHECK(ip_address{}.to_string().empty());
}

namespace {

session_perspective session_with(const std::string& peer, std::vector<std::uint16_t> ports) {
  return session_perspective::make(addr(peer), ports);
}

v1::PacketEvent event_of(const bytes& frame, const session_perspective& s, int link = dlt::en10mb) {
  v1::PacketEvent e;
  REQUIRE(to_packet_event(parse_ok(link, frame), s, 1'700'000'000'123'456u, "eth0", e));
  return e;
}

}  // namespace

TEST_CASE("perspective: the peer's SYN is INBOUND, the host's answer OUTBOUND") {
  const auto s = session_with(client, {22, 8080});
  auto e = event_of(in_ethernet(client_syn()), s);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.kind() == v1::PacketEvent::SYN);
  CHECK(e.port() == 8080);
  CHECK(e.src() == client);
  CHECK(e.dst() == server);
  CHECK(e.src_port() == 43210);
  CHECK(e.dst_port() == 8080);
  CHECK(e.ttl() == 62);
  CHECK(e.tcp_flags() == 0x02);
  CHECK(e.seq() == 1000);
  CHECK(e.ack() == 0);
  CHECK(e.time_unix_us() == 1'700'000'000'123'456u);
  CHECK(e.interface() == "eth0");
  REQUIRE(e.has_options());
  CHECK(e.options().has_mss());
  CHECK(e.options().mss() == 1460);
  CHECK(e.options().window_scale() == 7);
  CHECK(e.options().sack_permitted());
  CHECK(e.options().timestamps());
  CHECK(std::vector<std::uint32_t>(e.options().kinds().begin(), e.options().kinds().end()) ==
        std::vector<std::uint32_t>{2, 4, 8, 3});
  CHECK(e.icmp_type() == 0);

  e = event_of(in_ethernet(server_syn_ack()), s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::SYN_ACK);
  CHECK(e.port() == 8080);
  CHECK(e.ack() == 1001);

  e = event_of(
      in_ethernet(ipv4({server, client}, tcp({.src_port = 22, .dst_port = 43210, .flags = flags::rst | flags::ack}))),
      s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::RST);
  CHECK(e.port() == 22);
  CHECK_FALSE(e.has_options());

  e = event_of(in_ethernet(ipv4({client, server}, tcp({.src_port = 43210, .dst_port = 22, .flags = flags::ack}))), s);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.kind() == v1::PacketEvent::ACK);
}

TEST_CASE("perspective: a UDP port's datagrams and the ICMP errors quoting them") {
  const auto s = session_perspective::make(addr(client), {53}, {53, 51820});
  const bytes query{0xa8, 0xca, 0x00, 0x35, 0x00, 0x1d, 0, 0};  // 43210 -> 53, 21 bytes of payload
  auto e = event_of(in_ethernet(ipv4({.src = client, .dst = server, .protocol = 17}, query)), s);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.kind() == v1::PacketEvent::DATAGRAM);
  CHECK(e.protocol() == v1::UDP);
  CHECK(e.port() == 53);
  CHECK(e.src_port() == 43210);
  CHECK(e.length() == 21);
  const bytes answer{0x00, 0x35, 0xa8, 0xca, 0x00, 0x30, 0, 0};
  e = event_of(in_ethernet(ipv4({.src = server, .dst = client, .protocol = 17}, answer)), s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::DATAGRAM);
  CHECK(e.port() == 53);
  CHECK(e.length() == 40);
  // The host's port-unreachable for a datagram to 51820 leaves towards the peer.
  const bytes to_wg{0xa8, 0xca, 0xca, 0x6c, 0x00, 0x08, 0, 0};
  e = event_of(
      in_ethernet(ipv4({server, client, 1}, icmp(3, 3, ipv4({.src = client, .dst = server, .protocol = 17}, to_wg)))),
      s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::ICMP_ERROR);
  CHECK(e.protocol() == v1::UDP);
  CHECK(e.port() == 51820);
  CHECK(e.icmp_type() == 3);
  CHECK(e.icmp_code() == 3);
  // UDP to a TCP-only port, TCP to a UDP-only port: not the session's.
  v1::PacketEvent other;
  const bytes to_22{0xa8, 0xca, 0x00, 0x16, 0x00, 0x08, 0, 0};
  CHECK_FALSE(
      to_packet_event(parse_ok(dlt::en10mb, in_ethernet(ipv4({.src = client, .dst = server, .protocol = 17}, to_22))),
                      session_perspective::make(addr(client), {22}, {53}), 1, "eth0", other));
  CHECK_FALSE(to_packet_event(parse_ok(dlt::en10mb, in_ethernet(client_syn())),
                              session_perspective::make(addr(client), {}, {8080}), 1, "eth0", other));
  // A TCP SYN keeps protocol TCP.
  CHECK(event_of(in_ethernet(client_syn()), session_with(client, {8080})).protocol() == v1::TCP);
}

TEST_CASE("perspective: other peers and ports are not the session's") {
  const auto s = session_with(client, {8080});
  v1::PacketEvent e;
  e.set_port(4242);
  const auto other_peer =
      parse_ok(dlt::raw, ipv4({"198.51.100.130", server}, tcp({.src_port = 1, .dst_port = 8080, .flags = flags::syn})));
  CHECK_FALSE(to_packet_event(other_peer, s, 0, "", e));
  CHECK_FALSE(to_packet_event(parse_ok(dlt::raw, client_syn(8081)), s, 0, "", e));
  // The peer's own listening port answering us is not a service port of ours.
  const auto reverse =
      parse_ok(dlt::raw, ipv4({server, client}, tcp({.src_port = 43210, .dst_port = 8080, .flags = flags::syn})));
  CHECK_FALSE(to_packet_event(reverse, s, 0, "", e));
  CHECK(e.port() == 4242);  // untouched
}

TEST_CASE("perspective: ICMP errors take their direction from the packet they quote") {
  const auto s = session_with(client, {8080, 8083});
  // The host (its firewall) refuses the peer's SYN: the error leaves the host.
  auto e = event_of(in_ethernet(ipv4({server, client, 1}, icmp(3, 13, client_syn(8083)))), s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::ICMP_ERROR);
  CHECK(e.port() == 8083);
  CHECK(e.icmp_type() == 3);
  CHECK(e.icmp_code() == 13);
  CHECK(e.src() == server);
  CHECK(e.dst() == client);
  CHECK(e.src_port() == 43210);
  CHECK(e.dst_port() == 8083);
  CHECK(e.seq() == 1000);
  CHECK(e.tcp_flags() == 0x02);
  CHECK_FALSE(e.has_options());

  // A router on the return path refuses the host's SYN-ACK: the error comes in.
  const bytes quote = server_syn_ack();
  e = event_of(in_ethernet(ipv4({router, server, 1, 253}, icmp(3, 10, bytes(quote.begin(), quote.begin() + 28)))), s);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.kind() == v1::PacketEvent::ICMP_ERROR);
  CHECK(e.port() == 8080);
  CHECK(e.src() == router);
  CHECK(e.ttl() == 253);
  CHECK(e.src_port() == 8080);
  CHECK(e.dst_port() == 43210);
  CHECK(e.seq() == 5000);
  CHECK(e.tcp_flags() == 0);  // not quoted

  // Quoting another peer's packet, or a port not under test: not ours.
  v1::PacketEvent none;
  const auto other =
      parse_ok(dlt::raw, ipv4({server, "198.51.100.130", 1},
                              icmp(3, 3, ipv4({"198.51.100.130", server}, tcp({.src_port = 1, .dst_port = 8080})))));
  CHECK_FALSE(to_packet_event(other, s, 0, "", none));
  CHECK_FALSE(
      to_packet_event(parse_ok(dlt::raw, ipv4({server, client, 1}, icmp(3, 3, client_syn(9999)))), s, 0, "", none));
}

TEST_CASE("perspective: IPv6 and IPv4-mapped peers") {
  const auto s6 = session_with(client6, {443});
  const bytes syn6 = ipv6({.src = client6, .dst = server6, .hop_limit = 62},
                          tcp({.src_port = 40000, .dst_port = 443, .flags = flags::syn}));
  auto e = event_of(in_sll2(syn6), s6, dlt::linux_sll2);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.src() == client6);
  CHECK(e.dst() == server6);
  CHECK(e.ttl() == 62);
  e = event_of(in_ethernet(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn6))), s6);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::ICMP_ERROR);
  CHECK(e.port() == 443);

  // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
  const auto mapped = session_perspective::make(ip_address::v6(addr6("::ffff:" + client).data()), {8080});
  CHECK(mapped.peer == addr(client));
  CHECK(event_of(in_ethernet(client_syn()), mapped).direction() == v1::PacketEvent::INBOUND);
}

TEST_CASE("perspective: the prober's other family is the session's too, other addresses are not") {
  const auto s = session_perspective::make(addr(client), {80}, {}, {addr(client6)});
  const bytes syn6 =
      ipv6({.src = client6, .dst = server6}, tcp({.src_port = 40000, .dst_port = 80, .flags = flags::syn}));
  CHECK(event_of(in_ethernet(syn6), s).direction() == v1::PacketEvent::INBOUND);
  CHECK(event_of(in_ethernet(client_syn(80)), s).direction() == v1::PacketEvent::INBOUND);
  v1::PacketEvent e;
  const bytes other =
      ipv6({.src = "2001:db8:1::99", .dst = server6}, tcp({.src_port = 40000, .dst_port = 80, .flags = flags::syn}));
  CHECK_FALSE(to_packet_event(parse_ok(dlt::raw, other), s, 0, "", e));
  // Without the other family's address, its SYN is not the session's.
  CHECK_FALSE(to_packet_event(parse_ok(dlt::raw, syn6), session_with(client, {80}), 0, "", e));
  const auto answer = event_of(in_ethernet(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn6))), s);
  CHECK(answer.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(answer.port() == 80);
}

TEST_CASE("perspective: a peer on this very host (loopback)") {
  const auto s = session_with("127.0.0.1", {8080});
  auto e = event_of(
      in_ethernet(ipv4({"127.0.0.1", "127.0.0.1"}, tcp({.src_port = 50000, .dst_port = 8080, .flags = flags::syn}))),
      s);
  CHECK(e.direction() == v1::PacketEvent::INBOUND);
  CHECK(e.port() == 8080);
  e = event_of(in_ethernet(ipv4({"127.0.0.1", "127.0.0.1"},
                                tcp({.src_port = 8080, .dst_port = 50000, .flags = flags::syn | flags::ack}))),
               s);
  CHECK(e.direction() == v1::PacketEvent::OUTBOUND);
  CHECK(e.kind() == v1::PacketEvent::SYN_ACK);
}

TEST_CASE("perspective: a reused event keeps nothing from the previous packet") {
  const auto s = session_with(client, {8080});
  v1::PacketEvent e;
  REQUIRE(to_packet_event(parse_ok(dlt::raw, ipv4({server, client, 1}, icmp(3, 3, client_syn()))), s, 1, "lo", e));
  REQUIRE(to_packet_event(parse_ok(dlt::raw, client_syn()), s, 2, "", e));
  CHECK(e.icmp_type() == 0);
  CHECK(e.interface().empty());
  CHECK(e.options().mss() == 1460);
  REQUIRE(to_packet_event(
      parse_ok(dlt::raw, ipv4({client, server}, tcp({.src_port = 1, .dst_port = 8080, .flags = flags::ack}))), s, 3, "",
      e));
  CHECK_FALSE(e.has_options());
  CHECK(e.time_unix_us() == 3);
}

TEST_CASE("packet_error: every reason has words") {
  for (int i = 0; i <= static_cast<int>(packet_error::bad_icmp_quote); ++i) {
    const std::string words = to_string(static_cast<packet_error>(i));
    CHECK_FALSE(words.empty());
    CHECK(words != "unknown");
  }
}
