#include "prober/mtu_search.h"

#include <algorithm>
#include <asio/this_coro.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "prober/platform.h"
#include "prober/probe.h"
#include "prober/task_group.h"

namespace dropspot::prober {

namespace {

/// Link MTUs paths commonly have, largest first: Ethernet, PPPoE, IPIP and
/// 6in4, GRE, DS-Lite, VXLAN, WireGuard over IPv6 and IPv4, cloud overlays
/// and VPNs, IPv6's minimum.
constexpr std::uint32_t common_mtus[] = {1500, 1492, 1480, 1476, 1460, 1450, 1440,
                                         1420, 1400, 1380, 1360, 1350, 1300, 1280};

constexpr std::uint32_t minimum_size(bool v6) { return v6 ? 1280 : 576; }

std::string step_text(std::uint32_t size, const std::vector<mtu_attempt>& attempts) {
  std::string s = std::to_string(size) + ":";
  for (const auto& a : attempts) {
    if (a.size != size) continue;
    if (a.failed) {
      s += " no connection,";
      continue;
    }
    if (a.padded && a.limited) s += " to the server held smaller by the server's MSS,";
    if (mtu_tells(a, mtu_way::to_server))
      s += std::string(" to the server ") + (mtu_passed(a, mtu_way::to_server) ? "passed" : "lost") + ",";
    if (mtu_tells(a, mtu_way::to_client))
      s += std::string(" back ") + (mtu_passed(a, mtu_way::to_client) ? "passed" : "lost") + ",";
  }
  s.pop_back();
  return s;
}

/// The largest size that passed one way and the smallest above it that did
/// not (hi is full when none failed above lo; lo 0 when none passed).
struct bracket {
  std::uint32_t lo = 0, hi = 0;
};

bracket bracket_of(std::uint32_t full, const std::vector<mtu_attempt>& done, mtu_way way) {
  bracket b{0, full};
  for (const auto& a : done)
    if (mtu_tells(a, way) && mtu_passed(a, way)) b.lo = std::max(b.lo, a.size);
  for (const auto& a : done)
    if (mtu_tells(a, way) && !mtu_passed(a, way) && a.size > b.lo) b.hi = std::min(b.hi, a.size);
  return b;
}

bool failed_at(std::uint32_t size, const std::vector<mtu_attempt>& done, mtu_way way) {
  return std::any_of(
             done.begin(), done.end(),
             [&](const mtu_attempt& a) { return a.size == size && mtu_tells(a, way) && !mtu_passed(a, way); }) &&
         std::none_of(done.begin(), done.end(),
                      [&](const mtu_attempt& a) { return a.size == size && mtu_tells(a, way) && mtu_passed(a, way); });
}

}  // namespace

bool mtu_tells(const mtu_attempt& a, mtu_way way) {
  if (a.failed) return false;
  if (way == mtu_way::to_server) return a.padded && !a.limited && (a.acked_known || a.complete);
  return !a.padded || a.complete || (a.acked_known && a.acked);
}

bool mtu_passed(const mtu_attempt& a, mtu_way way) {
  if (way == mtu_way::to_server) return a.complete || (a.acked_known && a.acked);
  return a.complete;
}

std::vector<mtu_attempt> next_mtu_attempts(std::uint32_t full, bool v6, const std::vector<mtu_attempt>& done,
                                           std::size_t width, std::uint32_t precision) {
  std::vector<mtu_attempt> next;
  if (full <= minimum_size(v6)) return next;
  const auto add = [&](std::uint32_t size, bool padded) {
    const auto same = [&](const mtu_attempt& a) { return a.size == size && a.padded == padded; };
    if (std::none_of(done.begin(), done.end(), same) && std::none_of(next.begin(), next.end(), same))
      next.push_back({size, padded});
  };
  // Round one asks little of a server that may just be slow: the full size
  // and sizes every path passes. Only when those differ, the usual MTUs.
  if (done.empty()) {
    add(full, true);
    if (full > 1280) add(1280, true);
    if (!v6) add(576, true);
    return next;
  }
  const bool first_round_only = std::all_of(done.begin(), done.end(), [&](const mtu_attempt& a) {
    return a.size == full || a.size == 1280 || a.size == 576;
  });
  if (first_round_only) {
    const auto server = bracket_of(full, done, mtu_way::to_server);
    const auto client = bracket_of(full, done, mtu_way::to_client);
    const bool differ = (server.lo > 0 && server.lo < full) || (client.lo > 0 && client.lo < full);
    if (!differ) return next;  // nothing passes, or everything: not a matter of size
    for (auto mtu : common_mtus)
      if (mtu < full && mtu > 1280) add(mtu, true);
  } else {
    for (auto way : {mtu_way::to_server, mtu_way::to_client}) {
      const auto b = bracket_of(full, done, way);
      if (b.lo == 0 || b.lo >= full) continue;  // nothing passes, or all does
      // A pass is proof, a loss only a sign (a busy server, twenty
      // handshakes at once, may miss a step's deadline): the failure that
      // bounds the answer stands once it happened twice.
      if (b.hi < full) {
        const auto at_hi = [&](const mtu_attempt& a) { return a.size == b.hi && mtu_tells(a, way); };
        const auto failed = std::find_if(done.begin(), done.end(), at_hi);
        const bool queued = std::any_of(next.begin(), next.end(), [&](const mtu_attempt& a) {
          return a.size == b.hi && a.padded == failed->padded;
        });
        if (std::count_if(done.begin(), done.end(), at_hi) < 2 && !queued) next.push_back({b.hi, failed->padded});
      }
      if (b.hi - b.lo <= precision) continue;  // close enough
      const std::size_t n = width / 2;
      for (std::size_t k = 1; k <= n; ++k) {
        const auto size = static_cast<std::uint32_t>(b.lo + (std::uint64_t{b.hi - b.lo} * k) / (n + 1));
        if (size > b.lo && size < b.hi) add(size, true);
      }
    }
  }
  // The way back where our padded request was lost: asked small.
  for (const auto& a : done)
    if (a.padded && !a.failed && !mtu_tells(a, mtu_way::to_client) && next.size() < 2 * width) add(a.size, false);
  std::sort(next.begin(), next.end(), [](const auto& x, const auto& y) { return x.size > y.size; });
  return next;
}

std::optional<v1::PathMtu> judge_mtu_search(std::uint32_t full, const std::vector<mtu_attempt>& attempts) {
  const auto server = bracket_of(full, attempts, mtu_way::to_server);
  const auto client = bracket_of(full, attempts, mtu_way::to_client);
  const bool server_hole = failed_at(full, attempts, mtu_way::to_server) && server.lo > 0;
  const bool client_hole = failed_at(full, attempts, mtu_way::to_client) && client.lo > 0;
  if (!server_hole && !client_hole) return std::nullopt;
  v1::PathMtu m;
  m.set_full_size(full);
  m.set_source("search");
  m.set_to_server(server.lo);
  m.set_to_client(client.lo);
  if (server_hole) m.add_blackhole("toServer");
  if (client_hole) m.add_blackhole("toClient");
  std::vector<std::uint32_t> sizes;
  for (const auto& a : attempts)
    if (std::find(sizes.begin(), sizes.end(), a.size) == sizes.end()) sizes.push_back(a.size);
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  for (auto size : sizes) m.add_steps(step_text(size, attempts));
  return m;
}

namespace {

/// One attempt of the search: connect with the size's MSS, run the probe.
asio::awaitable<void> try_size(mtu_search_settings s, std::shared_ptr<mtu_attempt> out) {
  const auto size = out->size;
  const bool v6 = s.target.address().is_v6();
  connect_options co;
  co.timeout = s.attempt_timeout;
  co.local_address = s.local_address;
  if (size != s.full) co.mss = mss_for_packet(size, v6);
  if (s.on_start) co.on_start = [&](const v1::Attempt& a) { s.on_start(a.local_port()); };
  auto r = co_await connect_probe(s.target, co);
  if (r.attempt.outcome() != v1::Attempt::CONNECTED || !r.socket) {
    out->failed = true;
    co_return;
  }
  // Our send MSS (TCP_INFO, the options' 12 bytes of timestamps aside)
  // against the size: a server that learnt a smaller path MTU advertises less.
  if (r.tcp && r.tcp->mss > 0 && static_cast<int>(r.tcp->mss) + 12 < mss_for_packet(size, v6)) out->limited = true;
  auto as = s.app;
  as.on_stall = nullptr;
  if (!out->padded) as.request_size = 0;
  // Each step (the TLS handshake, the answer's next bytes) within the
  // attempt's time: a full-size packet lost stops one step for good, while a
  // busy server or prober (twenty TLS handshakes at once) only slows them.
  as.step_timeout = s.attempt_timeout;
  as.total_timeout = 3 * s.attempt_timeout;
  as.connected_at.reset();
  app::probe_trace trace;
  (void)co_await app::run_app_probe(std::move(*r.socket), std::move(as), &trace);
  // A black hole never closes a connection: a server that did (sshd's
  // MaxStartups, a busy server) says nothing about the size.
  out->failed = trace.closed_by_peer;
  out->complete = trace.complete;
  out->acked = trace.request_acked;
  out->acked_known = trace.acked_known;
}

/// Why a socket's MSS cannot be set here (Windows refuses TCP_MAXSEG): no
/// error where it can.
std::error_code max_segment_refused(const asio::any_io_executor& executor, bool v6) {
  asio::ip::tcp::socket socket(executor);
  std::error_code ec;
  socket.open(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ec);
  if (ec) return ec;
  return platform::set_max_segment(socket.native_handle(), mss_for_packet(1280, v6));
}

}  // namespace

asio::awaitable<std::optional<v1::PathMtu>> search_path_mtu(mtu_search_settings s) {
  const auto executor = co_await asio::this_coro::executor;
  const bool v6 = s.target.address().is_v6();
  // Where no size can be held, the stall is all the search finds: the
  // agent's packets judge it (verdict/mtu.cc), and the probe goes on to its
  // own deadline (a slow application answers within it).
  if (auto refused = max_segment_refused(executor, v6)) {
    v1::PathMtu stall;
    stall.set_source("stall");
    stall.set_full_size(s.full);
    stall.add_steps(std::to_string(s.full) +
                    ": the answer stalled; no smaller size tried: this system does not let a connection's packet "
                    "size be set (TCP_MAXSEG refused: error " +
                    std::to_string(refused.value()) + ", " + refused.message() + ")");
    co_return stall;
  }
  mtu_attempt stalled;
  stalled.size = s.full;
  stalled.padded = s.app.request_size > 0;
  stalled.acked_known = s.stalled.acked_known;
  stalled.acked = s.stalled.acked_known && !s.stalled.request_unacked;
  // Once our kernel learnt a smaller path MTU (an ICMP error came back for
  // our own packets), new connections advertise no more than it allows:
  // larger sizes cannot be tried, and the stalled probe stands for them.
  const bool learnt = s.stalled.path_mtu > 0 && s.stalled.path_mtu < s.full;
  std::vector<mtu_attempt> done;
  for (int round = 0; round < max_mtu_rounds; ++round) {
    auto next = next_mtu_attempts(s.full, v6, done);
    if (round == 0) done.push_back(stalled);
    if (learnt) std::erase_if(next, [&](const mtu_attempt& a) { return a.size > s.stalled.path_mtu; });
    if (next.empty()) break;
    // The attempts' results are shared with them: a waiter cancelled
    // mid-round (the probe's own answer came) leaves them running safely.
    for (std::size_t from = 0; from < next.size(); from += std::max<std::size_t>(s.at_once, 1)) {
      std::vector<std::shared_ptr<mtu_attempt>> results;
      task_group group(executor);
      for (std::size_t i = from; i < next.size() && i < from + std::max<std::size_t>(s.at_once, 1); ++i) {
        results.push_back(std::make_shared<mtu_attempt>(next[i]));
        group.spawn(try_size(s, results.back()));
      }
      co_await group.wait();
      for (const auto& r : results) done.push_back(*r);
    }
  }
  auto found = judge_mtu_search(s.full, done);
  if (found && learnt && (found->to_server() == 0 || found->to_server() > s.stalled.path_mtu))
    found->set_to_server(s.stalled.path_mtu);
  co_return found;
}

}  // namespace dropspot::prober
