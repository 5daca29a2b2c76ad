#pragma once
// Frames built byte by byte for the packet, filter and capture tests.
// Checksums are left zero: nothing in dropspot reads them.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace testpkt {

using bytes = std::vector<std::uint8_t>;

inline void put16(bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(bytes& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}
inline void append(bytes& b, const bytes& more) { b.insert(b.end(), more.begin(), more.end()); }
inline bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) append(out, p);
  return out;
}

inline bytes addr4(const std::string& text) {
  bytes b(4);
  if (::inet_pton(AF_INET, text.c_str(), b.data()) != 1) throw std::invalid_argument(text);
  return b;
}
inline bytes addr6(const std::string& text) {
  bytes b(16);
  if (::inet_pton(AF_INET6, text.c_str(), b.data()) != 1) throw std::invalid_argument(text);
  return b;
}

namespace flags {
inline constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ack = 0x10;
}

/// Linux's SYN options: MSS, SACK-permitted, timestamps, NOP, window scale.
inline bytes linux_syn_options(unsigned mss = 1460, unsigned wscale = 7) {
  bytes o = {2, 4};
  put16(o, mss);
  append(o, {4, 2, 8, 10});
  put32(o, 0x11223344);
  put32(o, 0);
  append(o, {1, 3, 3, static_cast<std::uint8_t>(wscale)});
  return o;
}

struct tcp_spec {
  unsigned src_port = 0;
  unsigned dst_port = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint8_t flags = 0;
  unsigned window = 64240;
  bytes options{};  ///< padded with EOL to a multiple of 4
  bytes payload{};
};

inline bytes tcp(const tcp_spec& s) {
  bytes opts = s.options;
  while (opts.size() % 4) opts.push_back(0);
  bytes b;
  put16(b, s.src_port);
  put16(b, s.dst_port);
  put32(b, s.seq);
  put32(b, s.ack);
  b.push_back(static_cast<std::uint8_t>(((20 + opts.size()) / 4) << 4));
  b.push_back(s.flags);
  put16(b, s.window);
  put32(b, 0);  // checksum, urgent pointer
  append(b, opts);
  append(b, s.payload);
  return b;
}

struct ipv4_spec {
  std::string src{};
  std::string dst{};
  std::uint8_t protocol = 6;
  std::uint8_t ttl = 64;
  unsigned fragment = 0x4000;  ///< flags + offset field (default: don't fragment)
  bytes options{};             ///< padded to a multiple of 4
  int total_length = -1;       ///< -1: computed
};

inline bytes ipv4(const ipv4_spec& s, const bytes& payload) {
  bytes opts = s.options;
  while (opts.size() % 4) opts.push_back(0);
  const std::size_t header = 20 + opts.size();
  bytes b;
  b.push_back(static_cast<std::uint8_t>(0x40 | (header / 4)));
  b.push_back(0);
  put16(b, s.total_length >= 0 ? static_cast<unsigned>(s.total_length) : header + payload.size());
  put16(b, 0x1234);
  put16(b, s.fragment);
  b.push_back(s.ttl);
  b.push_back(s.protocol);
  put16(b, 0);
  append(b, addr4(s.src));
  append(b, addr4(s.dst));
  append(b, opts);
  append(b, payload);
  return b;
}

struct ipv6_spec {
  std::string src{};
  std::string dst{};
  std::uint8_t next = 6;
  std::uint8_t hop_limit = 64;
};

/// `payload` starts with any extension headers (see ext()).
inline bytes ipv6(const ipv6_spec& s, const bytes& payload) {
  bytes b = {0x60, 0, 0, 0};
  put16(b, payload.size());
  b.push_back(s.next);
  b.push_back(s.hop_limit);
  append(b, addr6(s.src));
  append(b, addr6(s.dst));
  append(b, payload);
  return b;
}

/// A hop-by-hop / routing / destination-options header of 8 * (len + 1) bytes.
inline bytes ext(std::uint8_t next, std::uint8_t len = 0) {
  bytes b(8 * (len + 1u), 0);
  b[0] = next;
  b[1] = len;
  b[2] = 1;  // PadN option filling the rest
  b[3] = static_cast<std::uint8_t>(b.size() - 4);
  return b;
}
/// A fragment header.
inline bytes frag_ext(std::uint8_t next, unsigned offset_words, bool more) {
  bytes b = {next, 0};
  put16(b, (offset_words << 3) | (more ? 1 : 0));
  put32(b, 0xabcdef01);
  return b;
}

inline bytes icmp(std::uint8_t type, std::uint8_t code, const bytes& quote) {
  bytes b = {type, code, 0, 0, 0, 0, 0, 0};
  append(b, quote);
  return b;
}

inline bytes ethernet(unsigned ethertype, const bytes& payload, std::initializer_list<unsigned> tags = {}) {
  bytes b = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
  for (unsigned tpid : tags) {
    put16(b, tpid);
    put16(b, 100);  // VLAN id
  }
  put16(b, ethertype);
  append(b, payload);
  return b;
}

/// Linux cooked v1: packet type (0 host, 4 outgoing), ARPHRD_ETHER.
inline bytes sll(unsigned packet_type, unsigned ethertype, const bytes& payload) {
  bytes b;
  put16(b, packet_type);
  put16(b, 1);
  put16(b, 6);
  append(b, {0x02, 0, 0, 0, 0, 1, 0, 0});
  put16(b, ethertype);
  append(b, payload);
  return b;
}

/// Linux cooked v2: protocol, interface index, ARPHRD_ETHER, packet type.
inline bytes sll2(std::uint32_t if_index, std::uint8_t packet_type, unsigned ethertype, const bytes& payload) {
  bytes b;
  put16(b, ethertype);
  put16(b, 0);
  put32(b, if_index);
  put16(b, 1);
  b.push_back(packet_type);
  b.push_back(6);
  append(b, {0x02, 0, 0, 0, 0, 1, 0, 0});
  append(b, payload);
  return b;
}

inline constexpr unsigned ethertype_ipv4 = 0x0800;
inline constexpr unsigned ethertype_ipv6 = 0x86dd;

/// An IP packet in Ethernet, picking the ethertype from the version nibble.
inline bytes in_ethernet(const bytes& ip) {
  return ethernet((ip.at(0) >> 4) == 6 ? ethertype_ipv6 : ethertype_ipv4, ip);
}
inline bytes in_sll2(const bytes& ip, std::uint32_t if_index = 2, std::uint8_t packet_type = 0) {
  return sll2(if_index, packet_type, (ip.at(0) >> 4) == 6 ? ethertype_ipv6 : ethertype_ipv4, ip);
}

}  // namespace testpkt
