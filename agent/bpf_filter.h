#pragma once
// The libpcap filter expression for one session. Pure: a string from the
// peer and the ports; the tests compile it with pcap_compile and run it.
#include <asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dropspot::agent {

/// An inclusive run of ports.
struct port_run {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  friend bool operator==(const port_run&, const port_run&) = default;
};

/// Sorts, deduplicates and joins the ports into runs of consecutive ports.
/// While more than `max_runs` runs remain, the two runs with the smallest
/// gap between them are joined (ties: the lower ports first), so the runs
/// cover a superset of the ports; user space then checks the exact ports.
/// `max_runs` 0 means no limit.
std::vector<port_run> compress_ports(std::vector<std::uint16_t> ports, std::size_t max_runs);

/// Port runs in one filter: keeps its BPF program near 500 instructions
/// (the kernel takes at most 4096) and pcap_compile fast.
inline constexpr std::size_t max_filter_port_runs = 128;

/// The capture filter of a session with `peer` (an IPv4-mapped IPv6 peer is
/// handled as IPv4) on the service `ports`:
///  - TCP from the peer to one of the ports, and TCP from one of the ports
///    to the peer (both directions of the service's connections); UDP
///    likewise for `udp_ports` (the prober's datagrams, the service's replies);
///  - ICMP dest-unreachable / time-exceeded (ICMPv6 type 1 / 3) to or from
///    the peer, or quoting a packet whose destination is the peer (a router
///    refusing this host's reply to the peer).
/// The quoted TCP ports are checked in user space, as are the exact ports
/// when the list was compressed (see compress_ports). Packets carrying IPv6
/// extension headers are not matched by libpcap's port tests.
std::string make_bpf_filter(const asio::ip::address& peer, const std::vector<std::uint16_t>& ports,
                            const std::vector<std::uint16_t>& udp_ports = {});

/// The same for each of the prober's addresses (the peer and its other
/// family's, SessionStart.prober_addresses), joined by "or"; the port runs'
/// budget is split between them. `peers` is not empty.
std::string make_bpf_filter(const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
                            const std::vector<std::uint16_t>& udp_ports = {});

}  // namespace dropspot::agent
