#pragma once
// The path-MTU search. A path-MTU black hole (a tunnel or PPPoE link with a
// smaller MTU, and a filter that eats the ICMP 'fragmentation needed' /
// 'packet too big' it sends) passes handshakes, banners and status lines and
// swallows every full-size packet. When an application probe's answer stalls
// (the stall watch, prober/app/link.h), the same probe runs again over fresh
// connections whose MSS (TCP_MAXSEG, set before the SYN) holds every packet,
// both ways, to a chosen size: the first round tries the full size and a
// size every path passes (1280, and 576 for IPv4); when only the small one
// completes, rounds of sizes in between, all at once, narrow the largest
// size that passes to within a few bytes (the usual tunnel MTUs first, as
// they are the likely answers). Each direction is judged on its own: the
// way to the server passed at a size when all we sent was acknowledged (our
// HTTP request is padded to fill a packet), the way back when the answer
// came whole. A probe that stalls at every size is not a black hole (a slow
// application): the search says nothing and the probe goes on to its
// deadline.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/duration.h"
#include "dropspot.pb.h"
#include "prober/app/probes.h"

namespace dropspot::prober {

/// One connection of the search: the packet size it allowed and how it went.
/// Padded attempts fill packets of the size with our request: the way to
/// the server passes when all of it is acknowledged, and the way back is
/// seen once it was. Unpadded ones (asked for the sizes whose padded request
/// was lost) see the way back alone.
struct mtu_attempt {
  std::uint32_t size = 0;  ///< IP packet size: MSS plus 40 (IPv4) or 60 (IPv6)
  bool padded = false;     ///< our request filled packets of the size
  bool complete = false;   ///< the answer came whole
  bool acked = false;      ///< all we sent was acknowledged
  bool acked_known = false;
  bool failed = false;  ///< the connection itself failed (no handshake): no evidence either way
  /// The server's MSS held our packets below the size (its kernel learnt a
  /// smaller path MTU from an ICMP error about its own packets): no
  /// evidence about the way to the server at this size.
  bool limited = false;
};

enum class mtu_way { to_server, to_client };

/// Pure: whether the attempt tells about the way (see mtu_attempt), and
/// whether the way passed.
bool mtu_tells(const mtu_attempt& a, mtu_way way);
bool mtu_passed(const mtu_attempt& a, mtu_way way);

/// Rounds of the search at most: three find the size; the rest confirm a
/// boundary whose one failure turned out a pass (a slow step, not a loss).
constexpr int max_mtu_rounds = 6;

/// Pure: the next round's attempts, given those so far; empty to stop.
/// Round one, padded: the full size, 1280 and (IPv4) 576: a slow server gets
/// two or three more requests, no more. When a way passed below the full
/// size and not at it, round two: the common link MTUs in between. Then, for
/// each way whose largest passing size and the smallest failing one above it
/// lie more than `precision` apart, up to width/2 padded sizes evenly
/// between; and the smallest failing size again when it failed once only (a
/// loss bounds the answer when it repeats). From round two on, unpadded
/// attempts at the sizes whose padded request was lost, so that the way back
/// is seen there.
std::vector<mtu_attempt> next_mtu_attempts(std::uint32_t full, bool v6, const std::vector<mtu_attempt>& done,
                                           std::size_t width = 8, std::uint32_t precision = 20);

/// Pure: the black hole the attempts show, if they show one: a way failed
/// at the full size and passed at a smaller one. to_server / to_client: the
/// largest size that passed each way; blackhole: the ways that failed at
/// the full size; steps in words.
std::optional<v1::PathMtu> judge_mtu_search(std::uint32_t full, const std::vector<mtu_attempt>& attempts);

/// The MSS that holds a connection's packets to size bytes.
constexpr int mss_for_packet(std::uint32_t size, bool v6) { return static_cast<int>(size) - (v6 ? 60 : 40); }

struct mtu_search_settings {
  asio::ip::tcp::endpoint target;
  std::optional<asio::ip::address> local_address;
  app::app_settings app;     ///< the probe to repeat (its on_stall unset)
  std::uint32_t full = 0;    ///< the full packet size (our SYN's MSS plus headers)
  millis attempt_timeout{};  ///< one attempt's connect, and each of its steps (three of them at most in all)
  std::size_t at_once = 32;  ///< connections at a time (a round's beyond it wait for the first)
  /// The probe whose answer stalled: the first attempt at the full size. It
  /// is tried again unless our kernel has since learnt a smaller path MTU
  /// (an ICMP error came back for our own packets): then new connections
  /// advertise a smaller MSS and cannot show the full size any more.
  app::stall_report stalled;
  /// Called with each attempt's source port before its SYN leaves: the
  /// agent's packets of these connections are not the probes' evidence.
  std::function<void(std::uint32_t)> on_start;
};

/// Runs the search (rounds of next_mtu_sizes, each round's attempts at once,
/// both variants of each size, after the stalled probe: a padded attempt at
/// the full size) and judges it; nullopt when it shows no black
/// hole. The way to the server passes no more than our kernel's path MTU.
/// Where a connection's MSS cannot be set (Windows), no size is tried: the
/// finding is the stall alone (source "stall", no blackhole), for the
/// agent's packets to judge.
asio::awaitable<std::optional<v1::PathMtu>> search_path_mtu(mtu_search_settings settings);

}  // namespace dropspot::prober
