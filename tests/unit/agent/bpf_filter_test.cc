// The session's capture filter, compiled by libpcap for the link types the
// agent meets (pcap_open_dead: no device, no root) and run over frames built
// in code with pcap_offline_filter.
#include <pcap/pcap.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>

#include "agent/bpf_filter.h"
#include "support/packet_builder.h"

using namespace dropspot::agent;
using namespace testpkt;

namespace {

const std::string client = "198.51.100.2";
const std::string client2 = "198.51.100.130";
const std::string server = "203.0.113.2";
const std::string router = "192.0.2.2";
const std::string client6 = "2001:db8:1::2";
const std::string client6b = "2001:db8:3::2";
const std::string server6 = "2001:db8:2::2";
const std::string router6 = "2001:db8:12::2";

constexpr unsigned linux_max_insns = 4096;  // BPF_MAXINSNS of the Linux kernel

/// A filter compiled for one link type.
class compiled_filter {
 public:
  compiled_filter(int link_type, const std::string& filter) : link_type_(link_type) {
    dead_ = pcap_open_dead(link_type, 256);
    REQUIRE(dead_ != nullptr);
    INFO(filter);
    const int rc = pcap_compile(dead_, &program_, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    INFO(pcap_geterr(dead_));
    REQUIRE(rc == 0);
  }
  ~compiled_filter() {
    pcap_freecode(&program_);
    pcap_close(dead_);
  }
  compiled_filter(const compiled_filter&) = delete;
  compiled_filter& operator=(const compiled_filter&) = delete;

  unsigned length() const { return program_.bf_len; }

  /// Runs the filter over an IP packet framed for this link type.
  bool matches(const bytes& ip) const {
    bytes frame;
    switch (link_type_) {
      case DLT_EN10MB: frame = in_ethernet(ip); break;
      case DLT_LINUX_SLL2: frame = in_sll2(ip); break;
      default: frame = ip; break;
    }
    pcap_pkthdr header{};
    header.caplen = header.len = static_cast<bpf_u_int32>(frame.size());
    return pcap_offline_filter(&program_, &header, frame.data()) != 0;
  }

 private:
  int link_type_;
  pcap_t* dead_ = nullptr;
  bpf_program program_{};
};

bytes syn4(const std::string& src, const std::string& dst, unsigned sport, unsigned dport) {
  return ipv4(
      {src, dst},
      tcp({.src_port = sport, .dst_port = dport, .seq = 1, .flags = flags::syn, .options = linux_syn_options()}));
}
bytes syn_ack4(const std::string& src, const std::string& dst, unsigned sport, unsigned dport) {
  return ipv4({src, dst},
              tcp({.src_port = sport, .dst_port = dport, .seq = 2, .ack = 2, .flags = flags::syn | flags::ack}));
}
bytes syn6(const std::string& src, const std::string& dst, unsigned sport, unsigned dport) {
  return ipv6({src, dst}, tcp({.src_port = sport, .dst_port = dport, .seq = 1, .flags = flags::syn}));
}
bytes syn_ack6(const std::string& src, const std::string& dst, unsigned sport, unsigned dport) {
  return ipv6({src, dst}, tcp({.src_port = sport, .dst_port = dport, .flags = flags::syn | flags::ack}));
}

const int link_types[] = {DLT_EN10MB, DLT_LINUX_SLL2, DLT_RAW};

}  // namespace

TEST_CASE("bpf: ports are compressed into runs") {
  using runs = std::vector<port_run>;
  CHECK(compress_ports({}, 0).empty());
  CHECK(compress_ports({80, 22, 81, 82, 22, 443}, 0) == runs{{22, 22}, {80, 82}, {443, 443}});
  CHECK(compress_ports({65535, 1, 2, 65534}, 0) == runs{{1, 2}, {65534, 65535}});
  // Over the limit, the smallest gaps close first.
  CHECK(compress_ports({10, 12, 100, 200, 203}, 3) == runs{{10, 12}, {100, 100}, {200, 203}});
  CHECK(compress_ports({10, 12, 100, 200, 203}, 2) == runs{{10, 100}, {200, 203}});
  CHECK(compress_ports({10, 12, 100, 200, 203}, 1) == runs{{10, 203}});
  CHECK(compress_ports({10, 20, 30, 40}, 2) == runs{{10, 30}, {40, 40}});  // ties: lower ports first

  std::vector<std::uint16_t> scattered;
  for (unsigned p = 1000; scattered.size() < 3000; p += 2) scattered.push_back(static_cast<std::uint16_t>(p));
  const auto r = compress_ports(scattered, max_filter_port_runs);
  CHECK(r.size() == max_filter_port_runs);
  CHECK(r.front().first == 1000);
  CHECK(r.back().last == scattered.back());
  for (auto p : scattered) {  // every requested port stays covered
    const bool covered =
        std::any_of(r.begin(), r.end(), [&](const port_run& x) { return x.first <= p && p <= x.last; });
    REQUIRE(covered);
  }
}

TEST_CASE("bpf: the filter text for IPv4, IPv6 and IPv4-mapped peers") {
  const auto f = make_bpf_filter(asio::ip::make_address(client), {22, 8080, 8081, 8082});
  CHECK(f ==
        "(ip src host 198.51.100.2 and (tcp dst port 22 or tcp dst portrange 8080-8082)) or "
        "(ip dst host 198.51.100.2 and (tcp src port 22 or tcp src portrange 8080-8082)) or "
        "(icmp and (icmp[icmptype] = icmp-unreach or icmp[icmptype] = icmp-timxceed) and "
        "(ip host 198.51.100.2 or icmp[24:4] = 0xc6336402))");
  CHECK(make_bpf_filter(asio::ip::make_address("::ffff:" + client), {22, 8080, 8081, 8082}) == f);
  const auto f6 = make_bpf_filter(asio::ip::make_address(client6), {443});
  CHECK(f6.find("ip6 src host 2001:db8:1::2 and (tcp dst port 443)") != std::string::npos);
  CHECK(f6.find("icmp6[32:4] = 0x20010db8 and icmp6[36:4] = 0x00010000 and icmp6[40:4] = 0x00000000 and "
                "icmp6[44:4] = 0x00000002") != std::string::npos);
}

TEST_CASE("bpf: an IPv4 session's filter keeps exactly its packets, on every link type") {
  const std::string filter = make_bpf_filter(asio::ip::make_address(client), {22, 8080, 8081, 8082});
  for (int link : link_types) {
    INFO("link type " << link);
    compiled_filter f(link, filter);
    CHECK(f.length() < 100);
    // The peer's SYN to a requested port, and the replies.
    CHECK(f.matches(syn4(client, server, 43210, 8080)));
    CHECK(f.matches(syn4(client, server, 43210, 8082)));
    CHECK(f.matches(syn4(client, server, 43210, 22)));
    CHECK(f.matches(syn_ack4(server, client, 8080, 43210)));
    CHECK(f.matches(ipv4({server, client}, tcp({.src_port = 8081, .dst_port = 43210, .flags = flags::rst}))));
    // Another peer, another port, the peer's own service port.
    CHECK_FALSE(f.matches(syn4(client2, server, 43210, 8080)));
    CHECK_FALSE(f.matches(syn4(client, server, 43210, 8083)));
    CHECK_FALSE(f.matches(syn4(client, server, 43210, 21)));
    CHECK_FALSE(f.matches(syn_ack4(server, client, 9000, 43210)));
    CHECK_FALSE(f.matches(syn4(server, client, 43210, 8080)));
    CHECK_FALSE(f.matches(ipv4({client, server, 17}, bytes{0xa8, 0xca, 0x1f, 0x90, 0, 8, 0, 0})));  // UDP to 8080
    // ICMP errors to, from and about the peer.
    const bytes syn = syn4(client, server, 43210, 8080);
    const bytes syn_ack = syn_ack4(server, client, 8080, 43210);
    CHECK(f.matches(ipv4({server, client, 1}, icmp(3, 3, syn))));       // the host refuses
    CHECK(f.matches(ipv4({server, client, 1}, icmp(3, 13, syn))));      // its firewall does
    CHECK(f.matches(ipv4({client, server, 1}, icmp(3, 10, syn_ack))));  // the peer refuses our reply
    CHECK(f.matches(ipv4({router, server, 1}, icmp(3, 13, syn_ack))));  // a router on the way back
    CHECK(f.matches(ipv4({router, server, 1}, icmp(11, 0, bytes(syn_ack.begin(), syn_ack.begin() + 28)))));
    CHECK_FALSE(f.matches(ipv4({router, server, 1}, icmp(3, 13, syn_ack4(server, client2, 8080, 1)))));
    CHECK_FALSE(f.matches(ipv4({client, server, 1}, icmp(8, 0, bytes(32, 0)))));  // echo request
    CHECK_FALSE(f.matches(ipv4({server, client, 1}, icmp(0, 0, bytes(32, 0)))));  // echo reply
  }
}

TEST_CASE("bpf: an IPv6 session's filter keeps exactly its packets, on every link type") {
  const std::string filter = make_bpf_filter(asio::ip::make_address(client6), {80, 443});
  for (int link : link_types) {
    INFO("link type " << link);
    compiled_filter f(link, filter);
    CHECK(f.matches(syn6(client6, server6, 40000, 443)));
    CHECK(f.matches(syn_ack6(server6, client6, 443, 40000)));
    CHECK_FALSE(f.matches(syn6(client6b, server6, 40000, 443)));
    CHECK_FALSE(f.matches(syn6(client6, server6, 40000, 444)));
    CHECK_FALSE(f.matches(syn_ack6(server6, client6, 8443, 40000)));
    CHECK_FALSE(f.matches(syn4(client, server, 43210, 443)));
    const bytes syn = syn6(client6, server6, 40000, 80);
    const bytes syn_ack = syn_ack6(server6, client6, 80, 40000);
    CHECK(f.matches(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn))));      // admin-prohibited
    CHECK(f.matches(ipv6({.src = router6, .dst = server6, .next = 58}, icmp(1, 4, syn_ack))));  // about our reply
    CHECK(f.matches(ipv6({.src = router6, .dst = server6, .next = 58}, icmp(3, 0, syn_ack))));  // time exceeded
    CHECK_FALSE(
        f.matches(ipv6({.src = router6, .dst = server6, .next = 58}, icmp(1, 4, syn_ack6(server6, client6b, 80, 1)))));
    // Packet too big about our reply: the path-MTU signal (PATH_MTU_BLACKHOLE).
    CHECK(f.matches(ipv6({.src = router6, .dst = server6, .next = 58}, icmp(2, 0, syn_ack))));
    CHECK_FALSE(f.matches(ipv6({.src = client6, .dst = server6, .next = 58}, icmp(128, 0, bytes(8, 0)))));
  }
}

TEST_CASE("bpf: a session for both of the prober's families keeps the packets of each and no others") {
  const std::vector<asio::ip::address> both{asio::ip::make_address(client), asio::ip::make_address(client6)};
  const std::string filter = make_bpf_filter(both, {80, 443}, {53});
  for (int link : link_types) {
    INFO("link type " << link);
    compiled_filter f(link, filter);
    CHECK(f.matches(syn4(client, server, 43210, 80)));
    CHECK(f.matches(syn6(client6, server6, 40000, 80)));
    CHECK(f.matches(syn_ack6(server6, client6, 443, 40000)));
    CHECK(f.matches(ipv6({.src = router6, .dst = server6, .next = 58}, icmp(1, 4, syn_ack6(server6, client6, 80, 1)))));
    CHECK_FALSE(f.matches(syn4(client2, server, 43210, 80)));
    CHECK_FALSE(f.matches(syn6(client6b, server6, 40000, 80)));
    CHECK_FALSE(f.matches(syn6(client6, server6, 40000, 81)));
  }
  // 3000 scattered ports for two addresses: the runs' budget is shared.
  std::vector<std::uint16_t> ports;
  for (unsigned p = 1000; ports.size() < 3000; p += 2) ports.push_back(static_cast<std::uint16_t>(p));
  compiled_filter big(DLT_LINUX_SLL2, make_bpf_filter(both, ports));
  CHECK(big.length() < linux_max_insns);
  CHECK(big.matches(syn6(client6, server6, 40000, 6998)));
  CHECK(big.matches(syn4(client, server, 40000, 1000)));
}

TEST_CASE("bpf: 3000 scattered ports stay within the kernel's limits") {
  std::vector<std::uint16_t> ports;
  for (unsigned p = 1000; ports.size() < 3000; p += 2) ports.push_back(static_cast<std::uint16_t>(p));
  for (const auto* peer : {"198.51.100.2", "2001:db8:1::2"}) {
    const std::string filter = make_bpf_filter(asio::ip::make_address(peer), ports);
    for (int link : link_types) {
      INFO(peer << ", link type " << link);
      const auto start = std::chrono::steady_clock::now();
      compiled_filter f(link, filter);
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
      CHECK(f.length() < linux_max_insns);
      if (std::string(peer).find(':') == std::string::npos) {
        for (auto p : ports) REQUIRE(f.matches(syn4(client, server, 43210, p)));
        CHECK_FALSE(f.matches(syn4(client, server, 43210, 999)));
        CHECK_FALSE(f.matches(syn4(client2, server, 43210, 1000)));
      } else {
        CHECK(f.matches(syn6(client6, server6, 40000, 6998)));
        CHECK_FALSE(f.matches(syn6(client6, server6, 40000, 7000)));
      }
    }
  }
  // Contiguous: one range, a tiny program.
  std::vector<std::uint16_t> all;
  for (unsigned p = 1; p <= 65535; ++p) all.push_back(static_cast<std::uint16_t>(p));
  compiled_filter f(DLT_EN10MB, make_bpf_filter(asio::ip::make_address(client), all));
  CHECK(f.length() < 64);
  CHECK(f.matches(syn4(client, server, 1, 65535)));
}
