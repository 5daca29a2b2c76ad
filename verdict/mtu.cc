// The path's MTU: a black hole the prober's search measured
// (PATH_MTU_BLACKHOLE), or a smaller MTU that path-MTU discovery handles (a
// note on an OPEN port). Both views count: the search's sizes and directions,
// the prober's kernel's path MTU, and the agent's packets: ICMP 'fragmentation
// needed' / 'packet too big' arriving about the server's packets, and the
// server's data segments sent again and again.
//
//   the search found a black hole, the handshake completed  -> PATH_MTU_BLACKHOLE
//   OPEN, the answer came whole, and a path MTU below the
//   full size was learnt (our kernel, or the agent's ICMP)   -> OPEN, noted
//   anything else                                            -> unchanged
#include <algorithm>

#include "common/firewall_rule.h"
#include "verdict/internal.h"

namespace dropspot::verdict_detail {

namespace {

bool is_v6(const port_input& in) { return in.target_address.find(':') != std::string::npos; }

std::string icmp_name(const port_input& in) {
  return is_v6(in) ? "ICMPv6 'packet too big'" : "ICMP 'fragmentation needed'";
}

}  // namespace

bool is_fragmentation_needed(const PacketEvent& p) {
  if (p.kind() != PacketEvent::ICMP_ERROR || !p.has_icmp_type()) return false;
  const bool v6 = p.src().find(':') != std::string::npos;
  return v6 ? p.icmp_type() == 2 : (p.icmp_type() == 3 && p.icmp_code() == 4);
}

mtu_evidence agent_mtu_evidence(const port_input& in) {
  mtu_evidence e;
  for (const auto& p : in.packets) {
    if (p.direction() == PacketEvent::INBOUND && is_fragmentation_needed(p)) {
      ++e.icmp_arrived;
      if (p.mtu() > 0) e.icmp_mtu = e.icmp_mtu == 0 ? p.mtu() : std::min(e.icmp_mtu, p.mtu());
    }
    if (p.direction() == PacketEvent::OUTBOUND && p.kind() == PacketEvent::ACK && p.length() > 0) {
      const bool again = std::any_of(in.packets.begin(), in.packets.end(), [&](const PacketEvent& q) {
        return &q != &p && q.direction() == PacketEvent::OUTBOUND && q.kind() == PacketEvent::ACK &&
               q.src_port() == p.src_port() && q.dst_port() == p.dst_port() && q.seq() == p.seq() && q.length() > 0 &&
               q.time_unix_us() < p.time_unix_us();
      });
      if (again) {
        ++e.resent;
        e.resent_size = std::max(e.resent_size, p.ip_length());
      }
    }
    if (p.direction() == PacketEvent::INBOUND && p.kind() == PacketEvent::ACK) {
      ++e.handshakes;
      if (p.length() > 0) {
        ++e.received;
        e.received_size = std::max(e.received_size, p.ip_length());
      }
    }
    if (!p.interface().empty() && e.interface.empty()) e.interface = p.interface();
  }
  return e;
}

namespace {

/// A stall no size could be tried for (source "stall": Windows cannot hold a
/// connection's packet size), judged by the agent's packets: the server's
/// full-size segment sent again and again (the way back), or none of our
/// full-size request arriving after the handshake (the way there). The
/// sizes that pass stay unmeasured (0). Nothing without the agent, or when
/// the answer came after all (a slow application).
std::optional<v1::PathMtu> judge_stall(const port_input& in, const mtu_evidence& agent) {
  if (in.app_complete || !agent_capturing(in)) return std::nullopt;
  auto m = *in.mtu_search;
  // A full-size packet, give or take its TCP options.
  const auto full_sized = [&](std::uint32_t size) { return size > 0 && size + 80 >= m.full_size(); };
  const bool back = agent.resent > 0 && full_sized(agent.resent_size);
  // Our request fills full-size packets (the stall watch pads it).
  const bool there = agent.handshakes > 0 && !full_sized(agent.received_size) && in.request_acked != true;
  if (!back && !there) return std::nullopt;
  m.set_source("agent");
  if (there) m.add_blackhole("toServer");
  if (back) m.add_blackhole("toClient");
  return m;
}

}  // namespace

std::optional<v1::PathMtu> path_mtu_of(const port_input& in, const mtu_evidence& agent) {
  if (in.mtu_search) {
    auto m = in.mtu_search->source() == "stall" ? judge_stall(in, agent) : in.mtu_search;
    if (!m) return std::nullopt;
    m->set_icmp_seen(agent.icmp_arrived > 0);
    // The ICMP about the server's own packets came, and they still vanish:
    // the server's firewall dropped it before its kernel could learn.
    const auto& holes = m->blackhole();
    m->set_icmp_dropped_by_host(agent.icmp_arrived > 0 &&
                                std::find(holes.begin(), holes.end(), "toClient") != holes.end());
    return m;
  }
  if (!in.app_complete || in.full_size == 0) return std::nullopt;
  v1::PathMtu m;
  m.set_source("icmp");
  m.set_full_size(in.full_size);
  if (in.kernel_path_mtu > 0 && in.kernel_path_mtu < in.full_size) m.set_to_server(in.kernel_path_mtu);
  if (agent.icmp_mtu > 0 && agent.icmp_mtu < in.full_size) m.set_to_client(agent.icmp_mtu);
  m.set_icmp_seen(agent.icmp_arrived > 0);
  if (m.to_server() == 0 && m.to_client() == 0) return std::nullopt;
  return m;
}

void apply_path_mtu(const port_input& in, judged& j, std::vector<std::string>& notes, v1::PortReport& r) {
  const auto agent = agent_mtu_evidence(in);
  const auto m = path_mtu_of(in, agent);
  if (!m) return;
  *r.mutable_evidence()->mutable_path_mtu() = *m;
  const auto icmp = icmp_name(in);
  if (m->source() == "icmp") {
    if (j.verdict != v1::OPEN) return;
    std::string ways;
    if (m->to_server() > 0) ways = num(m->to_server()) + " bytes towards the server";
    if (m->to_client() > 0) ways += (ways.empty() ? "" : " and ") + num(m->to_client()) + " bytes towards you";
    notes.push_back("the path passes packets of " + ways + " (the ends use " + num(m->full_size()) +
                    "): path-MTU discovery works (" + icmp +
                    " reaches the sender, which sends smaller packets), so this is not a fault: a tunnel, "
                    "PPPoE or VPN link on the way");
    return;
  }
  // A black hole: the handshake completed (OPEN, or APP_FAILED from the stall).
  if (j.verdict != v1::OPEN && j.verdict != v1::APP_FAILED) return;
  const auto& holes = m->blackhole();
  const bool to_client = std::find(holes.begin(), holes.end(), "toClient") != holes.end();
  const bool to_server = std::find(holes.begin(), holes.end(), "toServer") != holes.end();
  const auto size = to_client ? m->to_client() : m->to_server();
  const auto passes = size > 0 ? "the path passes " + num(size) + " bytes"
                               : std::string("the size that passes was not measured (tracepath tells it)");
  std::string which = to_client && to_server ? "full-size packets never get through, either way"
                      : to_server            ? "full-size packets from you never reach the server"
                                             : "full-size packets from the server never reach you";
  // The rules of the server's firewall that drop the ICMP (the agent
  // evaluated its ruleset for it): they matter for the server's packets.
  const auto& rules = to_client ? in.icmp_firewall : std::vector<std::string>{};
  std::string why = icmp + " does not come back";
  if (m->icmp_dropped_by_host())
    why = rules.empty() ? icmp +
                              " reaches the server, yet it keeps sending full-size packets (a firewall there "
                              "drops the ICMP before the kernel sees it)"
                        : icmp + " reaches the server, and its firewall drops it (" + rules.front() + ")";
  else if (!rules.empty())
    why += " (and the server's firewall would drop it too)";
  for (const auto& rule : rules) r.mutable_evidence()->add_firewall(icmp + ": " + rule);
  j.verdict = v1::PATH_MTU_BLACKHOLE;
  j.summary = which + "; " + passes + "; " + why;
  std::string steps =
      m->source() == "agent" ? "path-MTU search: " : "path-MTU search (sizes in bytes, each a fresh connection): ";
  for (int i = 0; i < m->steps_size(); ++i) steps += (i ? "; " : "") + m->steps(i);
  notes.push_back(steps);
  if (agent.resent > 0)
    notes.push_back("the agent saw the server send " + num(agent.resent) + " segment(s) again" +
                    (agent.resent_size > 0 ? " (" + num(agent.resent_size) + "-byte packets)" : std::string()) +
                    ", never acknowledged: they do not reach you");
  // What arrived of ours: the way to the server, from the server's side.
  if (to_server && agent_capturing(in) && agent.handshakes > 0)
    notes.push_back(agent.received > 0
                        ? "the agent saw " + num(agent.received) + " data segment(s) of yours arrive" +
                              (agent.received_size > 0 ? ", the largest a " + num(agent.received_size) + "-byte packet"
                                                       : std::string()) +
                              ", none of the full " + num(m->full_size()) + " bytes: they do not reach the server"
                        : "the agent saw the handshake complete and none of your data arrive: your full-size (" +
                              num(m->full_size()) + "-byte) packets do not reach the server");
  if (agent.icmp_arrived > 0)
    notes.push_back("the agent saw " + num(agent.icmp_arrived) + " " + icmp + " arrive" +
                    (agent.icmp_mtu > 0 ? " (next-hop MTU " + num(agent.icmp_mtu) + ")" : std::string()));
}

std::vector<std::string> path_mtu_advice(const port_input& in) {
  std::vector<std::string> a;
  const auto agent = agent_mtu_evidence(in);
  const auto found = path_mtu_of(in, agent);
  if (!found) return a;
  const auto& m = *found;
  const auto& holes = m.blackhole();
  const bool to_server = std::find(holes.begin(), holes.end(), "toServer") != holes.end();
  const std::uint32_t mtu = std::max<std::uint32_t>(
      1280, std::min(m.to_client() ? m.to_client() : m.to_server(), m.to_server() ? m.to_server() : m.to_client()));
  const std::string iface = agent.interface.empty() ? "IFACE" : agent.interface;
  const bool v6 = is_v6(in);
  a.push_back("confirm where the MTU drops: tracepath -n " + host_of(in) + " (from here) and tracepath -n " +
              (in.agent.peer_address().empty() ? std::string("<your address>") : in.agent.peer_address()) +
              " (on the server)");
  a.push_back(
      "clamp the MSS where the small link is (the tunnel's or router's end): nft add rule inet filter "
      "forward tcp flags syn tcp option maxseg size set rt mtu (iptables: iptables -t mangle -A FORWARD -p "
      "tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu)");
  // Unmeasured (Windows): 1280, which every path passes.
  const std::string unmeasured =
      m.to_client() == 0 && m.to_server() == 0 ? " (a size every path passes; tracepath tells the largest)" : "";
  if (to_server)
    a.push_back("or lower this machine's MTU to the path's: ip link set dev IFACE mtu " + num(mtu) + unmeasured +
                " (Windows: netsh interface " + (v6 ? "ipv6" : "ipv4") +
                " set subinterface \"Ethernet\" mtu=" + num(mtu) + " store=persistent)");
  else
    a.push_back("or lower the server's MTU to the path's: ip link set dev " + iface + " mtu " + num(mtu) + unmeasured +
                " (and in its network configuration, to keep it)");
  const bool to_client = std::find(holes.begin(), holes.end(), "toClient") != holes.end();
  std::vector<std::string> fixes;
  if (to_client)
    for (const auto& rule : in.icmp_firewall)
      if (auto fix = icmp_too_big_accept_command(rule, v6); !fix.empty())
        fixes.push_back("the server's firewall drops the ICMP (" + rule + "): let it in first: " + fix);
  if (!fixes.empty())
    a.insert(a.end(), fixes.begin(), fixes.end());
  else if (m.icmp_dropped_by_host())
    a.push_back(
        "the ICMP arrives at the server and is dropped there: allow it first: nft insert rule inet filter "
        "input " +
        std::string(v6 ? "icmpv6 type packet-too-big accept" : "icmp type destination-unreachable accept") +
        " (iptables: iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT)");
  if (!m.icmp_dropped_by_host())
    a.push_back(std::string("let ") +
                (v6 ? "ICMPv6 type 2 ('packet too big')" : "ICMP type 3 code 4 ('fragmentation needed')") +
                " through: the provider's filter or security group, the tunnel's end, and the host firewalls "
                "(nft list ruleset | grep -n icmp)");
  return a;
}

}  // namespace dropspot::verdict_detail
