// Writes the generated part of the seed corpus: framed control messages for
// framing/agent_session/prober_stream, and frames of every link type and
// packet shape the parser handles for packet, and ICMP errors as a raw socket
// hands them for icmp_error (built with the unit tests' packet builder).
// Usage: make_seeds CORPUS_DIR. Its output is committed.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/framing.h"
#include "common/protocol.h"
#include "support/packet_builder.h"

using namespace dropspot;
using namespace testpkt;
namespace fs = std::filesystem;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
void write(const std::string& target, const std::string& name, std::uint8_t first, const bytes& rest) {
  std::string s(1, static_cast<char>(first));
  s.append(rest.begin(), rest.end());
  write(target, name, s);
}

std::string framed(std::initializer_list<v1::Envelope> messages) {
  std::string out;
  for (const auto& m : messages) {
    std::string payload;
    m.SerializeToString(&payload);
    encode_frame(payload, out);
  }
  return out;
}

v1::Envelope auth() {
  v1::Envelope e;
  e.mutable_auth()->set_mac(std::string(32, '\0'));
  return e;
}
v1::Envelope start(std::initializer_list<unsigned> ports, unsigned max_ms = 0) {
  v1::Envelope e;
  for (auto p : ports) e.mutable_start()->add_ports(p);
  e.mutable_start()->set_max_duration_ms(max_ms);
  auto* plan = e.mutable_start()->add_plan();
  plan->set_port(*ports.begin());
  plan->set_kind("http");
  return e;
}
v1::Envelope ping(std::uint64_t nonce) {
  v1::Envelope e;
  e.mutable_ping()->set_nonce(nonce);
  return e;
}
v1::Envelope done() {
  v1::Envelope e;
  e.mutable_probes_done();
  return e;
}
v1::Envelope packet_event(v1::PacketEvent::Kind kind, unsigned port) {
  v1::Envelope e;
  auto* p = e.mutable_observation()->add_packets();
  p->set_time_unix_us(1700000000000000);
  p->set_direction(kind == v1::PacketEvent::SYN ? v1::PacketEvent::INBOUND : v1::PacketEvent::OUTBOUND);
  p->set_kind(kind);
  p->set_src("198.51.100.2");
  p->set_src_port(40000);
  p->set_dst("203.0.113.2");
  p->set_dst_port(port);
  p->set_ttl(62);
  p->set_tcp_flags(2);
  p->mutable_options()->set_mss(1460);
  p->mutable_options()->add_kinds(2);
  p->set_interface("eth0");
  p->set_port(port);
  return e;
}
v1::Envelope summary() {
  v1::Envelope e;
  auto* port = e.mutable_summary()->add_ports();
  port->set_port(80);
  port->add_firewall("table inet filter chain input handle 7: tcp dport 80 drop");
  port->set_firewall_inspected(true);
  e.mutable_summary()->set_packets_seen(12);
  return e;
}
v1::Envelope pong() {
  v1::Envelope e;
  e.mutable_pong()->set_nonce(1);
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  root = argv[1];
  const auto hello = make_hello("dropspot-prober");
  const auto old_hello = [] {
    auto h = make_hello("dropspot-prober");
    h.mutable_hello()->set_protocol_version(99);
    return h;
  }();

  // agent_session: mode byte (see agent_session_fuzz.cc), then the prober's frames.
  const auto full_tls = framed({hello, auth(), start({22, 80, 443}), ping(7), done()});
  write("agent_session", "tls_full_session", std::string(1, '\x0f') + full_tls);
  write("agent_session", "tls_allow_ports", std::string(1, '\x1f') + framed({hello, auth(), start({25, 80}), done()}));
  write("agent_session", "tls_wrong_mac", std::string(1, '\x0b') + framed({hello, auth(), start({22})}));
  write("agent_session", "stdio_session", std::string(1, '\x08') + framed({hello, start({8080}, 1), ping(1), done()}));
  write("agent_session", "too_many_ports", std::string(1, '\x2f') + framed({hello, auth(), start({1, 2, 3, 4, 5})}));
  write("agent_session", "version_mismatch", std::string(1, '\x0f') + framed({old_hello}));
  write("agent_session", "start_before_auth", std::string(1, '\x0f') + framed({hello, start({22})}));
  // The prober's other family (issue 24): a good address, a mapped one, garbage.
  auto dual = start({80});
  for (const auto* a : {"2001:db8:1::2", "::ffff:198.51.100.9", "not-an-address"})
    dual.mutable_start()->add_prober_addresses(a);
  write("agent_session", "prober_addresses", std::string(1, '\x0f') + framed({hello, auth(), dual, done()}));

  // framing: chunk byte, then frames (the first one valid, then broken ones).
  write("framing", "session", std::string(1, '\x03') + full_tls);
  write("framing", "one_hello", std::string(1, '\x00') + framed({hello}));
  write("framing", "empty_frame", std::string("\x10\x00\x00\x00\x00", 5));
  write("framing", "too_large", std::string("\x07\x00\x10\x00\x01", 5));
  write("framing", "not_protobuf", std::string(1, '\x02') + std::string("\x00\x00\x00\x05\xff\xff\xff\xff\xff", 9));

  // prober_stream: the agent's messages during a session.
  write("prober_stream", "observations_summary",
        framed({packet_event(v1::PacketEvent::SYN, 80), pong(), packet_event(v1::PacketEvent::SYN_ACK, 80),
                packet_event(v1::PacketEvent::ICMP_ERROR, 443), summary()}));
  write(
      "prober_stream", "agent_error",
      framed({packet_event(v1::PacketEvent::RST, 22), make_error(v1::Error::TIMEOUT, "session length limit reached")}));
  write("prober_stream", "unexpected_hello", framed({hello}));

  // packet: link byte (index into packet_fuzz.cc's list), then the frame.
  const std::string client = "198.51.100.2", server = "203.0.113.2", router = "192.0.2.1";
  const std::string client6 = "2001:db8:1::2", server6 = "2001:db8:2::2";
  const bytes syn = ipv4(
      {.src = client, .dst = server, .ttl = 62},
      tcp({.src_port = 43210, .dst_port = 8080, .seq = 1000, .flags = flags::syn, .options = linux_syn_options()}));
  const bytes syn_ack = ipv4({.src = server, .dst = client}, tcp({.src_port = 8080,
                                                                  .dst_port = 43210,
                                                                  .seq = 5000,
                                                                  .ack = 1001,
                                                                  .flags = flags::syn | flags::ack,
                                                                  .options = linux_syn_options(1400, 9)}));
  const bytes rst = ipv4({.src = server, .dst = client},
                         tcp({.src_port = 8081, .dst_port = 43210, .ack = 1001, .flags = flags::rst | flags::ack}));
  const bytes syn6 =
      ipv6({.src = client6, .dst = server6, .hop_limit = 62},
           tcp({.src_port = 40000, .dst_port = 8083, .seq = 77, .flags = flags::syn, .options = linux_syn_options()}));
  enum : std::uint8_t { en10mb = 0, sll2 = 1, sll1 = 2, raw = 3, null = 7 };
  write("packet", "ethernet_ipv4_syn", en10mb, in_ethernet(syn));
  write("packet", "ethernet_vlan_syn_ack", en10mb, ethernet(ethertype_ipv4, syn_ack, {0x8100}));
  write("packet", "ethernet_qinq_rst", en10mb, ethernet(ethertype_ipv4, rst, {0x88a8, 0x8100}));
  write("packet", "sll2_ipv4_syn", sll2, in_sll2(syn, 2, 0));
  write("packet", "sll2_outgoing_syn_ack", sll2, in_sll2(syn_ack, 3, 4));
  write("packet", "sll_outgoing_rst", sll1, sll(4, ethertype_ipv4, rst));
  write("packet", "raw_ipv6_syn", raw, syn6);
  write("packet", "ethernet_ipv6_ext_headers", en10mb,
        in_ethernet(ipv6({.src = client6, .dst = server6, .next = 0},
                         cat({ext(60), ext(6, 1), tcp({.src_port = 1, .dst_port = 22, .flags = flags::syn})}))));
  write("packet", "ipv6_fragment", raw,
        ipv6({.src = client6, .dst = server6, .next = 44},
             cat({frag_ext(6, 0, true), tcp({.src_port = 1, .dst_port = 22, .flags = flags::syn})})));
  write("packet", "icmp_port_unreachable", en10mb,
        in_ethernet(ipv4({.src = server, .dst = client, .protocol = 1}, icmp(3, 3, syn))));
  write("packet", "icmp_time_exceeded_short_quote", raw,
        ipv4({.src = router, .dst = server, .protocol = 1, .ttl = 254},
             icmp(11, 0, bytes(syn_ack.begin(), syn_ack.begin() + 28))));
  write("packet", "icmp6_admin_prohibited", sll2,
        in_sll2(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn6)), 2, 4));
  write("packet", "ipv4_options_syn", raw,
        ipv4({.src = client, .dst = server, .options = {0x94, 0x04, 0, 0}},
             tcp({.src_port = 43210, .dst_port = 22, .flags = flags::syn})));
  write("packet", "null_loopback_syn", null, cat({{2, 0, 0, 0}, syn}));

  // icmp_error: family byte (even IPv4, odd IPv6), then what a raw ICMP
  // socket receives (IPv4 with its IP header, ICMPv6 without).
  const bytes syn_quote(syn.begin(), syn.begin() + 28);
  write("icmp_error", "time_exceeded", 0,
        ipv4({.src = router, .dst = client, .protocol = 1, .ttl = 254}, icmp(11, 0, syn_quote)));
  write("icmp_error", "admin_prohibited_ip_options", 0,
        ipv4({.src = router, .dst = client, .protocol = 1, .options = {0x94, 0x04, 0, 0}}, icmp(3, 13, syn_quote)));
  write("icmp_error", "udp_port_unreachable", 0,
        ipv4({.src = server, .dst = client, .protocol = 1},
             icmp(3, 3, ipv4({.src = client, .dst = server, .protocol = 17}, {0xa8, 0xca, 0, 53, 0, 8, 0, 0}))));
  write("icmp_error", "icmp6_time_exceeded", 1, icmp(3, 0, syn6));
  write(
      "icmp_error", "icmp6_unreachable_ext_headers", 1,
      icmp(1, 1,
           ipv6({.src = client6, .dst = server6, .next = 0},
                cat({ext(44), frag_ext(6, 0, true), tcp({.src_port = 40000, .dst_port = 22, .flags = flags::syn})}))));
  std::printf("seeds written under %s\n", argv[1]);
  return 0;
}
