#include "agent/bpf_filter.h"

#include <algorithm>
#include <cstdio>

#include "common/net.h"

namespace dropspot::agent {

namespace {

/// "tcp dst port 22 or tcp dst portrange 80-82" (proto "udp": the same for UDP)
std::string port_clause(const std::vector<port_run>& runs, const char* dir, const char* proto = "tcp") {
  std::string out;
  for (const auto& r : runs) {
    if (!out.empty()) out += " or ";
    out += proto;
    out += ' ';
    out += dir;
    if (r.first == r.last) {
      out += " port " + std::to_string(r.first);
    } else {
      out += " portrange " + std::to_string(r.first) + "-" + std::to_string(r.last);
    }
  }
  return out;
}

std::string hex32(const unsigned char* p) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x%02x%02x%02x", p[0], p[1], p[2], p[3]);
  return buf;
}

}  // namespace

std::vector<port_run> compress_ports(std::vector<std::uint16_t> ports, std::size_t max_runs) {
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  std::vector<port_run> runs;
  for (auto p : ports) {
    if (!runs.empty() && runs.back().last + 1 == p) {
      runs.back().last = p;
    } else {
      runs.push_back({p, p});
    }
  }
  if (max_runs == 0 || runs.size() <= max_runs) return runs;

  // Join across the (runs - max_runs) smallest gaps.
  std::vector<std::size_t> gaps(runs.size() - 1);  // gap i lies between runs i and i+1
  for (std::size_t i = 0; i < gaps.size(); ++i) gaps[i] = i;
  const auto width = [&](std::size_t i) { return runs[i + 1].first - runs[i].last; };
  std::stable_sort(gaps.begin(), gaps.end(), [&](std::size_t a, std::size_t b) { return width(a) < width(b); });
  std::vector<bool> join(runs.size() - 1, false);
  for (std::size_t k = 0; k < runs.size() - max_runs; ++k) join[gaps[k]] = true;
  std::vector<port_run> joined{runs.front()};
  for (std::size_t i = 1; i < runs.size(); ++i) {
    if (join[i - 1]) {
      joined.back().last = runs[i].last;
    } else {
      joined.push_back(runs[i]);
    }
  }
  return joined;
}

namespace {

/// One address's part of the filter: its TCP and UDP port runs both ways,
/// and the ICMP errors about its packets.
std::string address_filter(const asio::ip::address& peer_in, const std::vector<port_run>& runs,
                           const std::vector<port_run>& udp_runs) {
  const auto peer = unmapped(peer_in);
  const std::string p = peer.to_string();
  const bool v4 = peer.is_v4();
  const std::string ip = v4 ? "ip" : "ip6";
  std::string filter;
  for (const auto& [list, proto] : {std::pair{&runs, "tcp"}, std::pair{&udp_runs, "udp"}}) {
    if (list->empty()) continue;
    filter += "(" + ip + " src host " + p + " and (" + port_clause(*list, "dst", proto) + ")) or ";
    filter += "(" + ip + " dst host " + p + " and (" + port_clause(*list, "src", proto) + ")) or ";
  }
  if (v4) {
    const auto bytes = peer.to_v4().to_bytes();
    // The quoted IPv4 header starts 8 bytes into the ICMP message; its
    // destination address 16 bytes into that.
    filter += "(icmp and (icmp[icmptype] = icmp-unreach or icmp[icmptype] = icmp-timxceed) and (ip host " + p +
              " or icmp[24:4] = " + hex32(bytes.data()) + "))";
  } else {
    const auto bytes = peer.to_v6().to_bytes();
    // The quoted IPv6 header starts 8 bytes into the ICMPv6 message; its
    // destination address 24 bytes into that.
    filter +=
        "(icmp6 and (icmp6[icmp6type] = icmp6-destinationunreach or icmp6[icmp6type] = icmp6-packettoobig or "
        "icmp6[icmp6type] = icmp6-timeexceeded)"
        " and (ip6 host " +
        p + " or (";
    for (int i = 0; i < 4; ++i) {
      if (i) filter += " and ";
      filter += "icmp6[" + std::to_string(32 + 4 * i) + ":4] = " + hex32(bytes.data() + 4 * i);
    }
    filter += ")))";
  }
  return filter;
}

}  // namespace

std::string make_bpf_filter(const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
                            const std::vector<std::uint16_t>& udp_ports) {
  // The run budget split between the addresses, then between the protocols
  // by their share of the ports.
  const std::size_t budget = std::max<std::size_t>(max_filter_port_runs / std::max<std::size_t>(peers.size(), 1), 2);
  const std::size_t total = ports.size() + udp_ports.size();
  const std::size_t udp_budget =
      udp_ports.empty() ? 0
                        : std::clamp<std::size_t>(budget * udp_ports.size() / std::max<std::size_t>(total, 1), 1,
                                                  budget - (ports.empty() ? 0 : 1));
  const auto runs = compress_ports(ports, budget - udp_budget);
  const auto udp_runs = compress_ports(udp_ports, udp_budget);
  if (peers.size() == 1) return address_filter(peers.front(), runs, udp_runs);
  std::string filter;
  for (const auto& peer : peers)
    filter += (filter.empty() ? "(" : " or (") + address_filter(peer, runs, udp_runs) + ")";
  return filter;
}

std::string make_bpf_filter(const asio::ip::address& peer, const std::vector<std::uint16_t>& ports,
                            const std::vector<std::uint16_t>& udp_ports) {
  return make_bpf_filter(std::vector<asio::ip::address>{peer}, ports, udp_ports);
}

}  // namespace dropspot::agent
