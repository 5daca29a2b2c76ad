// One agent session for a name's addresses: which lane a packet feeds, which
// host facts a lane takes (prober/shared_session.h).
#include "prober/shared_session.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using namespace dropspot::prober;

namespace {

asio::ip::address a(const char* s) { return asio::ip::make_address(s); }

v1::PacketEvent packet(const char* src, const char* dst, v1::PacketEvent::Direction d) {
  v1::PacketEvent p;
  p.set_src(src);
  p.set_dst(dst);
  p.set_direction(d);
  p.set_port(80);
  return p;
}

}  // namespace

TEST_CASE("shared session: a packet feeds the lane of its family, of several the one at its server address") {
  const std::vector<lane_address> lanes{{a("203.0.113.2"), a("198.51.100.2")},
                                        {a("2001:db8:2::2"), a("2001:db8:1::2")},
                                        {a("2001:db8:2::3"), a("2001:db8:1::2")}};
  using D = v1::PacketEvent;
  CHECK(lanes_for_packet(packet("198.51.100.2", "203.0.113.2", D::INBOUND), lanes) == std::vector<std::size_t>{0});
  // Behind a NAT the agent sees another source: the family decides.
  CHECK(lanes_for_packet(packet("192.0.2.77", "203.0.113.2", D::INBOUND), lanes) == std::vector<std::size_t>{0});
  CHECK(lanes_for_packet(packet("2001:db8:1::2", "2001:db8:2::3", D::INBOUND), lanes) == std::vector<std::size_t>{2});
  CHECK(lanes_for_packet(packet("2001:db8:2::2", "2001:db8:1::2", D::OUTBOUND), lanes) == std::vector<std::size_t>{1});
  // An ICMP error from a router about a reply from 2001:db8:2::2: its lane.
  CHECK(lanes_for_packet(packet("2001:db8:12::2", "2001:db8:2::2", D::INBOUND), lanes) == std::vector<std::size_t>{1});
  // At an address no lane tests: every lane of the family.
  CHECK(lanes_for_packet(packet("2001:db8:1::2", "2001:db8:2::9", D::INBOUND), lanes) ==
        std::vector<std::size_t>{1, 2});
}

TEST_CASE("shared session: each lane takes the host facts for its own address") {
  v1::SessionSummary summary;
  summary.set_packets_seen(7);
  for (const auto* client : {"198.51.100.2", "2001:db8:1::2"}) {
    auto* f = summary.add_ports();
    f->set_port(80);
    f->set_client_address(client);
    f->add_firewall(std::string("rule for ") + client);
  }
  const std::vector<std::string> captured{"198.51.100.2", "2001:db8:1::2"};
  const lane_address v4{a("203.0.113.2"), a("198.51.100.2")};
  const lane_address v6{a("2001:db8:2::2"), a("2001:db8:1::2")};
  auto mine = summary_for_lane(summary, v6, captured);
  REQUIRE(mine.ports_size() == 1);
  CHECK(mine.ports(0).firewall(0) == "rule for 2001:db8:1::2");
  CHECK(mine.packets_seen() == 7);
  // Behind a NAT our IPv4 source is not the agent's view of it: the family's.
  const lane_address natted{a("203.0.113.2"), a("10.0.0.5")};
  CHECK(agent_view_of(natted, captured) == "198.51.100.2");
  CHECK(summary_for_lane(summary, natted, captured).ports(0).firewall(0) == "rule for 198.51.100.2");
  // An agent that does not capture for our IPv6 address (before issue 24).
  CHECK(agent_view_of(v6, {"198.51.100.2"}).empty());
  CHECK(summary_for_lane(summary, v6, {"198.51.100.2"}).ports_size() == 0);
  // Its facts carry no address: they serve every lane.
  v1::SessionSummary old;
  old.add_ports()->set_port(80);
  CHECK(summary_for_lane(old, v4, {}).ports_size() == 1);
}

TEST_CASE("shared session: the agent's capture speaks for a lane unless it cannot see that address") {
  const lane_address v4{a("203.0.113.2"), a("198.51.100.2")};
  const lane_address v6{a("2001:db8:2::2"), a("2001:db8:1::2")};
  const std::vector<std::string> both{"198.51.100.2", "2001:db8:1::2"};
  CHECK(lane_uncaptured_because(v4, "198.51.100.2", both).empty());
  CHECK(lane_uncaptured_because(v6, "198.51.100.2", both).empty());
  // An older agent: the peer's family only.
  CHECK(lane_uncaptured_because(v6, "198.51.100.2", {"198.51.100.2"}).find("an older agent") != std::string::npos);
  // At home: IPv4 behind a NAT, the channel over IPv6 (ssh prefers it): the
  // agent cannot know our public IPv4 address, silence would read as a drop.
  const lane_address home4{a("203.0.113.2"), a("192.168.1.10")};
  const auto why = lane_uncaptured_because(home4, "2001:db8:1::2", {"2001:db8:1::2", "192.168.1.10"});
  CHECK(why.find("our IPv4 address 192.168.1.10 is private") != std::string::npos);
  CHECK(why.find("ssh -4 in --ssh-command") != std::string::npos);
  // The same private address over an IPv4 channel: the agent sees the NAT's address as the peer.
  CHECK(lane_uncaptured_because(home4, "198.51.100.77", {"198.51.100.77", "2001:db8:1::2"}).empty());
  for (const auto* p :
       {"10.1.2.3", "172.31.0.1", "192.168.0.1", "100.64.0.1", "169.254.1.1", "fd00::1", "fe80::1", "::ffff:10.0.0.1"})
    CHECK(is_private_address(a(p)));
  for (const auto* g : {"198.51.100.2", "203.0.113.2", "172.32.0.1", "100.128.0.1", "2001:db8:1::2", "192.0.2.1"})
    CHECK_FALSE(is_private_address(a(g)));
}
