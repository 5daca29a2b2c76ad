#include "prober/run_parts.h"

#include <algorithm>
#include <random>
#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#endif

#include "prober/app/parse.h"
#include "prober/app/udp.h"

namespace dropspot::prober {

std::string probe_kind(const options& o, port_key key) {
  const auto port = key_port(key);
  const auto& chosen = key_udp(key) ? o.udp_probes : o.probes;
  if (auto it = chosen.find(port); it != chosen.end()) return it->second;
  return key_udp(key) ? app::default_udp_probe_kind(port) : app::default_probe_kind(port);
}

std::string random_bytes(std::size_t n) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(generator() & 0xff);
  return out;
}

std::size_t attempts_in_flight(std::size_t want, std::size_t share) {
#if __has_include(<sys/resource.h>)
  static const std::size_t budget = [] {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return std::size_t{1024};
    const rlim_t goal = std::min<rlim_t>(lim.rlim_max, 8192);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < goal) {
      rlimit raised = lim;
      raised.rlim_cur = goal;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
    }
    return static_cast<std::size_t>(std::min<rlim_t>(lim.rlim_cur, 8192));
  }();
  // Half for attempts, half for connections queued for application probes
  // and the rest of the process.
  return std::clamp<std::size_t>(budget / 2 / std::max<std::size_t>(share, 1), 64, want);
#else
  return std::min<std::size_t>(want, 256 / std::max<std::size_t>(share, 1) + 16);
#endif
}

v1::SessionStart session_request(const options& o, const std::vector<port_key>& keys) {
  v1::SessionStart start;
  for (auto key : keys) {
    if (key_udp(key))
      start.add_udp_ports(key_port(key));
    else
      start.add_ports(key_port(key));
    auto* plan = start.add_plan();
    plan->set_port(key_port(key));
    plan->set_kind(probe_kind(o, key));
    plan->set_protocol(key_udp(key) ? v1::UDP : v1::TCP);
  }
  return start;
}

control_settings control_for(const options& o, const asio::ip::address& target, const std::string& token) {
  control_settings settings;
  settings.agents = o.agents;
  settings.target = o.target;
  settings.target_address = target;
  settings.token = token;
  settings.timeout = o.timeout;
  if (!o.ssh.empty()) settings.ssh = ssh_settings{o.ssh, o.ssh_command, o.remote_agent};
  return settings;
}

std::string expectation_for(const options& o, port_key key) {
  std::string what = "open";
  for (const auto& e : o.expects)
    if (e.ports.empty() && e.udp_ports.empty()) what = e.what;
  for (const auto& e : o.expects) {
    const auto& named = key_udp(key) ? e.udp_ports : e.ports;
    if (std::find(named.begin(), named.end(), key_port(key)) != named.end()) what = e.what;
  }
  return what;
}

bool is_inbound_request(const v1::PacketEvent& p) {
  return p.direction() == v1::PacketEvent::INBOUND &&
         (p.kind() == v1::PacketEvent::SYN || p.kind() == v1::PacketEvent::DATAGRAM);
}

bool is_outbound_reply(const v1::PacketEvent& p) {
  if (p.direction() != v1::PacketEvent::OUTBOUND) return false;
  switch (p.kind()) {
    case v1::PacketEvent::SYN_ACK:
    case v1::PacketEvent::RST:
    case v1::PacketEvent::DATAGRAM: return true;
    case v1::PacketEvent::ICMP_ERROR: return p.protocol() == v1::UDP;
    default: return false;
  }
}

bool saw_inbound_syn(const std::vector<v1::PacketEvent>& packets) {
  return std::any_of(packets.begin(), packets.end(), is_inbound_request);
}

bool all_timed_out(const std::vector<v1::Attempt>& attempts) {
  return !attempts.empty() && std::all_of(attempts.begin(), attempts.end(),
                                          [](const v1::Attempt& a) { return a.outcome() == v1::Attempt::TIMED_OUT; });
}

std::uint32_t client_port_of(const v1::PacketEvent& p) {
  if (p.kind() == v1::PacketEvent::ICMP_ERROR) return p.src_port() == p.port() ? p.dst_port() : p.src_port();
  return p.direction() == v1::PacketEvent::INBOUND ? p.src_port() : p.dst_port();
}

std::uint64_t flow_key(port_key port, std::uint32_t client_port) { return (std::uint64_t{port} << 32) | client_port; }

int routers_from_ttl(std::uint32_t ttl) {
  for (std::uint32_t initial : {64u, 128u, 255u})
    if (ttl > 0 && ttl <= initial) return static_cast<int>(initial - ttl);
  return 0;
}

}  // namespace dropspot::prober
