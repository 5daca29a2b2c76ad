// Connect probes on loopback (no lab needed) and the pure parts of the hop
// search. A port that never answers is made without a firewall: a listener
// with a backlog of 0 whose one queue slot is taken drops every further SYN.
// Drops, ICMP errors and real hops are covered in tests/e2e/probe_lab_test.sh.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#ifdef __linux__
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "prober/platform.h"
#include "prober/probe.h"

using namespace dropspot;
using namespace dropspot::prober;
using namespace std::chrono_literals;
using asio::ip::tcp;

namespace {

const auto loopback = asio::ip::make_address("127.0.0.1");

/// Runs one coroutine to completion on io and returns its value.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> work) {
  std::optional<T> out;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) out.emplace(std::move(value));
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

/// A port nothing listens on (bound, never listening, so nobody else takes it).
struct closed_port {
  tcp::socket holder;
  explicit closed_port(asio::io_context& io, asio::ip::address address = loopback) : holder(io) {
    holder.open(address.is_v6() ? tcp::v6() : tcp::v4());
    holder.bind(tcp::endpoint(address, 0));
  }
  std::uint16_t port() const { return holder.local_endpoint().port(); }
};

/// A listener whose accept queue is full: the kernel drops further SYNs.
struct silent_port {
  tcp::acceptor acceptor;
  tcp::socket filler;
  explicit silent_port(asio::io_context& io) : acceptor(io), filler(io) {
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(loopback, 0));
    acceptor.listen(0);
    filler.connect(acceptor.local_endpoint());
  }
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
};

v1::Attempt attempt(v1::Attempt::Outcome outcome, std::string icmp_from = "", std::uint32_t type = 0,
                    std::uint32_t code = 0) {
  v1::Attempt a;
  a.set_outcome(outcome);
  a.set_icmp_from(icmp_from);
  a.set_icmp_type(type);
  a.set_icmp_code(code);
  return a;
}

v1::Attempt time_exceeded(const std::string& from, bool v6 = false) {
  return attempt(v1::Attempt::UNREACHABLE, from, v6 ? 3 : 11);
}

v1::Attempt silence() { return attempt(v1::Attempt::TIMED_OUT); }

std::vector<v1::Attempt> with_silence(std::vector<v1::Attempt> answered, std::size_t total) {
  while (answered.size() < total) answered.push_back(silence());
  return answered;
}

}  // namespace

// ---------------------------------------------------------------- pure parts

TEST_CASE("connect errors are classified by the OS error and by whether an ICMP error came") {
  CHECK(classify_connect({}, false) == v1::Attempt::CONNECTED);
  CHECK(classify_connect(asio::error::connection_refused, false) == v1::Attempt::REFUSED);
  // Port-unreachable reads as ECONNREFUSED: the ICMP makes it UNREACHABLE.
  CHECK(classify_connect(asio::error::connection_refused, true) == v1::Attempt::UNREACHABLE);
  CHECK(classify_connect(asio::error::host_unreachable, true) == v1::Attempt::UNREACHABLE);
  CHECK(classify_connect(asio::error::host_unreachable, false) == v1::Attempt::UNREACHABLE);
  CHECK(classify_connect(asio::error::network_unreachable, false) == v1::Attempt::UNREACHABLE);
  // Admin-prohibited over IPv6 reads as EACCES; without an ICMP it is a local refusal.
  CHECK(classify_connect(asio::error::access_denied, true) == v1::Attempt::UNREACHABLE);
  CHECK(classify_connect(asio::error::access_denied, false) == v1::Attempt::FAILED);
  CHECK(classify_connect(std::make_error_code(std::errc::operation_not_permitted), false) == v1::Attempt::FAILED);
  CHECK(classify_connect(asio::error::timed_out, false) == v1::Attempt::TIMED_OUT);
  CHECK(classify_connect(asio::error::address_in_use, false) == v1::Attempt::FAILED);
}

TEST_CASE("only ports without an answer are tried again") {
  CHECK(needs_retry(attempt(v1::Attempt::TIMED_OUT), false));
  CHECK(needs_retry(attempt(v1::Attempt::FAILED), false));
  CHECK_FALSE(needs_retry(attempt(v1::Attempt::TIMED_OUT), true));  // cancelled: decided
  CHECK_FALSE(needs_retry(attempt(v1::Attempt::CONNECTED), false));
  CHECK_FALSE(needs_retry(attempt(v1::Attempt::REFUSED), false));
  CHECK_FALSE(needs_retry(attempt(v1::Attempt::UNREACHABLE, "192.0.2.2", 3, 13), false));
}

TEST_CASE("time-exceeded is ICMP type 11 over IPv4 and ICMPv6 type 3 over IPv6") {
  CHECK(is_time_exceeded(time_exceeded("192.0.2.2"), false));
  CHECK(is_time_exceeded(time_exceeded("2001:db8:12::2", true), true));
  // ICMP type 3 is destination-unreachable over IPv4.
  CHECK_FALSE(is_time_exceeded(attempt(v1::Attempt::UNREACHABLE, "192.0.2.2", 3, 13), false));
  CHECK_FALSE(is_time_exceeded(attempt(v1::Attempt::UNREACHABLE, "2001:db8:12::2", 1, 1), true));
  CHECK_FALSE(is_time_exceeded(silence(), false));
}

TEST_CASE("hop location: a SYN dropped by the provider's filter") {
  // isp (hop 1) and provider (hop 2) send time-exceeded; nothing beyond.
  const auto target = asio::ip::make_address("203.0.113.2");
  const auto hop =
      locate_last_hop(with_silence({time_exceeded("198.51.100.1"), time_exceeded("192.0.2.2")}, 30), target);
  CHECK(hop.last_hop() == 2);
  CHECK(hop.last_hop_address() == "192.0.2.2");
  CHECK(hop.path_length() == 0);
  CHECK_THAT(hop.note(), Catch::Contains("dropped after hop 2 (192.0.2.2)"));
  CHECK_THAT(hop.note(), Catch::Contains("TTL 3 to 30"));
}

TEST_CASE("hop location: an ISP block right after the first router, over IPv6") {
  const auto target = asio::ip::make_address("2001:db8:2::2");
  const auto hop = locate_last_hop(with_silence({time_exceeded("2001:db8:1::1", true)}, 8), target);
  CHECK(hop.last_hop() == 1);
  CHECK(hop.last_hop_address() == "2001:db8:1::1");
  CHECK(hop.path_length() == 0);
}

TEST_CASE("hop location: the target answers, so the path length is known") {
  const auto target = asio::ip::make_address("203.0.113.2");
  for (auto answer : {attempt(v1::Attempt::CONNECTED), attempt(v1::Attempt::REFUSED),
                      attempt(v1::Attempt::UNREACHABLE, "203.0.113.2", 3, 13)}) {
    const auto hop = locate_last_hop(
        {time_exceeded("198.51.100.1"), time_exceeded("192.0.2.2"), answer, attempt(v1::Attempt::CONNECTED)}, target);
    CHECK(hop.path_length() == 3);
    CHECK(hop.last_hop() == 2);
    CHECK(hop.last_hop_address() == "192.0.2.2");
    CHECK_THAT(hop.note(), Catch::Contains("at hop 3"));
  }
}

TEST_CASE("hop location: a router rejects the SYN") {
  const auto target = asio::ip::make_address("2001:db8:2::2");
  const auto hop = locate_last_hop({time_exceeded("2001:db8:1::1", true), time_exceeded("2001:db8:12::2", true),
                                    attempt(v1::Attempt::UNREACHABLE, "2001:db8:12::2", 1, 1)},
                                   target);
  CHECK(hop.path_length() == 0);
  CHECK(hop.last_hop() == 2);
  CHECK_THAT(hop.note(), Catch::Contains("rejected") && Catch::Contains("TTL 3"));
}

TEST_CASE("hop location: silent routers below the last one are named") {
  const auto target = asio::ip::make_address("203.0.113.2");
  const auto hop =
      locate_last_hop(with_silence({time_exceeded("198.51.100.1"), silence(), time_exceeded("192.0.2.9")}, 10), target);
  CHECK(hop.last_hop() == 3);
  CHECK(hop.last_hop_address() == "192.0.2.9");
  CHECK_THAT(hop.note(), Catch::Contains("hop 2 sent no time-exceeded"));
  CHECK_THAT(hop.note(), !Catch::Contains("hop 4"));
}

TEST_CASE("hop location: nobody answers") {
  const auto hop = locate_last_hop(with_silence({}, 5), asio::ip::make_address("203.0.113.2"));
  CHECK(hop.last_hop() == 0);
  CHECK(hop.last_hop_address().empty());
  CHECK(hop.path_length() == 0);
  CHECK_THAT(hop.note(), Catch::Contains("no router answered"));
}

// ---------------------------------------------------------------- connect_probe on loopback

TEST_CASE("connect_probe: a listener gives CONNECTED, the source port known and the socket kept") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  auto r = run(io, connect_probe(acceptor.local_endpoint(), {}));
  const auto& a = r.attempt;
  CHECK(a.outcome() == v1::Attempt::CONNECTED);
  CHECK(a.error().empty());
  CHECK(a.local_address() == "127.0.0.1");
  CHECK(a.local_port() != 0);
  CHECK(a.start_unix_us() > 1'600'000'000'000'000ull);
  CHECK(a.elapsed_ms() >= 0);
  CHECK(a.elapsed_ms() < 1000);
  REQUIRE(r.socket);
  CHECK(r.socket->is_open());
  CHECK(r.socket->local_endpoint().port() == a.local_port());
  // The server side sees the same source port.
  auto accepted = acceptor.accept();
  CHECK(accepted.remote_endpoint().port() == a.local_port());
  REQUIRE(r.tcp);
  CHECK(r.tcp->mss > 0);
}

#ifdef __linux__
TEST_CASE("platform: IP_RECVERR is on while connecting and off on the socket handed over") {
  asio::io_context io;
  auto recverr = [](tcp::socket& s) {
    int value = -1;
    socklen_t length = sizeof value;
    REQUIRE(::getsockopt(s.native_handle(), IPPROTO_IP, IP_RECVERR, &value, &length) == 0);
    return value;
  };
  tcp::socket fresh(io, tcp::v4());
  CHECK_FALSE(platform::prepare_probe_socket(fresh.native_handle(), false));
  CHECK(recverr(fresh) == 1);
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  auto r = run(io, connect_probe(acceptor.local_endpoint(), {}));
  REQUIRE(r.socket);
  CHECK(recverr(*r.socket) == 0);
  CHECK(platform::hop_search_available());
}
#endif

TEST_CASE("connect_probe: keep_socket false closes the connection") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  connect_options options;
  options.keep_socket = false;
  auto r = run(io, connect_probe(acceptor.local_endpoint(), options));
  CHECK(r.attempt.outcome() == v1::Attempt::CONNECTED);
  CHECK_FALSE(r.socket);
}

TEST_CASE("connect_probe: a closed port is REFUSED at once, with the OS's words") {
  asio::io_context io;
  closed_port closed(io);
  connect_options options;
  options.timeout = 5s;
  auto r = run(io, connect_probe(tcp::endpoint(loopback, closed.port()), options));
  const auto& a = r.attempt;
  INFO("error: " << a.error());
  CHECK(a.outcome() == v1::Attempt::REFUSED);
  CHECK(a.elapsed_ms() < 1000);
  CHECK_FALSE(a.error().empty());
  CHECK(a.local_port() != 0);
  CHECK(a.icmp_from().empty());  // a TCP reset, no ICMP
  CHECK_FALSE(r.socket);
}

TEST_CASE("connect_probe: IPv6 loopback") {
  asio::io_context io;
  const auto v6_loopback = asio::ip::make_address("::1");
  tcp::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(tcp::v6(), ec);
  if (!ec) acceptor.bind(tcp::endpoint(v6_loopback, 0), ec);
  if (ec) {
    WARN("no IPv6 loopback here: " << ec.message());
    return;
  }
  acceptor.listen();
  auto r = run(io, connect_probe(acceptor.local_endpoint(), {}));
  CHECK(r.attempt.outcome() == v1::Attempt::CONNECTED);
  CHECK(r.attempt.local_address() == "::1");
  closed_port closed(io, v6_loopback);
  auto refused = run(io, connect_probe(tcp::endpoint(v6_loopback, closed.port()), {}));
  CHECK(refused.attempt.outcome() == v1::Attempt::REFUSED);
}

TEST_CASE("connect_probe: no answer is TIMED_OUT at the deadline, source port still known") {
  asio::io_context io;
  silent_port silent(io);
  connect_options options;
  options.timeout = 200ms;
  auto r = run(io, connect_probe(tcp::endpoint(loopback, silent.port()), options));
  const auto& a = r.attempt;
  CHECK(a.outcome() == v1::Attempt::TIMED_OUT);
  CHECK(a.elapsed_ms() >= 190);
  CHECK(a.elapsed_ms() < 1000);
  CHECK(a.error() == "no answer within 200ms");
  CHECK(a.local_port() != 0);
  CHECK(a.local_address() == "127.0.0.1");
  CHECK_FALSE(r.cancelled);
}

TEST_CASE("connect_probe: a canceller ends the wait early and stays cancelled") {
  asio::io_context io;
  silent_port silent(io);
  attempt_canceller canceller(io.get_executor());
  asio::steady_timer later(io, 100ms);
  later.async_wait([&](std::error_code) { canceller.cancel(); });
  connect_options options;
  options.timeout = 10s;
  auto r = run(io, connect_probe(tcp::endpoint(loopback, silent.port()), options, &canceller));
  CHECK(r.attempt.outcome() == v1::Attempt::TIMED_OUT);
  CHECK(r.attempt.error() == decided_note);
  CHECK(r.cancelled);
  CHECK(r.attempt.elapsed_ms() >= 90);
  CHECK(r.attempt.elapsed_ms() < 2000);
  // Already cancelled: the next attempt ends at once, with the first note.
  canceller.cancel("another note");
  auto again = run(io, connect_probe(tcp::endpoint(loopback, silent.port()), options, &canceller));
  CHECK(again.attempt.outcome() == v1::Attempt::TIMED_OUT);
  CHECK(again.attempt.error() == decided_note);
  CHECK(again.attempt.elapsed_ms() < 100);
}

TEST_CASE("platform: finished_connect reads the kernel's outcome of a connect without waiting") {
  asio::io_context io;
  // The system's connect(), not asio's: asio's synchronous connect waits for
  // the outcome even on a non-blocking socket (127 s of SYN retries for the
  // silent port: this test took 2 min 15 s).
  const auto started = [&](std::uint16_t port) {
    auto s = std::make_unique<tcp::socket>(io, tcp::v4());
    s->non_blocking(true);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // EINPROGRESS, or done (or refused) at once on loopback.
    (void)::connect(s->native_handle(), reinterpret_cast<const sockaddr*>(&to), sizeof to);
    return s;
  };
  const auto settled = [](tcp::socket& s) {
    std::optional<int> r;
    for (int i = 0; i < 100 && !r; ++i) {
      r = platform::finished_connect(s.native_handle());
      if (!r) std::this_thread::sleep_for(5ms);
    }
    return r;
  };
  tcp::acceptor listening(io, tcp::endpoint(loopback, 0));
  auto to_listener = started(listening.local_endpoint().port());
  CHECK(settled(*to_listener) == 0);
  const auto closed_port = [&] {
    tcp::acceptor a(io, tcp::endpoint(loopback, 0));
    return a.local_endpoint().port();
  }();
  // Refused inside connect() on loopback: the error is read already, and a
  // refused socket is never taken for a connected one.
  auto to_closed = started(closed_port);
  CHECK(settled(*to_closed) != std::optional<int>(0));
  silent_port silent(io);
  auto to_silent = started(silent.port());
  const auto silent_outcome = platform::finished_connect(to_silent->native_handle());
  INFO("silent: " << (silent_outcome ? std::to_string(*silent_outcome) : "unanswered"));
  CHECK_FALSE(silent_outcome.has_value());  // its SYN is unanswered
}

TEST_CASE("connect_probe: an end decided as the answer comes: the kernel's answer wins, not 'no answer'") {
  // The canceller fires before the loop has seen the connect complete (on
  // loopback the handshake is done inside connect()): the attempt is what
  // the kernel says, CONNECTED, as a busy prober's must be.
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  attempt_canceller canceller(io.get_executor());
  connect_options options;
  options.on_start = [&](const v1::Attempt&) { canceller.cancel("the host's reply was lost"); };
  auto r = run(io, connect_probe(acceptor.local_endpoint(), options, &canceller));
  CHECK(r.attempt.outcome() == v1::Attempt::CONNECTED);
  CHECK(r.attempt.error().empty());
  CHECK_FALSE(r.cancelled);
  REQUIRE(r.socket);
  CHECK(r.socket->is_open());
}

TEST_CASE("connect_probe: a TTL is applied, and an impossible one is a local failure") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  connect_options options;
  options.ttl = 1;  // loopback needs no hop
  auto r = run(io, connect_probe(acceptor.local_endpoint(), options));
  CHECK(r.attempt.outcome() == v1::Attempt::CONNECTED);
  options.ttl = 300;
  auto bad = run(io, connect_probe(acceptor.local_endpoint(), options));
  CHECK(bad.attempt.outcome() == v1::Attempt::FAILED);
  CHECK_THAT(bad.attempt.error(), Catch::Contains("TTL"));
}

TEST_CASE("route_source_address names the address the kernel would use") {
  asio::io_context io;
  const auto source = route_source_address(io.get_executor(), loopback);
  REQUIRE(source);
  CHECK(*source == loopback);
}

// ---------------------------------------------------------------- probe_runner

TEST_CASE("probe_runner: open, refused and silent ports, and retries only for the silent one") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  closed_port closed(io);
  silent_port silent(io);
  const std::uint16_t open_port = acceptor.local_endpoint().port();
  runner_settings settings;
  settings.timeout = 200ms;
  settings.retries = 1;
  probe_runner runner(io.get_executor(), loopback, settings);

  std::vector<std::pair<std::uint16_t, bool>> calls;
  std::optional<tcp::socket> taken;
  std::map<std::uint16_t, std::vector<std::uint32_t>> started_ports;  // source ports as attempts start
  runner.on_start([&](std::uint16_t port, const v1::Attempt& a) {
    CHECK(a.outcome() == v1::Attempt::OUTCOME_UNSPECIFIED);
    started_ports[port].push_back(a.local_port());
  });
  auto results = run(
      io, runner.run({open_port, closed.port(), silent.port()}, [&](std::uint16_t port, connect_result& r, bool last) {
        calls.emplace_back(port, last);
        if (r.socket) taken = std::move(r.socket);
      }));
  REQUIRE(results.size() == 3);
  CHECK(results[0].port == open_port);
  REQUIRE(results[0].attempts.size() == 1);
  CHECK(results[0].attempts[0].outcome() == v1::Attempt::CONNECTED);
  REQUIRE(results[1].attempts.size() == 1);
  CHECK(results[1].attempts[0].outcome() == v1::Attempt::REFUSED);
  REQUIRE(results[2].attempts.size() == 2);
  CHECK(results[2].attempts[0].outcome() == v1::Attempt::TIMED_OUT);
  CHECK(results[2].attempts[1].outcome() == v1::Attempt::TIMED_OUT);
  // A new socket, so a new source port, for the retry.
  CHECK(results[2].attempts[0].local_port() != results[2].attempts[1].local_port());
  for (const auto& p : results) CHECK_FALSE(p.decided);

  REQUIRE(calls.size() == 4);
  std::map<std::uint16_t, std::vector<bool>> last_flags;
  for (const auto& [port, last] : calls) last_flags[port].push_back(last);
  CHECK(last_flags[open_port] == std::vector<bool>{true});
  CHECK(last_flags[closed.port()] == std::vector<bool>{true});
  CHECK(last_flags[silent.port()] == std::vector<bool>{false, true});
  CHECK(calls.back() == std::make_pair(silent.port(), true));
  // Each attempt was announced before it finished, with the source port it used.
  for (const auto& p : results) {
    std::vector<std::uint32_t> used;
    for (const auto& a : p.attempts) used.push_back(a.local_port());
    CHECK(started_ports[p.port] == used);
  }
  // The handler took the connected socket: it is still open.
  REQUIRE(taken);
  CHECK(taken->is_open());
}

TEST_CASE("probe_runner: the concurrency bound holds") {
  asio::io_context io;
  silent_port a(io), b(io), c(io);
  const std::vector<port_key> ports{a.port(), b.port(), c.port()};
  auto timed = [&](std::size_t concurrency) {
    runner_settings settings;
    settings.timeout = 150ms;
    settings.retries = 0;
    settings.concurrency = concurrency;
    probe_runner runner(io.get_executor(), loopback, settings);
    const auto t0 = std::chrono::steady_clock::now();
    auto results = run(io, runner.run(ports));
    for (const auto& p : results) CHECK(p.attempts.size() == 1);
    return std::chrono::steady_clock::now() - t0;
  };
  const auto one_at_a_time = timed(1);
  const auto all_at_once = timed(3);
  CHECK(one_at_a_time >= 440ms);
  CHECK(all_at_once < 400ms);
}

TEST_CASE("probe_runner: decide() ends a port's wait and its retries") {
  asio::io_context io;
  silent_port silent(io);
  closed_port closed(io);
  runner_settings settings;
  settings.timeout = 10s;
  settings.retries = 2;
  probe_runner runner(io.get_executor(), loopback, settings);
  runner.decide(closed.port(), "known already");  // before run: never probed
  CHECK(runner.decided(closed.port()));
  CHECK_FALSE(runner.decided(silent.port()));
  asio::steady_timer later(io, 100ms);
  later.async_wait([&](std::error_code) { runner.decide(silent.port()); });
  const auto t0 = std::chrono::steady_clock::now();
  auto results = run(io, runner.run({silent.port(), closed.port()}));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  REQUIRE(results.size() == 2);
  REQUIRE(results[0].attempts.size() == 1);
  CHECK(results[0].attempts[0].outcome() == v1::Attempt::TIMED_OUT);
  CHECK(results[0].attempts[0].error() == decided_note);
  CHECK(results[0].decided);
  CHECK(results[1].attempts.empty());
  CHECK(results[1].decided);
}

TEST_CASE("probe_runner: the retry policy's batches run side by side; end_attempt ends one attempt") {
  asio::io_context io;
  silent_port silent(io);
  runner_settings settings;
  settings.timeout = 300ms;
  probe_runner runner(io.get_executor(), loopback, settings);
  std::vector<std::size_t> asked_after;  // attempts ended when the policy was asked
  runner.on_retry([&](std::uint16_t, const std::vector<v1::Attempt>& so_far) {
    asked_after.push_back(so_far.size());
    return so_far.size() == 1 ? std::size_t{3} : std::size_t{0};  // then three at once, then done
  });
  // The first attempt is ended early, as the agent's barrier would.
  runner.on_start([&](std::uint16_t port, const v1::Attempt& a) {
    if (a.local_port() != 0 && asked_after.empty()) runner.end_attempt(port, a.local_port(), "the SYN never arrived");
  });
  std::vector<bool> lasts;
  const auto t0 = std::chrono::steady_clock::now();
  auto results =
      run(io, runner.run({silent.port()}, [&](std::uint16_t, connect_result&, bool last) { lasts.push_back(last); }));
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(results[0].attempts.size() == 4);
  CHECK(results[0].attempts[0].error() == "the SYN never arrived");
  CHECK(results[0].attempts[0].elapsed_ms() < 100);
  std::set<std::uint32_t> sources;
  for (const auto& a : results[0].attempts) sources.insert(a.local_port());
  CHECK(sources.size() == 4);  // a fresh source port each
  CHECK(asked_after == std::vector<std::size_t>{1, 4});
  CHECK(lasts == std::vector<bool>{false, false, false, true});
  CHECK_FALSE(results[0].decided);
  // The three ran together: one timeout, not three.
  CHECK(took < 600ms);
}

TEST_CASE("probe_runner: a connection ends the port under a policy; classic_retries without the agent") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  const std::uint16_t open_port = acceptor.local_endpoint().port();
  runner_settings settings;
  settings.timeout = 5s;
  probe_runner runner(io.get_executor(), loopback, settings);
  runner.on_retry([](std::uint16_t, const std::vector<v1::Attempt>& so_far) {
    return so_far.empty() ? std::size_t{1} : std::size_t{0};
  });
  auto results = run(io, runner.run({open_port}));
  REQUIRE(results[0].attempts.size() == 1);
  CHECK(results[0].attempts[0].outcome() == v1::Attempt::CONNECTED);
  CHECK(classic_retries({}, 1) == 1);
  CHECK(classic_retries({silence()}, 1) == 1);
  CHECK(classic_retries({silence(), silence()}, 1) == 0);
  CHECK(classic_retries({attempt(v1::Attempt::REFUSED)}, 1) == 0);
}

// ---------------------------------------------------------------- find_last_hop on loopback

TEST_CASE("find_last_hop: on loopback the target is hop 1") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(loopback, 0));
  closed_port closed(io);
  hop_settings settings;
  settings.max_hops = 5;
  settings.timeout = 500ms;
  auto open_trace = run(io, find_last_hop(loopback, acceptor.local_endpoint().port(), settings));
  auto closed_trace = run(io, find_last_hop(loopback, closed.port(), settings));
  if (!platform::hop_search_available()) {
    CHECK(open_trace.by_ttl.empty());
    CHECK_THAT(open_trace.location.note(), Catch::Contains("not available"));
    return;
  }
  CHECK(open_trace.location.path_length() == 1);
  CHECK(open_trace.location.last_hop() == 0);
  REQUIRE(open_trace.by_ttl.size() == 1);  // higher TTLs were cancelled
  CHECK(open_trace.by_ttl[0].outcome() == v1::Attempt::CONNECTED);
  CHECK(closed_trace.location.path_length() == 1);
  CHECK_THAT(closed_trace.location.note(), Catch::Contains("reset"));
}

TEST_CASE("trusted roots: the distribution's bundle only where OpenSSL's own directory is missing") {
  using platform::linux_roots_file;
  const auto only = [](std::set<std::string> files) {
    return [files](const char* path) { return files.count(path) > 0; };
  };
  // The portable prober on the RHEL family: Debian's /usr/lib/ssl is not there.
  CHECK(linux_roots_file(
            false, false,
            only({"/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"})) ==
        "/etc/pki/tls/certs/ca-bundle.crt");
  CHECK(linux_roots_file(false, false, only({"/etc/ssl/cert.pem"})) == "/etc/ssl/cert.pem");            // Alpine
  CHECK(linux_roots_file(false, false, only({"/etc/ssl/ca-bundle.pem"})) == "/etc/ssl/ca-bundle.pem");  // openSUSE
  // Debian and Ubuntu: OpenSSL's defaults hold them; SSL_CERT_FILE/DIR: the user's choice.
  CHECK(linux_roots_file(false, true, only({"/etc/ssl/certs/ca-certificates.crt"})).empty());
  CHECK(linux_roots_file(true, false, only({"/etc/pki/tls/certs/ca-bundle.crt"})).empty());
  CHECK(linux_roots_file(false, false, only({})).empty());
}
