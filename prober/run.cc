#include "prober/run.h"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>

#include "common/ports.h"
#include "common/protocol.h"
#include "common/spawn.h"
#include "verdict/verdict.h"
#include "prober/app/parse.h"
#include "prober/app/probes.h"
#include "prober/app/udp.h"
#include "prober/barrier.h"
#include "prober/mtu_search.h"
#include "prober/run_parts.h"
#include "prober/shared_session.h"
#include "prober/task_group.h"
#include "prober/control_client.h"
#include "prober/icmp_watch.h"
#include "prober/probe.h"
#include "prober/wait.h"

namespace dropspot::prober {

namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

/// Hop searches per run at most: each sends up to max_hops SYNs per round.
constexpr std::size_t max_hop_searches = 8;

/// Our source addresses a session request names at most (the agent takes 4).
constexpr std::size_t max_prober_addresses_sent = 4;

/// Lanes' barrier nonces apart: each lane's Pings are its own.
constexpr std::uint64_t lane_nonce_stride = std::uint64_t{1} << 40;

/// Application probes running at once, at most.
constexpr std::size_t max_app_probes = 32;

/// The application probes in progress: kind and start per port.
using app_starts = std::map<port_key, std::pair<std::string, clock::time_point>>;

/// Runs the application probe on a connected socket once one of the
/// max_app_probes slots is free; the result goes to apps[port], how it went
/// to traces[port].
asio::awaitable<void> probe_application(std::map<port_key, v1::AppResult>& apps,
                                        std::map<port_key, app::probe_trace>& traces,
                                        std::map<port_key, double>& decided_at, app_starts& running,
                                        asio::ip::tcp::socket socket, app::app_settings settings,
                                        std::function<double()> elapsed) {
  asio::steady_timer pause(socket.get_executor());
  while (running.size() >= max_app_probes) {
    pause.expires_after(10ms);
    co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  const auto port = settings.port;
  running[port] = {settings.kind, clock::now()};
  apps[port] = co_await app::run_app_probe(std::move(socket), std::move(settings), &traces[port]);
  running.erase(port);
  decided_at[port] = elapsed();
}

/// The stall watch's search for one port (prober/mtu_search.h): true, with
/// the finding in found[port], when it shows a black hole.
asio::awaitable<bool> search_mtu(std::shared_ptr<std::map<port_key, v1::PathMtu>> found, port_key port,
                                 mtu_search_settings settings) {
  auto finding = co_await search_path_mtu(std::move(settings));
  if (!finding) co_return false;
  // A stall alone (no size could be tried) lets the probe go on: a slow
  // application still answers within its deadline.
  const bool hole = finding->blackhole_size() > 0;
  (*found)[port] = std::move(*finding);
  co_return hole;
}

/// Shows app_wait_line every half second until `stopped` is set and
/// `ticker` cancelled.
asio::awaitable<void> show_app_waits(const app_starts& running, millis limit,
                                     std::function<void(const std::string&)> show, asio::steady_timer& ticker,
                                     const bool& stopped) {
  while (!stopped) {
    ticker.expires_after(500ms);
    auto [ec] = co_await ticker.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    std::vector<app_waiting> waiting;
    const auto now = clock::now();
    for (const auto& [port, start] : running)
      waiting.push_back({key_port(port), start.first, std::chrono::duration_cast<millis>(now - start.second)});
    if (auto line = app_wait_line(waiting, limit); !line.empty()) show(line);
  }
}

/// A coroutine function, not a lambda: a lambda's captures would die before
/// the coroutine runs.
/// (Its SYNs' source ports are recorded as they leave: hop_settings::on_start.)
asio::awaitable<void> locate_hop(std::map<port_key, v1::HopLocation>& hops, asio::ip::address address, port_key port,
                                 hop_settings settings) {
  hops[port] = (co_await find_last_hop(address, key_port(port), settings)).location;
}

}  // namespace

millis attempt_timeout(millis user_timeout, double control_rtt_ms, bool agent_capturing) {
  if (!agent_capturing || control_rtt_ms <= 0) return user_timeout;
  // A SYN that has not reached the agent after 5 round trips (at least
  // 100 ms, for the agent's batching on a fast path) is not coming; a retry
  // tells loss from filtering. A SYN that arrives later all the same still
  // counts: the verdict reads the agent's packets until the session ends.
  const auto derived = millis(static_cast<long long>(std::max(100.0, 5.0 * control_rtt_ms)));
  return std::min(user_timeout, derived);
}

int exit_code(const v1::Report& report) {
  if (!report.error().empty()) return 1;
  for (const auto& p : report.ports())
    if (!p.as_expected()) return 1;
  const auto status = report.agent().status();
  if (status != v1::AgentInfo::CONNECTED && status != v1::AgentInfo::DISABLED) return 3;
  return 0;
}

v1::Report untested_report(const std::string& target, const std::string& why) {
  v1::Report report;
  report.set_schema_version(report_schema_version);
  report.set_target(target);
  report.set_error(why);
  report.set_software("dropspot-prober " + std::string(software_version));
  return report;
}

namespace {

/// One run, one function per phase: open_session (the agent first: its round
/// trip tunes the probes) -> probe_ports (every port, deciding early from the
/// agent's evidence, hop searches, application probes; the agent's summary
/// is requested once every port had an attempt, and finish_session closes
/// the session when all is done) -> assemble (the verdicts).
class run_phases {
 public:
  run_phases(run_inputs inputs, asio::any_io_executor ex) : in(std::move(inputs)), o(in.opts), executor(std::move(ex)) {
    report.set_target(o.target);
    report.set_address(in.address.to_string());
    report.set_schema_version(report_schema_version);
    report.set_software("dropspot-prober " + std::string(software_version));
    local_address = route_source_address(executor, in.address);
    open_icmp_watch();
  }

  asio::awaitable<v1::Report> run() {
    co_await open_session();
    co_await probe_ports();  // ends the agent's session too (finish_session)
    co_return assemble();
  }

 private:
  /// Where TCP sockets get no ICMP errors (Windows), one raw ICMP socket
  /// for the run, bound to our source address: the probes' and hop
  /// searches' ICMP details. Without the rights the run goes on without.
  void open_icmp_watch() {
    if (!platform::needs_icmp_watch()) return;
    icmp_failed =
        local_address ? icmp.open(executor, *local_address) : std::make_error_code(std::errc::address_not_available);
    icmp_opened = !icmp_failed;
  }
  bool hop_search_available() const { return platform::hop_search_available() || icmp_opened; }

  double ms_since_start() const { return std::chrono::duration<double, std::milli>(clock::now() - started).count(); }

  asio::awaitable<void> open_session() {
    if (o.no_agent) {
      session.info.set_status(v1::AgentInfo::DISABLED);
      session.info.set_message("--no-agent: the client's view only");
    } else if (in.shared) {
      // The session is open (run_addresses): this lane's packets come by its
      // stream, once every lane is attached (the last attach starts the
      // reading, which may take the pending ack at once: set up first).
      capturing = session.port && (session.ack_pending ? session.info.capture_active()
                                                       : session.ack.capture_active() && lane_captured());
      stream.on_ack = [this](bool acknowledged) {
        capturing = capturing && acknowledged && session.ack.capture_active() && lane_captured();
      };
      in.shared->attach(in.lane, stream);
    } else {
      auto start = session_request(o, keys);
      if (local_address) start.set_prober_local_address(local_address->to_string());
      session = co_await open_agent_session(control_for(o, in.address, in.token), start);
      // With the sealed session request taken the ack comes while the probes
      // run; a refusal or an inactive capture ends the agent's part.
      capturing = session.port && (session.ack_pending ? session.info.capture_active() : session.ack.capture_active());
      stream.on_ack = [this](bool acknowledged) {
        capturing = capturing && acknowledged && session.ack.capture_active();
      };
      if (session.port)
        asio::co_spawn(executor, receive_observations(session, stream),
                       on_escape("reading the agent's messages", report_internal_error));
    }
    rtt_ms = session.info.rtt_ms();
  }

  /// Why the agent's capture does not speak for this lane's packets
  /// (lane_uncaptured_because); empty when it does.
  std::string lane_uncaptured() const {
    return lane_uncaptured_because(in.shared->lane(in.lane), session.ack.peer_address(),
                                   in.shared->capture_addresses());
  }
  bool lane_captured() const { return lane_uncaptured().empty(); }

  /// What decide_port needs of a port so far. `for_policy`: only what the
  /// evidence check and the retry policy read (the attempts, the packets,
  /// whether the agent captures), built for every packet the agent reports.
  port_input base_input(port_key port, bool for_policy = false) const {
    port_input pi;
    pi.port = key_port(port);
    pi.udp = key_udp(port);
    pi.reply_expected = !pi.udp || app::udp_reply_expected(probe_kind(o, port), !o.udp_payload.empty());
    if (pi.udp && pi.reply_expected)
      pi.awaiting_service =
          std::any_of(session.ack.listeners().begin(), session.ack.listeners().end(), [&](const v1::Listener& l) {
            return l.protocol() == v1::UDP && l.port() == pi.port && !is_loopback_address(l.address());
          });
    if (for_policy) {
      pi.agent.set_status(session.info.status());
      *pi.agent.mutable_refused_ports() = session.info.refused_ports();
      *pi.agent.mutable_refused_udp_ports() = session.info.refused_udp_ports();
    } else {
      pi.probe = probe_kind(o, port);
      pi.target = o.target;
      pi.target_address = in.address.to_string();
      pi.agent = final_info ? *final_info : session.info;
    }
    pi.agent.set_capture_active(capturing);
    if (auto it = stream.packets.find(port); it != stream.packets.end()) pi.packets = it->second;
    // The hop search's own SYNs (if some got through after all) and the
    // path-MTU search's connections are not evidence about the probes.
    for (const auto* searched :
         {&hop_source_ports, static_cast<const decltype(hop_source_ports)*>(mtu_source_ports.get())})
      if (auto it = searched->find(port); it != searched->end())
        std::erase_if(pi.packets, [&](const v1::PacketEvent& p) { return it->second.count(client_port_of(p)) > 0; });
    if (auto it = attempts.find(port); it != attempts.end()) pi.attempts = it->second;
    if (for_policy) return pi;
    for (const auto& l : session.ack.listeners())
      if (l.port() == pi.port && (l.protocol() == v1::UDP) == pi.udp) pi.listeners.push_back(l);
    if (local_address) pi.prober_address = local_address->to_string();
    pi.sent_options = sent_options;
    return pi;
  }

  asio::awaitable<void> probe_ports() {
    runner_settings rs;
    rs.timeout = attempt_timeout(o.timeout, rtt_ms, capturing);
    // A UDP service's answer comes from a program, not the kernel: the user's timeout.
    rs.udp_timeout = o.timeout;
    rs.retries = o.retries;
    // With the agent most attempts last a few round trips: more of them at once.
    rs.concurrency = attempts_in_flight(capturing ? agent_concurrency : rs.concurrency, in.share);
    rs.keep_sockets = true;  // the application probe speaks on the connected socket
    rs.udp_payload = [this](port_key port) { return next_udp_payload(port); };
    if (icmp_opened) rs.icmp = &icmp;
    probe_runner runner(executor, in.address, rs);

    // Decide a port early when the agent's evidence is complete, and end an
    // attempt early when it has told all it can (see agent_evidence_complete).
    std::map<port_key, std::unique_ptr<asio::steady_timer>> rechecks;
    // False once the runner is done: a recheck whose timer had already
    // expired (its handler queued with success, which destroying the timer
    // does not undo) or a packet that comes later must not reach `consider`
    // and `runner`, locals of this frame (a prober crashed so in CI).
    const auto considering = std::make_shared<bool>(true);
    const double margin_ms = barrier_margin_ms(rtt_ms);
    std::function<void(port_key)> consider = [&](port_key port) {
      if (!*considering || !capturing || runner.decided(port)) return;
      auto it = running.find(port);
      if (it == running.end() || it->second.empty()) return;
      double recheck_ms = 0;
      // Each attempt in flight, as if it were the last so far.
      const auto in_flight = it->second;  // copied: decide/end_attempt change `running`
      const auto base = base_input(port, true);
      for (const auto& attempt : in_flight) {
        auto pi = base;
        pi.attempts.push_back(attempt);
        evidence_timing timing;
        // A lost reply ends its attempt; how many follow is the retry policy's.
        timing.attempts_allowed = std::numeric_limits<std::size_t>::max();
        timing.barrier_unix_us = barrier.passed_us;
        timing.barrier_margin_ms = margin_ms;
        if (auto h = reply_heard.find(flow_key(port, attempt.local_port())); h != reply_heard.end())
          timing.reply_heard_unix_us = h->second;
        if (auto h = syn_heard.find(flow_key(port, attempt.local_port())); h != syn_heard.end()) {
          timing.syn_heard_unix_us = h->second;
          // A barrier after the SYN's report tells whether the host stayed silent.
          barrier.want(h->second + static_cast<std::uint64_t>(margin_ms * 1000));
        }
        const auto check = agent_evidence_complete(pi, now_unix_us(), rtt_ms, timing);
        if (check.complete) {
          runner.decide(port);
          return;
        }
        if (check.end_attempt) {
          runner.end_attempt(port, attempt.local_port(), check.why);
          continue;
        }
        if (check.recheck_in_ms > 0)
          recheck_ms = recheck_ms > 0 ? std::min(recheck_ms, check.recheck_in_ms) : check.recheck_in_ms;
      }
      if (recheck_ms > 0) {
        auto& timer = rechecks[port];
        if (!timer) timer = std::make_unique<asio::steady_timer>(executor);
        timer->expires_after(std::chrono::microseconds(static_cast<long long>(recheck_ms * 1000)));
        timer->async_wait([&consider, port, considering](std::error_code ec) {
          if (!ec && *considering) consider(port);
        });
      }
    };
    if (capturing) {
      stream.on_packet = [&](const v1::PacketEvent& p) {
        const auto port = make_port_key(static_cast<std::uint16_t>(p.port()), p.protocol() == v1::UDP);
        if (is_outbound_reply(p)) reply_heard.emplace(flow_key(port, p.dst_port()), now_unix_us());
        if (is_inbound_request(p)) syn_heard.emplace(flow_key(port, p.src_port()), now_unix_us());
        consider(port);
      };
      // Every attempt's SYN is followed by a barrier: its Pong proves the SYN
      // missing when the agent has not reported it by then.
      const auto consider_running = [&] {
        for (const auto& [port, in_flight] : running)
          if (!in_flight.empty()) consider(port);
      };
      // A Pong tells only of the SYNs that left a margin before its Ping:
      // ports whose attempts are all younger learn nothing from it (a sweep
      // has a thousand attempts in flight and a barrier every few ms).
      const auto consider_proved = [&] {
        const auto proved_before = barrier.passed_us - static_cast<std::uint64_t>(margin_ms * 1000);
        for (const auto& [port, in_flight] : running)
          if (std::any_of(in_flight.begin(), in_flight.end(),
                          [&](const v1::Attempt& a) { return a.start_unix_us() <= proved_before; }))
            consider(port);
      };
      stream.on_pong = [&, consider_proved](std::uint64_t nonce) {
        if (barrier.answered(nonce)) consider_proved();
      };
      stream.on_summary = [&, consider_running] {
        barrier.passed(session.summary_requested_us);
        consider_running();
      };
      // Once every port's first SYN has left, the agent's summary (host
      // facts) is asked for, a barrier's margin later: it answers as a
      // barrier for those SYNs, its round trip overlaps the retries and the
      // application probes, and the capture goes on until the channel closes.
      runner.on_start([&](port_key port, const v1::Attempt& attempt) {
        running[port].push_back(attempt);
        barrier.want(attempt.start_unix_us() + static_cast<std::uint64_t>(margin_ms * 1000));
        if (ports_started.insert(port).second && ports_started.size() == keys.size()) {
          summary_timer.expires_after(std::chrono::microseconds(static_cast<long long>(margin_ms * 1000)));
          summary_timer.async_wait([this, considering](std::error_code ec) {
            // (a lane without the capture never comes here: its finish releases the summary)
            if (ec || !*considering || !capturing) return;
            if (in.shared)
              in.shared->all_started(in.lane);
            else
              request_summary(session, executor);
          });
        }
      });
      runner.on_retry([&](port_key port, const std::vector<v1::Attempt>& so_far) {
        auto pi = base_input(port, true);
        pi.attempts = so_far;
        attempt_budget budget;
        budget.same_unseen = static_cast<std::size_t>(std::max(o.retries, 0)) + 1;
        return more_attempts(attempt_fates(pi), budget);
      });
    }

    // Where SYNs die in transit, find the last hop that still forwards them:
    // started as soon as an attempt times out unseen by the agent (with the
    // agent) or the last attempt times out (without), alongside the retries.
    std::size_t hop_searches = 0;
    task_group searches(executor);
    const auto maybe_search_hops = [&](port_key port, bool last) {
      // The search sends TTL-limited SYNs: it speaks for TCP ports only.
      if (key_udp(port) || !hop_search_available() || hops.count(port) || hop_searches >= max_hop_searches) return;
      if (!all_timed_out(attempts[port]) || runner.decided(port)) return;
      if (capturing ? saw_inbound_syn(stream.packets[port]) : !last) return;
      hop_settings hs;
      // Time-exceeded comes from routers nearer than the server: within a
      // round trip of the control channel (plus the router's own delay).
      hs.timeout = capturing ? std::min(rs.timeout, std::max(millis(100), millis(static_cast<long long>(1.5 * rtt_ms))))
                             : rs.timeout;
      hs.local_address = local_address;
      if (icmp_opened) hs.icmp = &icmp;
      // A SYN that reached the server on another port tells the path's length.
      int routers = 0;
      for (const auto& [other, packets] : stream.packets)
        for (const auto& p : packets)
          if (is_inbound_request(p)) routers = std::max(routers, routers_from_ttl(p.ttl()));
      if (routers > 0) {
        hs.max_hops = routers + 3;
        // A handful of TTLs: side by side, not spaced out (the spacing keeps
        // a 30-TTL search from sending what an early final answer makes moot).
        hs.spacing = millis(2);
      }
      // Its SYNs that get through are not evidence about the probes' (nor
      // attempts of theirs for the retry policy): known from the start.
      hs.on_start = [this, port](std::uint32_t local_port) { hop_source_ports[port].insert(local_port); };
      hops[port];  // reserved: one search per port
      ++hop_searches;
      searches.spawn(locate_hop(hops, in.address, port, hs));
    };

    if (capturing) barrier.start(executor, session.port, 1000 + in.lane * lane_nonce_stride);
    app_starts apps_running;
    task_group app_probes(executor);
    // Slow services are waited for (--app-timeout): say so on a terminal.
    asio::steady_timer app_ticker(executor);
    bool apps_done = false;
    task_group tickers(executor);
    if (in.on_waiting) tickers.spawn(show_app_waits(apps_running, o.app_timeout, in.on_waiting, app_ticker, apps_done));
    co_await runner.run(keys, [&](port_key port, connect_result& r, bool last) {
      // What follows an attempt with the agent is the retry policy's
      // (more_attempts): a SYN the host dropped is not retried, a lost reply
      // or SYN is, until the fate repeats or proves random.
      if (auto it = running.find(port); it != running.end())
        std::erase_if(it->second, [&](const v1::Attempt& a) { return a.local_port() == r.attempt.local_port(); });
      // What our kernel puts in its SYNs (the MSS it advertised), to tell a
      // clamp in flight from the agent's view of the same SYN.
      if (r.tcp && r.tcp->adv_mss != 0 && !sent_options) {
        sent_options.emplace();
        sent_options->set_mss(r.tcp->adv_mss);
      }
      if (key_udp(port) && r.attempt.outcome() == v1::Attempt::CONNECTED) read_udp_reply(port, r);
      if (r.attempt.outcome() == v1::Attempt::CONNECTED && r.socket && !apps.count(port)) {
        app::app_settings as;
        as.kind = probe_kind(o, port);
        as.host = o.target;
        as.port = port;
        // A service may hold its answer on purpose (postscreen's greeting
        // wait, a slow backend): the protocol's patience, not the path's.
        as.step_timeout = o.app_timeout;
        as.total_timeout = 2 * o.app_timeout;
        // A service that speaks first does so within a few round trips: the
        // passive read for an unknown service follows the path's speed too.
        // (a banner leaves as the server accepts: one round trip after our
        // connect, plus the server's own moment).
        as.passive_wait =
            std::min(o.timeout, capturing ? std::max(millis(100), millis(static_cast<long long>(rtt_ms) + 50))
                                          : std::max(rs.timeout, millis(250)));
        // The connection was made when the connect completed, maybe a while
        // before a busy loop got here: a server's greeting runs from then.
        const auto done_us =
            r.attempt.start_unix_us() + static_cast<std::uint64_t>(std::max(0.0, r.attempt.elapsed_ms()) * 1000);
        const auto now_us = now_unix_us();
        as.connected_at = clock::now() - std::chrono::microseconds(now_us > done_us ? now_us - done_us : 0);
        as.insecure = o.insecure;
        as.ca_file = o.ca_file;
        watch_for_blackhole(port, r, as);
        apps[port];  // reserved: one application probe per port
        app_probes.spawn(probe_application(apps, app_traces, decided_at, apps_running, std::move(*r.socket),
                                           std::move(as), [this] { return ms_since_start(); }));
        r.socket.reset();
      }
      attempts[port].push_back(r.attempt);
      if (last) decided_at[port] = ms_since_start();
      if (last && in.on_port_done) in.on_port_done(decided_at.size(), keys.size());
      maybe_search_hops(port, last);
    });
    *considering = false;
    stream.on_packet = nullptr;
    stream.on_pong = nullptr;
    stream.on_summary = nullptr;
    barrier.stop();
    for (auto& [port, timer] : rechecks) timer->cancel();
    summary_timer.cancel();
    // Both groups end before this frame does (their tasks use its locals),
    // even when one of them failed.
    std::exception_ptr failure;
    try {
      co_await app_probes.wait();
    } catch (...) {
      failure = std::current_exception();
    }
    apps_done = true;
    app_ticker.cancel();
    co_await tickers.wait();
    try {
      co_await searches.wait();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    // The summary was asked for as the probes went: this wait is short.
    try {
      co_await finish_session();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
    if (failure) std::rethrow_exception(failure);
    // A search that found nothing at all leaves an empty location: drop it.
    for (auto it = hops.begin(); it != hops.end();)
      it = (it->second.last_hop() == 0 && it->second.note().empty()) ? hops.erase(it) : std::next(it);
  }

  /// Bulk data (the HTTP probes' answers, the TLS handshake, SSH's key
  /// exchange) is watched for a stall; a stall runs the path-MTU search
  /// (prober/mtu_search.h) over the port.
  void watch_for_blackhole(port_key port, const connect_result& r, app::app_settings& as) {
    if (as.kind != "http" && as.kind != "https" && as.kind != "ssh") return;
    std::error_code local_failed, peer_failed;
    const auto local = r.socket->local_endpoint(local_failed);
    const auto peer = r.socket->remote_endpoint(peer_failed);
    if (local_failed || peer_failed) return;
    const bool v6 = peer.address().is_v6();
    // Full size: what our SYN advertised, plus the headers (the server's
    // packets are that large on a clean path); the request fills one too.
    const std::uint32_t header = v6 ? 60 : 40;
    const std::uint32_t mss = r.tcp && r.tcp->adv_mss ? r.tcp->adv_mss : 1500 - header;
    as.request_size = 2 * mss;
    // Once the answer is due, a pause of many round trips (the sender's
    // retransmission timer doubles from 200 ms) is not the path's speed.
    const double rtt = std::max(rtt_ms, r.tcp ? r.tcp->rtt_us / 1000.0 : 0.0);
    as.stall_after = std::min(o.app_timeout, std::max(millis(1500), millis(static_cast<long long>(10 * rtt))));
    mtu_search_settings ms;
    ms.target = peer;
    ms.local_address = local.address();
    ms.app = as;
    ms.full = mss + header;
    ms.attempt_timeout = as.stall_after + millis(static_cast<long long>(4 * rtt) + 200);
    // sshd drops unauthenticated connections beyond MaxStartups (10 by default).
    if (as.kind == "ssh") ms.at_once = 8;
    ms.on_start = [sources = mtu_source_ports, port](std::uint32_t local_port) { (*sources)[port].insert(local_port); };
    as.on_stall = [found = mtu_found, port, ms](const app::stall_report& stalled) {
      auto settings = ms;
      settings.stalled = stalled;
      return search_mtu(found, port, std::move(settings));
    };
  }

  /// The agent's summary (bounded wait), and what it says about the session.
  asio::awaitable<void> finish_session() {
    if (in.shared)
      co_await in.shared->finish(in.lane, summary_deadline);
    else if (session.port)
      co_await finish_agent_session(session, stream, summary_deadline);
    final_info = session.info;
    auto& info = *final_info;
    if (in.shared) {
      // The agent's view of us in this lane's family (the NAT note and the
      // rules' source address are about this family's address).
      const auto seen = agent_view_of(in.shared->lane(in.lane), in.shared->capture_addresses());
      if (!seen.empty()) info.set_peer_address(seen);
      if (const auto why = lane_uncaptured(); session.port && info.capture_active() && !why.empty()) {
        info.set_capture_active(false);
        report.add_notes(why);
      }
    }
    if (session.port) {
      if (!stream.lost.empty()) info.set_message(info.message() + "; " + stream.lost);
      if (stream.summary) info.set_pcap_file(stream.summary->pcap_file());
      const std::string missing = !stream.summary ? stream.lost : stream.summary->host_facts_missing();
      if (!missing.empty())
        report.add_notes("the agent's host facts (firewall rules, services) are not in this report: " + missing +
                         "; on the server: agent check --ports " + format_port_specs({o.ports, o.udp_ports}));
    }
    *report.mutable_agent() = info;
  }

  v1::Report assemble() {
    std::map<port_key, std::vector<const v1::PortFacts*>> facts_by_port;
    if (stream.summary)
      for (const auto& facts : stream.summary->ports())
        if (facts.port() > 0 && facts.port() <= 65535)
          facts_by_port[make_port_key(static_cast<std::uint16_t>(facts.port()), facts.protocol() == v1::UDP)].push_back(
              &facts);
    for (auto port : keys) {
      auto pi = base_input(port);
      stream.packets.erase(port);  // copied: freed as the reports grow (a sweep's peak memory)
      if (auto it = hops.find(port); it != hops.end()) pi.hop = it->second;
      if (auto it = apps.find(port); it != apps.end()) pi.app = it->second;
      if (auto it = mtu_found->find(port); it != mtu_found->end()) pi.mtu_search = it->second;
      if (auto it = app_traces.find(port); it != app_traces.end()) {
        pi.kernel_path_mtu = it->second.path_mtu;
        pi.app_complete = it->second.complete;
        if (it->second.acked_known) pi.request_acked = it->second.request_acked;
      }
      if (sent_options && sent_options->mss()) pi.full_size = sent_options->mss() + (in.address.is_v6() ? 60 : 40);
      if (stream.summary) {
        pi.capture_drops = stream.summary->packets_dropped();
        const auto& port_facts = facts_by_port[port];
        for (const auto* facts : port_facts)
          for (const auto& note : facts->notes()) pi.agent_notes.push_back(note);
        for (const auto* facts : port_facts) {
          for (const auto& rule : facts->firewall()) pi.firewall.push_back(rule);
          pi.firewall_inspected = pi.firewall_inspected || facts->firewall_inspected();
          for (const auto& s : facts->services()) pi.host_services.push_back(s);
          if (pi.service_summary.empty()) pi.service_summary = facts->service_summary();
          for (const auto& s : facts->saved_rules()) pi.saved_rules.push_back(s);
          for (const auto& a : facts->advice()) pi.host_advice.push_back(a);
          for (const auto& rule : facts->icmp_firewall()) pi.icmp_firewall.push_back(rule);
        }
      }
      auto port_report = decide_port(pi);
      apply_expectation(port_report, expectation_for(o, port));
      port_report.set_decided_ms(decided_at[port]);
      *report.add_ports() = std::move(port_report);
    }
    gather_path_notes(report);
    for (auto& note : cross_port_notes(report)) report.add_notes(std::move(note));
    if (!hop_search_available()) report.add_notes(std::string("this prober: ") + platform::platform_note());
    if (platform::needs_icmp_watch() && !icmp_opened)
      report.add_notes(is_rights_error(icmp_failed)
                           ? std::string(platform::icmp_watch_rights_note())
                           : "this prober: cannot read ICMP errors from a raw socket: " + icmp_failed.message() +
                                 " (error " + std::to_string(icmp_failed.value()) + ")");
    report.set_elapsed_ms(ms_since_start());
    return std::move(report);
  }

  /// The request for a UDP port's next attempt (each its own IDs and time).
  std::string next_udp_payload(port_key port) {
    auto& sent = udp_requests[port];
    sent.push_back(
        app::make_udp_request(probe_kind(o, port), o.dns_name, o.udp_payload, random_bytes(16), now_unix_us()));
    return sent.back().payload;
  }

  /// The reply to a UDP attempt, read against the request it answers; the
  /// first reply read stands for the port.
  void read_udp_reply(port_key port, const connect_result& r) {
    if (apps.count(port)) return;
    for (const auto& request : udp_requests[port])
      if (request.payload == r.sent) {
        apps[port] = app::read_udp_reply(request, r.reply, now_unix_us());
        return;
      }
  }

  run_inputs in;
  const options& o;
  const std::vector<port_key> keys{port_keys(o.ports, o.udp_ports)};  ///< every port under test, TCP first
  asio::any_io_executor executor;
  const clock::time_point started = clock::now();
  v1::Report report;
  std::optional<asio::ip::address> local_address;
  icmp_watch icmp;  ///< open only where needs_icmp_watch() and the rights allow
  std::error_code icmp_failed;
  bool icmp_opened = false;

  // open_session
  agent_session own_session;
  agent_session& session{in.shared ? in.shared->session() : own_session};
  std::optional<v1::AgentInfo> final_info;  ///< the report's, once the session is over
  agent_stream stream;
  bool capturing = false;
  double rtt_ms = 0;

  // probe_ports: the evidence as it comes in
  std::map<port_key, std::vector<v1::Attempt>> attempts;
  std::map<port_key, std::vector<v1::Attempt>> running;  ///< the attempts in flight per port
  std::map<std::uint64_t, std::uint64_t> reply_heard;    ///< flow_key -> when the agent's report of a reply came
  std::map<std::uint64_t, std::uint64_t> syn_heard;      ///< flow_key -> when the agent's report of the SYN came
  barrier_pinger barrier;
  std::set<port_key> ports_started;  ///< ports whose first SYN has left
  asio::steady_timer summary_timer{executor};
  std::map<port_key, double> decided_at;
  std::optional<v1::TcpOptions> sent_options;  ///< learnt from the first connection
  std::map<port_key, v1::HopLocation> hops;
  std::map<port_key, std::set<std::uint32_t>> hop_source_ports;  ///< not the probes' SYNs
  std::map<port_key, v1::AppResult> apps;
  std::map<port_key, app::probe_trace> app_traces;
  /// The path-MTU searches' findings and source ports: shared with their
  /// attempts, which a search cancelled mid-round leaves running.
  std::shared_ptr<std::map<port_key, v1::PathMtu>> mtu_found = std::make_shared<std::map<port_key, v1::PathMtu>>();
  std::shared_ptr<std::map<port_key, std::set<std::uint32_t>>> mtu_source_ports =
      std::make_shared<std::map<port_key, std::set<std::uint32_t>>>();
  std::map<port_key, std::vector<app::udp_request>> udp_requests;  ///< every datagram sent, per UDP port
};

}  // namespace

asio::awaitable<v1::Report> run_once(run_inputs in) {
  run_phases phases(std::move(in), co_await asio::this_coro::executor);
  co_return co_await phases.run();
}

asio::awaitable<std::vector<v1::Report>> run_addresses(run_inputs in, std::vector<asio::ip::address> addresses) {
  auto executor = co_await asio::this_coro::executor;
  const options& o = in.opts;
  std::vector<lane_address> lanes;
  std::vector<std::string> ours;  ///< our source addresses, each once
  for (const auto& a : addresses) {
    lanes.push_back({a, route_source_address(executor, a)});
    if (const auto& local = lanes.back().local; local && ours.size() < max_prober_addresses_sent &&
                                                std::find(ours.begin(), ours.end(), local->to_string()) == ours.end())
      ours.push_back(local->to_string());
  }
  agent_session session;
  if (o.no_agent) {
    session.info.set_status(v1::AgentInfo::DISABLED);
    session.info.set_message("--no-agent: the client's view only");
  } else {
    // The agent is reached as for the first address (IPv4 when the name has
    // it: a NAT's address is then the one the agent sees); it captures for
    // each of our source addresses.
    auto start = session_request(o, port_keys(o.ports, o.udp_ports));
    if (lanes.front().local) start.set_prober_local_address(lanes.front().local->to_string());
    for (const auto& a : ours) start.add_prober_addresses(a);
    session = co_await open_agent_session(control_for(o, addresses.front(), in.token), start);
  }
  shared_session shared(executor, std::move(session), lanes);
  std::vector<v1::Report> reports(addresses.size());
  task_group runs(executor);
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    run_inputs lane_in{o, addresses[i], in.token};
    lane_in.share = in.share * addresses.size();
    lane_in.shared = &shared;
    lane_in.lane = i;
    if (i == 0) lane_in.on_waiting = in.on_waiting;
    runs.spawn([](run_inputs mine, v1::Report& out) -> asio::awaitable<void> {
      auto* session_of_lanes = mine.shared;
      const auto lane = mine.lane;
      std::exception_ptr failure;
      try {
        run_phases phases(std::move(mine), co_await asio::this_coro::executor);
        out = co_await phases.run();
      } catch (...) {
        failure = std::current_exception();
      }
      // A lane that failed must not leave the others waiting for it.
      if (failure) {
        co_await session_of_lanes->finish(lane, millis(0));
        std::rethrow_exception(failure);
      }
    }(std::move(lane_in), reports[i]));
  }
  co_await runs.wait();
  co_return reports;
}

}  // namespace dropspot::prober
