#pragma once
// A fixture report for the renderers' tests: six ports, one of each common
// verdict, decided by the real verdict engine from made-up evidence.
#include <cstdint>
#include <string>

#include "dropspot.pb.h"
#include "verdict/verdict.h"

namespace dropspot::sample {

inline constexpr std::uint64_t t0 = 1'700'000'000'000'000;
inline constexpr const char* client = "198.51.100.2";
inline constexpr const char* server = "203.0.113.2";

inline std::uint64_t at_ms(double ms) { return t0 + static_cast<std::uint64_t>(ms * 1000); }

inline port_input base_input(std::uint32_t port, const char* probe, const v1::AgentInfo& agent) {
  port_input in;
  in.port = port;
  in.probe = probe;
  in.target = "vps.example";
  in.target_address = server;
  in.agent = agent;
  return in;
}

inline void add_attempt(port_input& in, v1::Attempt::Outcome outcome, std::uint32_t local_port, double start_ms,
                        double elapsed_ms) {
  auto& a = in.attempts.emplace_back();
  a.set_outcome(outcome);
  a.set_local_address(client);
  a.set_local_port(local_port);
  a.set_start_unix_us(at_ms(start_ms));
  a.set_elapsed_ms(elapsed_ms);
}

inline void add_packet(port_input& in, bool inbound, v1::PacketEvent::Kind kind, std::uint32_t client_port,
                       double t_ms) {
  auto& p = in.packets.emplace_back();
  p.set_time_unix_us(at_ms(t_ms));
  p.set_direction(inbound ? v1::PacketEvent::INBOUND : v1::PacketEvent::OUTBOUND);
  p.set_kind(kind);
  p.set_src(inbound ? client : server);
  p.set_dst(inbound ? server : client);
  p.set_src_port(inbound ? client_port : in.port);
  p.set_dst_port(inbound ? in.port : client_port);
  p.set_ttl(inbound ? 61 : 64);
  p.set_interface("eth0");
  p.set_port(in.port);
  if (kind == v1::PacketEvent::SYN) {
    p.mutable_options()->set_mss(1460);
    p.mutable_options()->set_sack_permitted(true);
    p.mutable_options()->set_window_scale(7);
  }
}

inline void add_listener(port_input& in, const char* address, const char* process) {
  auto& l = in.listeners.emplace_back();
  l.set_port(in.port);
  l.set_address(address);
  l.set_process(process);
  l.set_pid(812);
  l.set_unit(std::string(process) + ".service");
}

inline v1::AgentInfo connected_agent() {
  v1::AgentInfo a;
  a.set_status(v1::AgentInfo::CONNECTED);
  a.set_endpoint("203.0.113.2:7411");
  a.set_path("tls");
  a.set_peer_address(client);
  a.set_hostname("vps1");
  a.set_software("dropspot-agent 0.1.0");
  a.add_interfaces("eth0");
  a.set_rtt_ms(0.42);
  a.set_capture_active(true);
  return a;
}

/// A report with OPEN (22), NO_LISTENER (8080), DROPPED_BY_HOST_FIREWALL (80),
/// LISTENER_WRONG_ADDRESS (3306), DROPPED_IN_TRANSIT (25) and REPLY_LOST (443).
inline v1::Report sample_report() {
  v1::Report r;
  r.set_target("vps.example");
  r.set_address(server);
  *r.mutable_agent() = connected_agent();
  r.set_software("dropspot-prober 0.1.0");
  r.set_elapsed_ms(2345);
  const auto agent = r.agent();

  auto ssh = base_input(22, "ssh", agent);
  add_attempt(ssh, v1::Attempt::CONNECTED, 40000, 0, 1.1);
  add_packet(ssh, true, v1::PacketEvent::SYN, 40000, 0.5);
  add_packet(ssh, false, v1::PacketEvent::SYN_ACK, 40000, 0.6);
  add_listener(ssh, "0.0.0.0", "sshd");
  *r.add_ports() = decide_port(ssh);

  auto smtp = base_input(25, "smtp", agent);
  add_attempt(smtp, v1::Attempt::TIMED_OUT, 40001, 1, 2000);
  v1::HopLocation hop;
  hop.set_last_hop(1);
  hop.set_last_hop_address("198.51.100.1");
  hop.set_path_length(3);
  smtp.hop = hop;
  *r.add_ports() = decide_port(smtp);

  auto http = base_input(80, "http", agent);
  add_attempt(http, v1::Attempt::TIMED_OUT, 40002, 2, 2000);
  add_packet(http, true, v1::PacketEvent::SYN, 40002, 2.5);
  add_packet(http, true, v1::PacketEvent::SYN, 40002, 1002.5);
  add_listener(http, "0.0.0.0", "nginx");
  http.firewall.push_back("inet filter input tcp dport 80 drop");
  *r.add_ports() = decide_port(http);

  auto https = base_input(443, "https", agent);
  add_attempt(https, v1::Attempt::TIMED_OUT, 40003, 3, 2000);
  add_packet(https, true, v1::PacketEvent::SYN, 40003, 3.5);
  add_packet(https, false, v1::PacketEvent::SYN_ACK, 40003, 3.6);
  add_listener(https, "::", "nginx");
  *r.add_ports() = decide_port(https);

  auto mysql = base_input(3306, "tcp", agent);
  add_attempt(mysql, v1::Attempt::REFUSED, 40004, 4, 1);
  add_packet(mysql, true, v1::PacketEvent::SYN, 40004, 4.5);
  add_packet(mysql, false, v1::PacketEvent::RST, 40004, 4.6);
  add_listener(mysql, "127.0.0.1", "mariadbd");
  *r.add_ports() = decide_port(mysql);

  auto alt = base_input(8080, "http", agent);
  add_attempt(alt, v1::Attempt::REFUSED, 40005, 5, 1);
  add_packet(alt, true, v1::PacketEvent::SYN, 40005, 5.5);
  add_packet(alt, false, v1::PacketEvent::RST, 40005, 5.6);
  *r.add_ports() = decide_port(alt);

  for (auto& n : cross_port_notes(r)) r.add_notes(n);
  return r;
}

}  // namespace dropspot::sample
