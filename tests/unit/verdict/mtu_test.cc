// PATH_MTU_BLACKHOLE and the path-MTU note (verdict/mtu.cc), from recorded
// packet sequences: what the agent saw of a black hole on lab paths.
#include <catch2/catch.hpp>

#include "verdict/verdict.h"

using namespace dropspot;

namespace {

constexpr std::uint64_t t0 = 1'700'000'000'000'000;
constexpr const char* client = "198.51.100.2";
constexpr const char* server = "203.0.113.2";
constexpr std::uint32_t cport = 40000;

v1::PacketEvent packet(v1::PacketEvent::Direction dir, v1::PacketEvent::Kind kind, double t_ms) {
  v1::PacketEvent p;
  p.set_time_unix_us(t0 + static_cast<std::uint64_t>(t_ms * 1000));
  p.set_direction(dir);
  p.set_kind(kind);
  p.set_port(80);
  const bool in = dir == v1::PacketEvent::INBOUND;
  p.set_src(in ? client : server);
  p.set_dst(in ? server : client);
  p.set_src_port(in ? cport : 80);
  p.set_dst_port(in ? 80 : cport);
  p.set_ttl(in ? 62 : 64);
  p.set_interface("eth0");
  return p;
}

/// An HTTP probe that connected; the agent saw the handshake and the request.
port_input connected_http(bool agent = true) {
  port_input in;
  in.port = 80;
  in.probe = "http";
  in.target = "vps.example";
  in.target_address = server;
  if (agent) {
    in.agent.set_status(v1::AgentInfo::CONNECTED);
    in.agent.set_capture_active(true);
    in.agent.set_rtt_ms(1.0);
    in.agent.set_peer_address(client);
  } else {
    in.agent.set_status(v1::AgentInfo::DISABLED);
  }
  auto& a = in.attempts.emplace_back();
  a.set_outcome(v1::Attempt::CONNECTED);
  a.set_local_address(client);
  a.set_local_port(cport);
  a.set_start_unix_us(t0);
  a.set_elapsed_ms(1.0);
  if (agent) {
    in.packets.push_back(packet(v1::PacketEvent::INBOUND, v1::PacketEvent::SYN, 0.1));
    in.packets.push_back(packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::SYN_ACK, 0.2));
    auto request = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 1.0);
    request.set_length(2920);
    in.packets.push_back(request);
  }
  in.full_size = 1500;
  return in;
}

/// The server's full-size segment, first sent at t_ms and again (never acknowledged).
void resent_segment(port_input& in, double t_ms, int times) {
  for (int i = 0; i < times; ++i) {
    auto p = packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::ACK, t_ms + 200.0 * ((1 << i) - 1));
    p.set_seq(1001);
    p.set_length(1448);
    p.set_ip_length(1500);
    in.packets.push_back(p);
  }
}

/// A router's ICMP 'fragmentation needed' (next hop 1400) about the server's segment, arriving at t_ms.
v1::PacketEvent frag_needed(double t_ms) {
  auto icmp = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ICMP_ERROR, t_ms);
  icmp.set_src("203.0.113.1");
  icmp.set_src_port(80);  // the quote: the server's own segment
  icmp.set_dst_port(cport);
  icmp.set_icmp_type(3);
  icmp.set_icmp_code(4);
  icmp.set_mtu(1400);
  return icmp;
}

v1::PathMtu found(std::initializer_list<const char*> ways, std::uint32_t passes) {
  v1::PathMtu m;
  m.set_source("search");
  m.set_full_size(1500);
  m.set_to_server(passes);
  m.set_to_client(passes);
  for (const char* w : ways) m.add_blackhole(w);
  m.add_steps("1500: to the server passed, back lost");
  m.add_steps("1400: to the server passed, back passed");
  return m;
}

v1::AppResult stalled_http() {
  v1::AppResult app;
  app.set_kind("http");
  app.set_ok(false);
  app.set_detail("the HTTP response stopped after 0 bytes: full-size packets do not pass the path (see the path MTU)");
  return app;
}

bool has(const google::protobuf::RepeatedPtrField<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& s) { return s.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("path MTU: the server's full-size packets vanish on the way back") {
  auto in = connected_http();
  resent_segment(in, 2.0, 4);
  in.app = stalled_http();
  in.mtu_search = found({"toClient"}, 1400);
  const auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary() ==
        "full-size packets from the server never reach you; the path passes 1400 bytes; ICMP 'fragmentation needed' "
        "does not come back");
  REQUIRE(r.evidence().has_path_mtu());
  CHECK(r.evidence().path_mtu().to_client() == 1400);
  CHECK(has(r.evidence().notes(), "the agent saw the server send 3 segment(s) again (1500-byte packets)"));
  CHECK(has(r.evidence().notes(), "path-MTU search"));
  CHECK(has(r.advice(), "tracepath -n vps.example"));
  CHECK(has(r.advice(), "tcp option maxseg size set rt mtu"));
  CHECK(has(r.advice(), "TCPMSS --clamp-mss-to-pmtu"));
  CHECK(has(r.advice(), "ip link set dev eth0 mtu 1400"));  // the server's interface, from the agent's packets
  CHECK(has(r.advice(), "ICMP type 3 code 4"));
  CHECK(expectation_class(r.verdict()).empty());  // neither open nor blocked: a fault to fix
}

TEST_CASE("path MTU: 'fragmentation needed' reached the server and it still sent full-size packets") {
  auto in = connected_http();
  resent_segment(in, 2.0, 3);
  in.packets.push_back(frag_needed(2.5));
  in.app = stalled_http();
  in.mtu_search = found({"toClient"}, 1400);
  const auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary().find("reaches the server, yet it keeps sending full-size packets") != std::string::npos);
  CHECK(r.evidence().path_mtu().icmp_dropped_by_host());
  CHECK(has(r.advice(), "nft insert rule inet filter input icmp type destination-unreachable accept"));
  // A path-MTU signal is not a rejection of the reply.
  CHECK_FALSE(has(r.evidence().notes(), "the return path rejects it"));
}

TEST_CASE("path MTU: the server's firewall rule that drops the ICMP is named, with the accept that fixes it") {
  auto in = connected_http();
  resent_segment(in, 2.0, 3);
  in.packets.push_back(frag_needed(2.5));
  in.app = stalled_http();
  in.mtu_search = found({"toClient"}, 1400);
  const std::string rule = "table ip filter chain INPUT handle 2: meta l4proto icmp counter packets 3 bytes 1704 drop";
  in.icmp_firewall = {rule, "iptables: -A INPUT -p icmp -j DROP"};
  auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary() ==
        "full-size packets from the server never reach you; the path passes 1400 bytes; ICMP 'fragmentation needed' "
        "reaches the server, and its firewall drops it (" +
            rule + ")");
  CHECK(has(r.evidence().firewall(), "ICMP 'fragmentation needed': " + rule));
  CHECK(has(r.advice(),
            "let it in first: nft insert rule ip filter INPUT icmp type destination-unreachable icmp code "
            "frag-needed accept"));
  CHECK(has(r.advice(), "iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT"));
  CHECK_FALSE(has(r.advice(), "the provider's filter"));  // it does come back

  // The ICMP never came (the provider's filter), and the host would drop it too: both said.
  in.packets.pop_back();
  r = decide_port(in);
  CHECK(r.summary().find("does not come back (and the server's firewall would drop it too)") != std::string::npos);
  CHECK(has(r.advice(), "the provider's filter"));
  CHECK(has(r.advice(), "let it in first"));

  // Full-size packets that vanish on the way to the server: its firewall's
  // ICMP rules are not what matters (the ICMP would go to you).
  in.mtu_search = found({"toServer"}, 1400);
  r = decide_port(in);
  CHECK(r.evidence().firewall_size() == 0);
  CHECK_FALSE(has(r.advice(), "let it in first"));
}

TEST_CASE("path MTU: the way to the server, as the agent saw it: the small segments came, the full ones not") {
  auto in = connected_http();
  in.packets.pop_back();  // the request's full-size segments never arrived
  auto head = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 0.9);
  in.packets.push_back(head);  // the handshake's ACK
  auto small = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 1.0);
  small.set_length(24);
  small.set_ip_length(76);
  in.packets.push_back(small);
  in.app = stalled_http();
  in.mtu_search = found({"toServer"}, 1400);
  auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(has(r.evidence().notes(),
            "the agent saw 1 data segment(s) of yours arrive, the largest a 76-byte packet, "
            "none of the full 1500 bytes: they do not reach the server"));
  in.packets.pop_back();
  r = decide_port(in);
  CHECK(has(r.evidence().notes(), "the agent saw the handshake complete and none of your data arrive"));
  // Towards the client only: nothing said of ours.
  in.mtu_search = found({"toClient"}, 1400);
  r = decide_port(in);
  CHECK_FALSE(has(r.evidence().notes(), "of yours arrive"));
  CHECK_FALSE(has(r.evidence().notes(), "none of your data"));
}

TEST_CASE("path MTU: where no size can be tried (Windows), the agent's packets judge the stall") {
  v1::PathMtu stall;
  stall.set_source("stall");
  stall.set_full_size(1500);
  stall.add_steps(
      "1500: the answer stalled; no smaller size tried: this system does not let a connection's packet "
      "size be set (TCP_MAXSEG: refused)");
  // The way back: the server's full-size segment sent again, never acknowledged.
  auto in = connected_http();
  resent_segment(in, 2.0, 4);
  in.app = stalled_http();
  in.mtu_search = stall;
  in.request_acked = true;
  auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary() ==
        "full-size packets from the server never reach you; the size that passes was not measured (tracepath tells "
        "it); ICMP 'fragmentation needed' does not come back");
  CHECK(r.evidence().path_mtu().source() == "agent");
  CHECK(r.evidence().path_mtu().to_client() == 0);
  CHECK(has(r.evidence().notes(), "the agent saw the server send 3 segment(s) again (1500-byte packets)"));
  CHECK(has(r.evidence().notes(), "path-MTU search: 1500: the answer stalled; no smaller size tried"));
  CHECK(has(r.advice(), "mtu 1280 (a size every path passes; tracepath tells the largest)"));

  // The way there: the handshake came, none of our full-size request; our OS does not tell.
  auto there = connected_http();
  there.packets.pop_back();
  auto ack = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 0.9);
  there.packets.push_back(ack);
  there.app = stalled_http();
  there.mtu_search = stall;
  r = decide_port(there);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary().rfind("full-size packets from you never reach the server; the size that passes was not", 0) == 0);
  // ... unless our OS says all of it was acknowledged.
  there.request_acked = true;
  CHECK(decide_port(there).verdict() != v1::PATH_MTU_BLACKHOLE);

  // A slow application: our request arrived whole, the server sent nothing again.
  auto slow = connected_http();
  slow.app = stalled_http();
  slow.mtu_search = stall;
  auto big = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 1.1);
  big.set_length(1448);
  big.set_ip_length(1500);
  slow.packets.push_back(big);
  r = decide_port(slow);
  CHECK(r.verdict() == v1::APP_FAILED);
  CHECK_FALSE(r.evidence().has_path_mtu());
  // ... and the answer that came after all.
  in.app_complete = true;
  in.app->set_ok(true);
  CHECK(decide_port(in).verdict() == v1::OPEN);
  // Without the agent nothing judges the stall.
  auto alone = connected_http(false);
  alone.app = stalled_http();
  alone.mtu_search = stall;
  CHECK(decide_port(alone).verdict() == v1::APP_FAILED);
}

TEST_CASE("path MTU: both ways, and without the agent") {
  auto in = connected_http(false);
  in.app = stalled_http();
  in.mtu_search = found({"toServer", "toClient"}, 1400);
  const auto r = decide_port(in);
  CHECK(r.verdict() == v1::PATH_MTU_BLACKHOLE);
  CHECK(r.summary().rfind("full-size packets never get through, either way; the path passes 1400 bytes", 0) == 0);
  CHECK(has(r.advice(), "lower this machine's MTU"));
  CHECK_FALSE(has(r.evidence().notes(), "client-only"));
}

TEST_CASE("path MTU: a smaller MTU that path-MTU discovery handles is a note on an open port") {
  auto in = connected_http();
  v1::AppResult app;
  app.set_kind("http");
  app.set_ok(true);
  app.set_detail("HTTP 200 OK");
  in.app = app;
  in.app_complete = true;
  in.kernel_path_mtu = 1400;  // our kernel learnt it from an ICMP error
  auto icmp = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ICMP_ERROR, 2.5);
  icmp.set_src("203.0.113.1");
  icmp.set_src_port(80);
  icmp.set_dst_port(cport);
  icmp.set_icmp_type(3);
  icmp.set_icmp_code(4);
  icmp.set_mtu(1380);
  in.packets.push_back(icmp);
  auto r = decide_port(in);
  CHECK(r.verdict() == v1::OPEN);
  CHECK(r.evidence().path_mtu().to_server() == 1400);
  CHECK(r.evidence().path_mtu().to_client() == 1380);
  CHECK(has(r.evidence().notes(), "path-MTU discovery works"));
  CHECK(r.advice_size() == 0);

  SECTION("a clean path: no note, no path MTU") {
    in.kernel_path_mtu = 1500;
    in.packets.pop_back();
    r = decide_port(in);
    CHECK(r.verdict() == v1::OPEN);
    CHECK_FALSE(r.evidence().has_path_mtu());
    CHECK_FALSE(has(r.evidence().notes(), "path-MTU"));
  }
  SECTION("the answer did not come whole: no claim about the path") {
    in.app_complete = false;
    r = decide_port(in);
    CHECK_FALSE(r.evidence().has_path_mtu());
  }
}
