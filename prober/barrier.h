#pragma once
// Barriers on the control channel (docs/control-protocol.md): Pings the
// agent answers only after it has sent every packet it had captured when the
// Ping arrived, so a Pong proves a SYN (or a datagram) that left a margin
// before its Ping missing when the agent has not reported it. Used by the
// run (prober/run.cc) to end attempts early; one thread, as the run.
#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>

#include "common/duration.h"
#include "common/message_port.h"
#include "common/spawn.h"
#include "dropspot.pb.h"
#include "prober/control_client.h"

namespace dropspot::prober {

/// How much later than a SYN a barrier must leave to prove it missing: the
/// Ping and the SYN cross the same path, so a small share of the round trip
/// covers jitter (at least 10 ms: the agent's loop, a busy prober).
inline double barrier_margin_ms(double rtt_ms) { return std::max(10.0, 0.1 * std::max(0.0, rtt_ms)); }

/// Pings that serve as barriers (docs/control-protocol.md): the agent
/// answers one only after sending every packet it had captured when it
/// arrived. want(t) asks for a Ping leaving at t or later; one Ping serves
/// every attempt started before it, less the margin. Its state is shared
/// with the timer's handler, which may run after the pinger is gone.
class barrier_pinger {
 public:
  /// `first_nonce`: the runs sharing a session (prober/shared_session.h) number their Pings apart.
  void start(const asio::any_io_executor& executor, std::shared_ptr<message_port> port,
             std::uint64_t first_nonce = 1000) {
    st_ = std::make_shared<state>(executor);
    st_->port = std::move(port);
    st_->next_nonce = first_nonce;
  }
  /// No more Pings: the runner is done, nothing waits for a barrier.
  void stop() {
    if (!st_) return;
    st_->stopped = true;
    st_->timer.cancel();
  }
  void want(std::uint64_t at_unix_us) {
    if (!st_ || st_->stopped || at_unix_us <= st_->wanted) return;
    st_->wanted = at_unix_us;
    if (!st_->armed) arm(st_);
  }
  /// A Pong came: true (and passed_us advanced) when it answers one of ours.
  bool answered(std::uint64_t nonce) {
    if (!st_) return false;
    auto it = st_->sent.find(nonce);
    if (it == st_->sent.end()) return false;
    passed_us = std::max(passed_us, it->second);
    st_->sent.erase(it);
    return true;
  }
  /// Another barrier came back (the summary answers the ProbesDone sent at `sent_at`).
  void passed(std::uint64_t sent_at) { passed_us = std::max(passed_us, sent_at); }
  /// When the latest answered Ping left (prober clock); 0: none yet.
  std::uint64_t passed_us = 0;

 private:
  struct state {
    explicit state(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    std::shared_ptr<message_port> port;
    std::map<std::uint64_t, std::uint64_t> sent;  ///< nonce -> when it left
    std::uint64_t next_nonce = 1000;
    std::uint64_t wanted = 0;
    bool armed = false;
    bool stopped = false;
  };

  static void arm(const std::shared_ptr<state>& st) {
    const auto now = now_unix_us();
    st->armed = true;
    st->timer.expires_after(std::chrono::microseconds(st->wanted > now ? st->wanted - now : 0));
    st->timer.async_wait([st](std::error_code ec) {
      st->armed = false;
      if (ec || st->stopped) return;
      v1::Envelope ping;
      const auto nonce = st->next_nonce++;
      ping.mutable_ping()->set_nonce(nonce);
      const auto sent_at = now_unix_us();
      st->sent[nonce] = sent_at;
      asio::co_spawn(
          st->timer.get_executor(), [port = st->port, ping]() -> asio::awaitable<void> { co_await port->send(ping); },
          on_escape("sending a barrier", report_internal_error));
      if (st->wanted > sent_at) arm(st);
    });
  }

  std::shared_ptr<state> st_;
};

}  // namespace dropspot::prober
