#include "prober/probe.h"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/unicast.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <variant>

#include "common/awaitable.h"
#include "prober/connect_socket.h"
#include "prober/icmp_watch.h"

namespace dropspot::prober {

namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

double ms_since(clock::time_point start) {
  return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

/// Runs task(0) .. task(count-1) with at most `limit` running at once and
/// returns when every one has finished; rethrows the first exception.
asio::awaitable<void> run_bounded(std::size_t count, std::size_t limit,
                                  std::function<asio::awaitable<void>(std::size_t)> task) {
  auto executor = co_await asio::this_coro::executor;
  std::size_t next = 0;
  std::size_t running = 0;
  std::exception_ptr failure;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  const std::size_t workers = std::min(std::max<std::size_t>(limit, 1), count);
  for (std::size_t w = 0; w < workers; ++w) {
    ++running;
    asio::co_spawn(
        executor,
        [&]() -> asio::awaitable<void> {
          while (next < count && !failure) co_await task(next++);
        },
        [&](std::exception_ptr e) {
          if (e && !failure) failure = e;
          if (--running == 0) all_done.cancel();
        });
  }
  // The workers use this frame's locals: never leave before they are done.
  while (running > 0) co_await all_done.async_wait(as_tuple_awaitable);
  if (failure) std::rethrow_exception(failure);
}

/// Binds a probe's socket to the source address options name (else the one
/// the routing table picks for the target) and a port the kernel picks.
template <class Socket>
std::error_code bind_source(Socket& socket, const typename Socket::endpoint_type& target,
                            std::optional<asio::ip::address> local) {
  using endpoint = typename Socket::endpoint_type;
  std::error_code ec;
  if (!local) local = route_source_address(socket.get_executor(), target.address());
  if (local) {
    socket.bind(endpoint(*local, 0), ec);
    if (!ec) return ec;
    ec.clear();  // the address may have gone away: let the kernel pick the whole source
  }
  socket.bind(endpoint(target.protocol(), 0), ec);
  return ec;
}

/// A socket's handle as prober/platform.h takes it (Asio on Windows wraps
/// the SOCKET in a type of its own per protocol).
template <class Socket>
platform::native_socket handle_of(Socket& socket) {
  return platform::native_socket(static_cast<asio::detail::socket_type>(socket.native_handle()));
}

/// Opens a probe's socket, asks for ICMP errors on it, sets the TTL and binds
/// it (see bind_source), so that the source is known (set in `a`) even if
/// nothing ever answers. The error, in one line, when a step fails.
template <class Socket>
std::optional<std::string> set_up_probe_socket(Socket& socket, const typename Socket::endpoint_type& target,
                                               const connect_options& options, v1::Attempt& a) {
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (ec) return "cannot open a socket: " + ec.message();
  // Without it there are no ICMP details, but the probe still works.
  (void)platform::prepare_probe_socket(handle_of(socket), target.address().is_v6());
  if (options.ttl > 0) {
    socket.set_option(asio::ip::unicast::hops(options.ttl), ec);
    if (ec) return "cannot set the TTL: " + ec.message();
  }
  ec = bind_source(socket, target, options.local_address);
  if (ec) return "cannot bind a source port: " + ec.message();
  if (auto bound = socket.local_endpoint(ec); !ec) {
    a.set_local_address(bound.address().to_string());
    a.set_local_port(bound.port());
  }
  return std::nullopt;
}

/// What ended a connect's wait, when it was not the connect itself.
enum class wait_end { connect, deadline, canceller, icmp };

/// Shared by a connect's wait and the plain handlers that may end it (the
/// deadline's, the canceller's, the ICMP watch's): the first to come cancels
/// the connect and says why; once the wait is over (`done`) they do nothing,
/// and never touch the socket again. One operation and two handlers per
/// attempt: the awaitable operators (connect || deadline || canceller) built
/// two parallel groups and a coroutine per operand for every attempt, and a
/// 3000-port sweep spent a tenth of its CPU allocating them.
struct wait_state {
  bool done = false;
  wait_end by = wait_end::connect;
};

/// How long a connect that failed waits for the watch's ICMP error: the OS
/// may report the failure before the raw socket is read (Wine does).
constexpr millis icmp_grace{50};

/// A watched ICMP error as read_icmp_error gives it (no errno: Windows maps none).
platform::icmp_info icmp_info_of(const icmp_error& e) {
  platform::icmp_info info;
  info.from = e.from.to_string();
  info.type = e.type;
  info.code = e.code;
  return info;
}

/// Attempt.error for an attempt a watched ICMP error ended (Linux gives the
/// errno's words; here the ICMP's own).
std::string icmp_words(const platform::icmp_info& icmp, bool v6) {
  const bool exceeded = icmp.type == (v6 ? 3u : 11u);
  return std::string(exceeded ? "time exceeded" : "destination unreachable") + " (ICMP" + (v6 ? "v6" : "") + " type " +
         std::to_string(icmp.type) + " code " + std::to_string(icmp.code) + ") from " + icmp.from;
}

/// The watch's ICMP error for a connect that failed with ec; waits up to
/// icmp_grace for it unless a reset (not an ICMP error) ended the connect.
/// `heard_timer` is the one the registration's handler cancels.
asio::awaitable<std::optional<platform::icmp_info>> watched_icmp(const icmp_watch::registration& registration,
                                                                 asio::steady_timer& heard_timer,
                                                                 const std::error_code& ec) {
  if (!registration.heard() && ec != asio::error::connection_refused && ec != asio::error::connection_reset) {
    asio::steady_timer grace(heard_timer.get_executor(), icmp_grace);
    auto heard_or_grace = heard_timer.async_wait(as_tuple_awaitable) || grace.async_wait(as_tuple_awaitable);
    co_await std::move(heard_or_grace);
  }
  std::optional<platform::icmp_info> info;
  if (auto heard = registration.heard()) info = icmp_info_of(*heard);
  co_return info;
}

}  // namespace

// ---------------------------------------------------------------- attempt_canceller

attempt_canceller::attempt_canceller(const asio::any_io_executor& executor)
    : timer_(executor, asio::steady_timer::time_point::max()) {}

void attempt_canceller::cancel(std::string note) {
  if (cancelled_) return;
  cancelled_ = true;
  note_ = std::move(note);
  timer_.cancel();
}

asio::awaitable<std::tuple<std::error_code>> attempt_canceller::wait() {
  if (cancelled_) co_return std::tuple<std::error_code>{asio::error::operation_aborted};
  co_return co_await timer_.async_wait(as_tuple_awaitable);
}

// ---------------------------------------------------------------- connect_probe

v1::Attempt::Outcome classify_connect(const std::error_code& ec, bool icmp_received) {
  if (!ec) return v1::Attempt::CONNECTED;
  if (icmp_received) return v1::Attempt::UNREACHABLE;
  if (ec == asio::error::connection_refused) return v1::Attempt::REFUSED;
  if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable || ec == asio::error::network_down)
    return v1::Attempt::UNREACHABLE;
  if (ec == asio::error::timed_out) return v1::Attempt::TIMED_OUT;
  return v1::Attempt::FAILED;
}

bool needs_retry(const v1::Attempt& a, bool cancelled) {
  if (cancelled) return false;
  return a.outcome() == v1::Attempt::TIMED_OUT || a.outcome() == v1::Attempt::FAILED;
}

std::optional<asio::ip::address> route_source_address(const asio::any_io_executor& executor,
                                                      const asio::ip::address& target) {
  asio::ip::udp::socket socket(executor);
  std::error_code ec;
  socket.open(target.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
  if (ec) return std::nullopt;
  socket.connect(asio::ip::udp::endpoint(target, 9), ec);  // no packet leaves
  if (ec) return std::nullopt;
  auto local = socket.local_endpoint(ec);
  if (ec || local.address().is_unspecified()) return std::nullopt;
  return local.address();
}

asio::awaitable<connect_result> connect_probe(tcp::endpoint target, connect_options options,
                                              attempt_canceller* canceller) {
  auto executor = co_await asio::this_coro::executor;
  connect_result r;
  v1::Attempt& a = r.attempt;
  a.set_start_unix_us(now_unix_us());
  const auto t0 = clock::now();
  const bool v6 = target.address().is_v6();
  auto fail = [&](v1::Attempt::Outcome outcome, const std::string& error) {
    a.set_outcome(outcome);
    a.set_error(error);
    a.set_elapsed_ms(ms_since(t0));
  };

  connect_socket socket(executor);
  if (auto error = socket.open(target, options.ttl, options.mss, options.local_address, options.routed_source)) {
    fail(v1::Attempt::FAILED, *error);
    co_return r;
  }

  attempt_canceller own_canceller(executor);
  attempt_canceller& stop = canceller ? *canceller : own_canceller;
  if (stop.cancelled()) {
    fail(v1::Attempt::TIMED_OUT, stop.note());
    r.cancelled = true;
    co_return r;
  }

  // Where the platform sends the SYN here (Linux), on_start follows it at
  // once: nothing the agent says about the SYN is read before it runs.
  socket.start(target, a);
  if (options.on_start) options.on_start(a);
  // Where the OS hands TCP sockets no ICMP errors (Windows), the watch's raw
  // socket does: an error quoting this SYN ends the wait (the handler is
  // unregistered before the timer it cancels goes).
  auto wait = std::make_shared<wait_state>();
  const auto end_wait = [wait, &socket](wait_end why) {
    if (wait->done || wait->by != wait_end::connect) return;
    wait->by = why;
    socket.cancel();
  };
  asio::steady_timer icmp_heard(executor, asio::steady_timer::time_point::max());
  icmp_watch::registration watched;
  const bool watching = options.icmp && options.icmp->is_open() && a.local_port() != 0;
  if (watching)
    watched = options.icmp->watch(static_cast<std::uint16_t>(a.local_port()), target,
                                  [&icmp_heard, end_wait](const icmp_error&) {
                                    icmp_heard.cancel();
                                    end_wait(wait_end::icmp);
                                  });
  asio::steady_timer deadline(executor, options.timeout);
  deadline.async_wait([end_wait](std::error_code e) {
    if (!e) end_wait(wait_end::deadline);
  });
  // Completes on cancel(), or aborted when the canceller goes: by then this
  // wait is over (the canceller outlives the attempt), so `done` stops it.
  stop.on_cancel([end_wait](std::error_code) { end_wait(wait_end::canceller); });
  auto finishing = socket.finish(target);
  const std::error_code connect_ec = co_await std::move(finishing);
  wait->done = true;
  deadline.cancel();
  // What ended the wait: 0 the connect (with connect_ec), 1 the deadline, 2
  // the canceller, 3 a watched ICMP error. A connect that completed before a
  // cancel could reach it keeps its own result.
  const std::size_t first = connect_ec != asio::error::operation_aborted ? 0 : static_cast<std::size_t>(wait->by);
  a.set_elapsed_ms(ms_since(t0));
  // A deadline or an end decided from the agent's evidence may come in the
  // same turn of a busy loop as the completion the kernel already has: the
  // kernel's answer wins (an answered SYN is never "no answer").
  const auto finished = first == 0 ? std::nullopt : platform::finished_connect(socket.native_handle());
  if (first == 1 && !finished) {
    a.set_outcome(v1::Attempt::TIMED_OUT);
    a.set_error("no answer within " + format_duration(options.timeout));
    co_return r;
  }
  if (first == 2 && !finished) {
    a.set_outcome(v1::Attempt::TIMED_OUT);
    a.set_error(stop.note());
    r.cancelled = true;
    co_return r;
  }
  socket.final_source(a);
  std::optional<platform::icmp_info> icmp;
  if (first == 3 && !finished) {
    // The OS still waits for an answer to its SYN (Windows retries it): the
    // ICMP error is the answer, as Linux would have ended the connect with it.
    icmp = icmp_info_of(*watched.heard());
    a.set_outcome(v1::Attempt::UNREACHABLE);
    a.set_error(icmp_words(*icmp, v6));
    a.set_icmp_from(icmp->from);
    a.set_icmp_type(icmp->type);
    a.set_icmp_code(icmp->code);
    co_return r;
  }
  const std::error_code ec = finished ? std::error_code(*finished, asio::error::get_system_category()) : connect_ec;
  if (ec) icmp = platform::read_icmp_error(socket.native_handle(), v6);
  if (ec && !icmp && watching) {
    auto from_watch = watched_icmp(watched, icmp_heard, ec);
    icmp = co_await std::move(from_watch);
  }
  a.set_outcome(classify_connect(ec, icmp.has_value()));
  if (ec) a.set_error(ec.message());
  if (icmp) {
    a.set_icmp_from(icmp->from);
    a.set_icmp_type(icmp->type);
    a.set_icmp_code(icmp->code);
  }
  if (a.outcome() == v1::Attempt::CONNECTED) {
    r.tcp = platform::read_tcp_facts(socket.native_handle());
    if (options.keep_socket) {
      (void)platform::finish_probe_socket(socket.native_handle(), v6);
      r.socket.emplace(socket.release());
    }
  }
  co_return r;
}

// ---------------------------------------------------------------- udp_probe

asio::awaitable<connect_result> udp_probe(asio::ip::udp::endpoint target, std::string payload, connect_options options,
                                          attempt_canceller* canceller) {
  auto executor = co_await asio::this_coro::executor;
  connect_result r;
  v1::Attempt& a = r.attempt;
  a.set_start_unix_us(now_unix_us());
  const auto t0 = clock::now();
  const bool v6 = target.address().is_v6();
  auto fail = [&](v1::Attempt::Outcome outcome, const std::string& error) {
    a.set_outcome(outcome);
    a.set_error(error);
    a.set_elapsed_ms(ms_since(t0));
  };
  asio::ip::udp::socket socket(executor);
  if (auto error = set_up_probe_socket(socket, target, options, a)) {
    fail(v1::Attempt::FAILED, *error);
    co_return r;
  }
  std::error_code ec;
  socket.connect(target, ec);  // no packet leaves; replies from elsewhere are not ours
  if (ec) {
    fail(v1::Attempt::FAILED, "cannot connect the UDP socket: " + ec.message());
    co_return r;
  }
  attempt_canceller own_canceller(executor);
  attempt_canceller& stop = canceller ? *canceller : own_canceller;
  if (stop.cancelled()) {
    fail(v1::Attempt::TIMED_OUT, stop.note());
    r.cancelled = true;
    co_return r;
  }
  if (options.on_start) options.on_start(a);
  socket.send(asio::buffer(payload), 0, ec);
  if (ec) {
    fail(v1::Attempt::FAILED, "cannot send: " + ec.message());
    co_return r;
  }
  r.sent = std::move(payload);
  std::string buffer(65536, '\0');
  asio::steady_timer deadline(executor, options.timeout);
  auto outcome = co_await (socket.async_receive(asio::buffer(buffer), as_tuple_awaitable) ||
                           deadline.async_wait(as_tuple_awaitable) || stop.wait());
  a.set_elapsed_ms(ms_since(t0));
  if (outcome.index() != 0) {
    a.set_outcome(v1::Attempt::TIMED_OUT);
    a.set_error(outcome.index() == 1 ? "no reply within " + format_duration(options.timeout) : stop.note());
    r.cancelled = outcome.index() == 2;
    co_return r;
  }
  auto [rec, n] = std::get<0>(outcome);
  if (!rec) {
    a.set_outcome(v1::Attempt::CONNECTED);
    buffer.resize(n);
    r.reply = std::move(buffer);
    co_return r;
  }
  // Port-unreachable reads as ECONNREFUSED (Windows: WSAECONNRESET); with
  // IP_RECVERR every ICMP error lands on the socket with its sender.
  const auto icmp = platform::read_icmp_error(handle_of(socket), v6);
  const bool answered = icmp || rec == asio::error::connection_refused || rec == asio::error::connection_reset ||
                        rec == asio::error::host_unreachable || rec == asio::error::network_unreachable;
  a.set_outcome(answered ? v1::Attempt::UNREACHABLE : v1::Attempt::FAILED);
  a.set_error(rec == asio::error::connection_reset ? "port unreachable" : rec.message());
  if (icmp) {
    a.set_icmp_from(icmp->from);
    a.set_icmp_type(icmp->type);
    a.set_icmp_code(icmp->code);
  }
  co_return r;
}

// ---------------------------------------------------------------- probe_runner

std::size_t classic_retries(const std::vector<v1::Attempt>& so_far, int retries) {
  if (so_far.empty()) return 1;
  const bool again =
      needs_retry(so_far.back(), false) && so_far.size() < static_cast<std::size_t>(std::max(retries, 0)) + 1;
  return again ? 1 : 0;
}

probe_runner::probe_runner(asio::any_io_executor executor, asio::ip::address target, runner_settings settings)
    : executor_(std::move(executor)), target_(std::move(target)), settings_(settings) {}

void probe_runner::decide(port_key port, std::string note) {
  auto& st = ports_[port];
  if (st.decided) return;
  st.decided = true;
  st.note = note;
  for (auto& [local_port, stop] : st.running) stop->cancel(note);
}

bool probe_runner::decided(port_key port) const {
  auto it = ports_.find(port);
  return it != ports_.end() && it->second.decided;
}

void probe_runner::end_attempt(port_key port, std::uint32_t local_port, std::string note) {
  auto it = ports_.find(port);
  if (it == ports_.end() || local_port == 0) return;
  for (auto& [lp, stop] : it->second.running)
    if (lp == local_port) stop->cancel(note);
}

asio::awaitable<void> probe_runner::probe_port(port_probe& p, const attempt_handler& on_attempt) {
  const auto port = p.port;
  std::size_t batch = ports_[port].decided ? 0 : 1;
  if (batch == 0) p.decided = true;
  while (batch > 0) {
    // The batch's attempts side by side; results in the order they end.
    std::vector<std::unique_ptr<attempt_canceller>> stops;
    for (std::size_t i = 0; i < batch; ++i) stops.push_back(std::make_unique<attempt_canceller>(executor_));
    std::size_t left = batch;
    const auto one = [&](std::size_t i) -> asio::awaitable<void> {
      attempt_canceller* stop = stops[i].get();
      auto& st = ports_[port];
      if (st.decided) {  // decided while the batch started: nothing is sent
        if (--left == 0) batch = 0;
        p.decided = true;
        co_return;
      }
      st.running.emplace_back(0, stop);
      connect_options o;
      o.timeout = settings_.timeout;
      o.keep_socket = settings_.keep_sockets;
      o.local_address = local_address_;
      o.routed_source = true;
      o.icmp = settings_.icmp;
      o.on_start = [this, port, stop](const v1::Attempt& started) {
        for (auto& [lp, s] : ports_[port].running)
          if (s == stop) lp = started.local_port();
        if (on_start_) on_start_(port, started);
      };
      connect_result r;  // (no co_await inside ?: — GCC 12 miscompiles it)
      if (key_udp(port)) {
        o.timeout = settings_.udp_timeout;
        std::string payload = settings_.udp_payload ? settings_.udp_payload(port) : std::string();
        r = co_await udp_probe(asio::ip::udp::endpoint(target_, key_port(port)), std::move(payload), std::move(o),
                               stop);
      } else {
        r = co_await connect_probe(tcp::endpoint(target_, key_port(port)), std::move(o), stop);
      }
      auto& running = ports_[port].running;
      std::erase_if(running, [stop](const auto& e) { return e.second == stop; });
      // An answer ends the siblings: the port's fate is known.
      const auto outcome = r.attempt.outcome();
      if (outcome == v1::Attempt::CONNECTED || outcome == v1::Attempt::REFUSED || outcome == v1::Attempt::UNREACHABLE)
        for (auto& [lp, s] : running) s->cancel("another attempt got an answer");
      p.attempts.push_back(r.attempt);
      const bool last_of_batch = --left == 0;
      std::size_t next = 0;
      if (last_of_batch && !ports_[port].decided)
        next = policy_ ? policy_(port, p.attempts) : classic_retries(p.attempts, settings_.retries);
      if (ports_[port].decided) p.decided = true;
      if (last_of_batch) batch = next;
      if (on_attempt) on_attempt(port, r, last_of_batch && next == 0);
      if (last_of_batch && ports_[port].decided) batch = 0;
    };
    if (batch == 1) {
      co_await one(0);
    } else {
      co_await run_bounded(batch, batch, one);
    }
  }
}

asio::awaitable<std::vector<port_probe>> probe_runner::run(std::vector<port_key> ports, attempt_handler on_attempt) {
  std::vector<port_probe> results(ports.size());
  for (std::size_t i = 0; i < ports.size(); ++i) results[i].port = ports[i];
  local_address_ = route_source_address(executor_, target_);
  co_await run_bounded(results.size(), settings_.concurrency,
                       [&](std::size_t k) -> asio::awaitable<void> { co_await probe_port(results[k], on_attempt); });
  co_return results;
}

// ---------------------------------------------------------------- hop search

bool is_time_exceeded(const v1::Attempt& a, bool v6) {
  return a.outcome() == v1::Attempt::UNREACHABLE && !a.icmp_from().empty() && a.icmp_type() == (v6 ? 3u : 11u);
}

namespace {

/// The target or a router ended the SYN's journey: higher TTLs tell no more.
bool is_final_answer(const v1::Attempt& a, bool v6) {
  return a.outcome() == v1::Attempt::CONNECTED || a.outcome() == v1::Attempt::REFUSED ||
         (a.outcome() == v1::Attempt::UNREACHABLE && !a.icmp_from().empty() && !is_time_exceeded(a, v6));
}

std::string hop_list(const std::vector<int>& hops) {
  std::string out;
  for (std::size_t i = 0; i < hops.size(); ++i) {
    if (i > 0) out += i + 1 == hops.size() ? " and " : ", ";
    out += std::to_string(hops[i]);
  }
  return out;
}

std::string outcome_words(const v1::Attempt& a) {
  switch (a.outcome()) {
    case v1::Attempt::CONNECTED: return "completed the handshake";
    case v1::Attempt::REFUSED: return "answered with a TCP reset";
    case v1::Attempt::UNREACHABLE:
      return "answered with ICMP type " + std::to_string(a.icmp_type()) + " code " + std::to_string(a.icmp_code());
    default: return "answered";
  }
}

}  // namespace

v1::HopLocation locate_last_hop(const std::vector<v1::Attempt>& by_ttl, const asio::ip::address& target) {
  const bool v6 = target.is_v6();
  const std::string target_text = target.to_string();
  v1::HopLocation hop;

  // The first final answer: the target's (a handshake, a reset, an ICMP error
  // of its own) or a router's rejection. Higher TTLs cannot tell more.
  std::size_t final_ttl = 0;
  for (std::size_t i = 0; i < by_ttl.size() && !final_ttl; ++i)
    if (is_final_answer(by_ttl[i], v6)) final_ttl = i + 1;
  const v1::Attempt* final_answer = final_ttl ? &by_ttl[final_ttl - 1] : nullptr;
  const bool from_target =
      final_answer && (final_answer->outcome() != v1::Attempt::UNREACHABLE || final_answer->icmp_from() == target_text);
  const std::size_t below = final_ttl ? final_ttl - 1 : by_ttl.size();

  // The highest router below it that sent time-exceeded.
  for (std::size_t i = 0; i < below; ++i) {
    if (is_time_exceeded(by_ttl[i], v6)) {
      hop.set_last_hop(static_cast<std::uint32_t>(i + 1));
      hop.set_last_hop_address(by_ttl[i].icmp_from());
    }
  }
  // Routers that stayed silent on the way (beyond the last hop, when the SYN
  // died in transit, silence is the drop itself).
  std::vector<int> silent;
  for (std::size_t i = 0; i < (final_ttl ? below : hop.last_hop()); ++i)
    if (by_ttl[i].outcome() == v1::Attempt::TIMED_OUT) silent.push_back(static_cast<int>(i + 1));

  const std::string last =
      hop.last_hop() ? "hop " + std::to_string(hop.last_hop()) + " (" + hop.last_hop_address() + ")" : std::string();
  std::string note;
  if (from_target) {
    hop.set_path_length(static_cast<std::uint32_t>(final_ttl));
    hop.set_target_connected(final_answer->outcome() == v1::Attempt::CONNECTED);
    note = "the target " + outcome_words(*final_answer) + " at hop " + std::to_string(final_ttl);
    if (hop.last_hop()) note += "; the last router before it is " + last;
  } else if (final_answer) {
    note = "a router rejected the SYN: " + final_answer->icmp_from() + " " + outcome_words(*final_answer) + " at TTL " +
           std::to_string(final_ttl);
    if (hop.last_hop()) note += ", after " + last;
  } else if (hop.last_hop()) {
    note = "the SYN is dropped after " + last + ": nothing answered from TTL " + std::to_string(hop.last_hop() + 1) +
           " to " + std::to_string(by_ttl.size()) + " (a filter in that router or in the next hop)";
  } else if (!by_ttl.empty() && by_ttl[0].outcome() == v1::Attempt::FAILED) {
    note = "the TTL-limited connects failed locally: " + by_ttl[0].error();
  } else {
    note = "no router answered with ICMP time-exceeded and the target did not answer up to TTL " +
           std::to_string(by_ttl.size()) +
           ": the first router drops the SYN or sends no ICMP, or ICMP is filtered on the way back";
  }
  if (!silent.empty())
    note += std::string(silent.size() == 1 ? "; hop " : "; hops ") + hop_list(silent) + " sent no time-exceeded";
  hop.set_note(note);
  return hop;
}

asio::awaitable<hop_trace> find_last_hop(asio::ip::address address, std::uint16_t port, hop_settings settings) {
  hop_trace trace;
  const bool watched = settings.icmp && settings.icmp->is_open();
  if (!platform::hop_search_available() && !watched) {
    trace.location.set_note(std::string("hop search not available: ") + platform::platform_note());
    co_return trace;
  }
  auto executor = co_await asio::this_coro::executor;
  const int max_hops = std::clamp(settings.max_hops, 1, 255);
  const bool v6 = address.is_v6();
  trace.by_ttl.resize(static_cast<std::size_t>(max_hops));

  connect_options options;
  options.timeout = settings.timeout;
  options.keep_socket = false;
  options.icmp = settings.icmp;
  options.local_address = settings.local_address ? settings.local_address : route_source_address(executor, address);
  options.routed_source = true;  // the run's (run.cc) or the lookup's: both routed

  // The first TTL that got a final answer (the target's, or a router's
  // rejection): nothing above it can tell more, so those attempts stop.
  // Each TTL gets 1 + retries SYNs side by side (fresh source ports), not a
  // second round after a timeout: a lost SYN or ICMP error costs no extra
  // wait, so the search takes one timeout whatever the path loses.
  int final_ttl = max_hops + 1;
  const int copies = 1 + std::max(settings.retries, 0);
  std::vector<int> ttls;
  for (int ttl = 1; ttl <= max_hops; ++ttl)
    for (int c = 0; c < copies; ++c) ttls.push_back(ttl);
  std::vector<std::unique_ptr<attempt_canceller>> cancellers;
  for (std::size_t k = 0; k < ttls.size(); ++k) cancellers.push_back(std::make_unique<attempt_canceller>(executor));
  co_await run_bounded(ttls.size(), ttls.size(), [&](std::size_t k) -> asio::awaitable<void> {
    // Spaced out by TTL, so that once an answer is final the higher TTLs not
    // yet sent are not sent at all (no burst of SYNs and ICMP errors).
    if (ttls[k] > 1 && settings.spacing.count() > 0) {
      asio::steady_timer pause(executor, settings.spacing * (ttls[k] - 1));
      co_await (pause.async_wait(as_tuple_awaitable) || cancellers[k]->wait());
    }
    connect_options o = options;
    o.ttl = ttls[k];
    if (settings.on_start) o.on_start = [&settings](const v1::Attempt& a) { settings.on_start(a.local_port()); };
    auto r = co_await connect_probe(tcp::endpoint(address, port), o, cancellers[k].get());
    const auto& a = r.attempt;
    // An answer beats silence among a TTL's copies.
    auto& slot = trace.by_ttl[static_cast<std::size_t>(ttls[k] - 1)];
    if (slot.outcome() == v1::Attempt::OUTCOME_UNSPECIFIED ||
        (slot.outcome() == v1::Attempt::TIMED_OUT && a.outcome() != v1::Attempt::TIMED_OUT))
      slot = a;
    if (is_final_answer(a, v6) && ttls[k] < final_ttl) {
      final_ttl = ttls[k];
      for (std::size_t j = 0; j < ttls.size(); ++j)
        if (ttls[j] > final_ttl) cancellers[j]->cancel("a lower TTL already got the final answer");
    }
  });
  // Above the final answer nothing was learned (those TTLs were cancelled).
  if (final_ttl <= max_hops) trace.by_ttl.resize(static_cast<std::size_t>(final_ttl));
  trace.location = locate_last_hop(trace.by_ttl, address);
  co_return trace;
}

}  // namespace dropspot::prober
