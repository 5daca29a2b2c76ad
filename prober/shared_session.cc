#include "prober/shared_session.h"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>

#include "common/net.h"
#include "common/spawn.h"

namespace dropspot::prober {

namespace {

/// The family of an address as text (4 or 6; 0 when it does not parse).
int family_of(const std::string& text) {
  const auto a = parse_ip(text);
  if (!a) return 0;
  if (a->is_v6() && a->to_v6().is_v4_mapped()) return 4;
  return a->is_v4() ? 4 : 6;
}

int family_of(const asio::ip::address& a) { return family_of(a.to_string()); }

bool same_address(const std::string& text, const asio::ip::address& a) {
  return normalize_address(text) == normalize_address(a.to_string());
}

}  // namespace

std::vector<std::size_t> lanes_for_packet(const v1::PacketEvent& packet, const std::vector<lane_address>& lanes) {
  const int family = family_of(packet.src().empty() ? packet.dst() : packet.src());
  std::vector<std::size_t> same;
  for (std::size_t i = 0; i < lanes.size(); ++i)
    if (family_of(lanes[i].target) == family) same.push_back(i);
  if (same.size() <= 1) return same;
  // The server's side of the packet: where a request went, where a reply came from.
  const std::string& server = packet.direction() == v1::PacketEvent::INBOUND ? packet.dst() : packet.src();
  for (auto i : same)
    if (same_address(server, lanes[i].target)) return {i};
  return same;
}

std::string agent_view_of(const lane_address& lane, const std::vector<std::string>& capture_addresses) {
  if (lane.local)
    for (const auto& a : capture_addresses)
      if (same_address(a, *lane.local)) return a;
  for (const auto& a : capture_addresses)
    if (family_of(a) == family_of(lane.target)) return a;
  return {};
}

v1::SessionSummary summary_for_lane(const v1::SessionSummary& summary, const lane_address& lane,
                                    const std::vector<std::string>& capture_addresses) {
  v1::SessionSummary mine = summary;
  mine.clear_ports();
  const std::string seen = agent_view_of(lane, capture_addresses);
  for (const auto& facts : summary.ports())
    if (facts.client_address().empty() ||
        (!seen.empty() && normalize_address(facts.client_address()) == normalize_address(seen)))
      *mine.add_ports() = facts;
  return mine;
}

bool is_private_address(const asio::ip::address& in) {
  const auto a = unmapped(in);
  for (const auto* cidr :
       {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"})
    if (address_in_cidr(a, cidr).value_or(false)) return true;
  return false;
}

std::string lane_uncaptured_because(const lane_address& lane, const std::string& peer,
                                    const std::vector<std::string>& capture_addresses) {
  const std::string family = family_of(lane.target) == 6 ? "IPv6" : "IPv4";
  if (agent_view_of(lane, capture_addresses).empty())
    return "the agent does not capture for our " + family +
           " address (an older agent captures for the control channel's address only): the client's view only over "
           "this address";
  if (lane.local && family_of(*lane.local) != family_of(peer) && is_private_address(*lane.local))
    return "our " + family + " address " + lane.local->to_string() +
           " is private (a NAT stands in front of it) and the agent is reached over " +
           (family == "IPv6" ? "IPv4" : "IPv6") +
           ": it cannot know our public address, so its capture cannot speak for this address; the client's view "
           "only over " +
           family + " (reach the agent over " + family + " for its view: --agent ADDRESS, or ssh -" +
           (family == "IPv6" ? "6" : "4") + " in --ssh-command)";
  return {};
}

shared_session::shared_session(const asio::any_io_executor& executor, agent_session session,
                               std::vector<lane_address> lanes)
    : executor_(executor),
      session_(std::move(session)),
      lanes_(std::move(lanes)),
      streams_(lanes_.size(), nullptr),
      started_(lanes_.size(), false),
      finished_(lanes_.size(), false),
      all_finished_(executor, asio::steady_timer::time_point::max()) {
  master_.keep_packets = false;
}

std::vector<std::string> shared_session::capture_addresses() const {
  return {session_.ack.capture_addresses().begin(), session_.ack.capture_addresses().end()};
}

void shared_session::attach(std::size_t i, agent_stream& stream) {
  streams_.at(i) = &stream;
  if (std::all_of(streams_.begin(), streams_.end(), [](const agent_stream* s) { return s != nullptr; })) start();
}

void shared_session::start() {
  if (!session_.port) return;
  master_.on_packet = [this](const v1::PacketEvent& packet) {
    const auto key = make_port_key(static_cast<std::uint16_t>(packet.port()), packet.protocol() == v1::UDP);
    for (auto i : lanes_for_packet(packet, lanes_)) {
      auto* s = streams_[i];
      if (!s) continue;
      s->packets[key].push_back(packet);
      if (s->on_packet) s->on_packet(packet);
    }
  };
  master_.on_pong = [this](std::uint64_t nonce) {
    for (auto* s : streams_)
      if (s && s->on_pong) s->on_pong(nonce);
  };
  master_.on_ack = [this](bool acknowledged) {
    for (auto* s : streams_)
      if (s && s->on_ack) s->on_ack(acknowledged);
  };
  master_.on_summary = [this] {
    const auto addresses = capture_addresses();
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      auto* s = streams_[i];
      if (!s) continue;
      s->summary = summary_for_lane(*master_.summary, lanes_[i], addresses);
      if (s->on_summary) s->on_summary();
    }
  };
  asio::co_spawn(executor_, receive_observations(session_, master_),
                 on_escape("reading the agent's messages", report_internal_error));
}

void shared_session::all_started(std::size_t i) {
  started_.at(i) = true;
  if (std::all_of(started_.begin(), started_.end(), [](bool b) { return b; })) request_summary(session_, executor_);
}

asio::awaitable<void> shared_session::finish(std::size_t i, millis deadline) {
  if (ended_ || finished_.at(i)) co_return;
  finished_[i] = true;
  // A lane that finished early (or failed) does not hold the summary back.
  all_started(i);
  if (!std::all_of(finished_.begin(), finished_.end(), [](bool b) { return b; })) {
    co_await all_finished_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return;
  }
  if (session_.port) {
    co_await finish_agent_session(session_, master_, deadline);
    const auto addresses = capture_addresses();
    for (std::size_t lane = 0; lane < streams_.size(); ++lane) {
      auto* s = streams_[lane];
      if (!s) continue;
      if (master_.summary && !s->summary) s->summary = summary_for_lane(*master_.summary, lanes_[lane], addresses);
      s->lost = master_.lost;
      s->finished = true;
    }
  }
  ended_ = true;
  all_finished_.cancel();
}

}  // namespace dropspot::prober
