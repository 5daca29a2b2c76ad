// Matching the agent's packets to the prober's attempts (see verdict/verdict.h).
#include <algorithm>

#include "verdict/internal.h"

namespace dropspot::verdict_detail {

std::uint64_t attempt_end_us(const Attempt& a) {
  return a.start_unix_us() + static_cast<std::uint64_t>(std::max(0.0, a.elapsed_ms()) * 1000.0);
}

double tolerance_ms(const port_input& in) { return std::max(50.0, 2 * in.agent.rtt_ms()); }

namespace {

/// What opens a flow: the prober's SYN, or its datagram to a UDP port.
bool is_request(const PacketEvent& p) {
  return p.direction() == PacketEvent::INBOUND && (p.kind() == PacketEvent::SYN || p.kind() == PacketEvent::DATAGRAM);
}

}  // namespace

matching match_flows(const port_input& in) {
  matching m;
  m.packets = in.packets;
  for (auto& p : m.packets) {
    const auto t = static_cast<std::int64_t>(p.time_unix_us()) - in.agent_clock_offset_us;
    p.set_time_unix_us(t < 0 ? 0 : static_cast<std::uint64_t>(t));
  }
  std::stable_sort(m.packets.begin(), m.packets.end(),
                   [](const PacketEvent& a, const PacketEvent& b) { return a.time_unix_us() < b.time_unix_us(); });

  for (std::size_t i = 0; i < m.packets.size(); ++i) {
    const auto& p = m.packets[i];
    if (!is_request(p)) continue;
    const auto src = normalize_address(p.src());
    auto it = std::find_if(m.flows.begin(), m.flows.end(),
                           [&](const flow& f) { return f.src == src && f.src_port == p.src_port(); });
    if (it == m.flows.end()) {
      flow f;
      f.src = src;
      f.src_port = p.src_port();
      f.dst = normalize_address(p.dst());
      m.flows.push_back(std::move(f));
      it = m.flows.end() - 1;
    }
    it->syns.push_back(i);
  }

  for (std::size_t i = 0; i < m.packets.size(); ++i) {
    const auto& p = m.packets[i];
    const bool out = p.direction() == PacketEvent::OUTBOUND;
    if (is_request(p)) continue;
    flow* owner = nullptr;
    for (auto& f : m.flows) {
      bool mine = false;
      if (p.kind() == PacketEvent::ICMP_ERROR) {
        const auto peer = normalize_address(out ? p.dst() : p.src());
        // The quoted header's client port may sit in either field; the peer
        // is unknown for an inbound error sent by a router.
        mine = (p.src_port() == f.src_port || p.dst_port() == f.src_port) && (!out || peer.empty() || peer == f.src);
      } else if (out) {
        mine = normalize_address(p.dst()) == f.src && p.dst_port() == f.src_port;
      } else {
        mine = normalize_address(p.src()) == f.src && p.src_port() == f.src_port;
      }
      if (mine) {
        owner = &f;
        break;
      }
    }
    if (owner == nullptr) {
      m.stray.push_back(i);
      continue;
    }
    switch (p.kind()) {
      case PacketEvent::SYN_ACK:
      case PacketEvent::DATAGRAM:  // the service's UDP reply
        if (out)
          owner->synacks.push_back(i);
        else
          m.stray.push_back(i);
        break;
      case PacketEvent::RST: (out ? owner->rsts : owner->client_rsts).push_back(i); break;
      case PacketEvent::ICMP_ERROR: (out ? owner->icmps : owner->icmps_in).push_back(i); break;
      case PacketEvent::ACK:
        if (!out) owner->client_acks.push_back(i);
        break;
      default: m.stray.push_back(i); break;
    }
  }

  // Attempts to flows: first by the prober's local port.
  m.flow_of_attempt.assign(in.attempts.size(), -1);
  for (std::size_t a = 0; a < in.attempts.size(); ++a) {
    const auto& at = in.attempts[a];
    if (at.local_port() == 0) continue;
    int best = -1;
    std::uint64_t best_gap = 0;
    for (std::size_t f = 0; f < m.flows.size(); ++f) {
      const auto& fl = m.flows[f];
      if (fl.attempt >= 0 || fl.src_port != at.local_port()) continue;
      const auto t = m.time(fl.syns.front());
      const auto gap = t > at.start_unix_us() ? t - at.start_unix_us() : at.start_unix_us() - t;
      if (best < 0 || gap < best_gap) {
        best = static_cast<int>(f);
        best_gap = gap;
      }
    }
    if (best >= 0) {
      m.flows[static_cast<std::size_t>(best)].attempt = static_cast<int>(a);
      m.flow_of_attempt[a] = best;
    }
  }
  // Then, when NAT changed the port, by time order.
  std::vector<std::size_t> free_attempts;
  for (std::size_t a = 0; a < in.attempts.size(); ++a)
    if (m.flow_of_attempt[a] < 0 && in.attempts[a].outcome() != Attempt::FAILED) free_attempts.push_back(a);
  std::vector<std::size_t> free_flows;
  for (std::size_t f = 0; f < m.flows.size(); ++f)
    if (m.flows[f].attempt < 0) free_flows.push_back(f);
  const auto tol_us = static_cast<std::uint64_t>(tolerance_ms(in) * 1000);
  const bool same_count = free_flows.size() == free_attempts.size();
  for (auto f : free_flows) {
    if (free_attempts.empty()) break;
    auto pick = free_attempts.begin();
    if (!same_count) {
      // The latest attempt that had started when this SYN arrived.
      const auto t = m.time(m.flows[f].syns.front());
      for (auto it = free_attempts.begin(); it != free_attempts.end(); ++it)
        if (in.attempts[*it].start_unix_us() <= t + tol_us) pick = it;
    }
    m.flows[f].attempt = static_cast<int>(*pick);
    m.flow_of_attempt[*pick] = static_cast<int>(f);
    free_attempts.erase(pick);
  }
  return m;
}

}  // namespace dropspot::verdict_detail
