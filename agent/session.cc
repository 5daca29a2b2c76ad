#include "agent/session.h"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/this_coro.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "agent/log.h"
#include "common/auth.h"
#include "common/duration.h"
#include "common/protocol.h"

namespace dropspot::agent {

namespace {

using namespace std::chrono_literals;

std::uint64_t now_unix_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

/// Sends an error and reports the outcome; the caller closes.
asio::awaitable<session_outcome> refuse(message_port& port, v1::Error::Code code, std::string message,
                                        session_outcome outcome) {
  co_await port.send(make_error(code, std::move(message)));
  co_return outcome;
}

session_outcome outcome_of(std::error_code ec) {
  if (ec == errc::timeout) return session_outcome::timed_out;
  if (ec == errc::closed) return session_outcome::closed;
  if (ec == errc::bad_message || ec == errc::frame_empty || ec == errc::frame_too_large)
    return session_outcome::protocol_error;
  return session_outcome::closed;
}

/// The result of a blocking call run off the io thread; `done` is cancelled
/// when `value` is set.
template <class T>
struct off_thread_result {
  explicit off_thread_result(const asio::any_io_executor& ex) : done(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer done;
  std::optional<T> value;
};

/// Runs `fn` (blocking: reads /proc, runs programs) on a thread of its own,
/// so the io thread never waits for it; the result is posted back to
/// `executor`. The thread keeps the executor's work until it has posted.
/// (A plain function, not a coroutine: GCC 12 mishandles temporaries passed
/// into co_await expressions.)
template <class T, class F>
std::shared_ptr<off_thread_result<T>> start_off_io_thread(const asio::any_io_executor& executor, F fn) {
  auto st = std::make_shared<off_thread_result<T>>(executor);
  auto tracked = asio::prefer(executor, asio::execution::outstanding_work.tracked);
  std::thread([fn = std::move(fn), st, tracked]() mutable {
    T value{};
    try {
      value = fn();
    } catch (const std::exception& e) {
      log_line(std::string("host inspection: ") + e.what());
    }
    asio::post(tracked, [st = std::move(st), value = std::move(value)]() mutable {
      st->value = std::move(value);
      st->done.cancel();
    });
  }).detach();
  return st;
}

}  // namespace

/// Plain ACK/data packets forwarded per flow at most.
constexpr unsigned max_acks_per_flow = 4;

const char* to_string(session_outcome o) {
  switch (o) {
    case session_outcome::completed: return "completed";
    case session_outcome::auth_failed: return "authentication failed";
    case session_outcome::version_mismatch: return "protocol version mismatch";
    case session_outcome::protocol_error: return "protocol error";
    case session_outcome::timed_out: return "timed out";
    case session_outcome::closed: return "closed by peer";
  }
  return "unknown";
}

void split_allowed_ports(const std::vector<std::uint32_t>& requested, const std::vector<std::uint16_t>& allow,
                         std::vector<std::uint16_t>& accepted, std::vector<std::uint16_t>& refused) {
  for (auto p : requested) {
    if (p == 0 || p > 65535) continue;
    auto port = static_cast<std::uint16_t>(p);
    const bool ok = allow.empty() || std::binary_search(allow.begin(), allow.end(), port);
    (ok ? accepted : refused).push_back(port);
  }
  for (auto* v : {&accepted, &refused}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
}

asio::awaitable<session_outcome> run_session(std::shared_ptr<message_port> port_ptr, asio::ip::address peer,
                                             std::uint16_t peer_port, const session_config& config,
                                             const session_services& services) {
  message_port& port = *port_ptr;
  const auto auth_deadline = std::chrono::steady_clock::now() + config.auth_deadline;
  const auto remaining = [&] {
    return std::max<std::chrono::steady_clock::duration>(auth_deadline - std::chrono::steady_clock::now(), 1ms);
  };
  v1::Envelope in;

  // await_hello
  if (auto ec = co_await port.receive(in, remaining())) co_return outcome_of(ec);
  if (!in.has_hello())
    co_return co_await refuse(port, v1::Error::UNEXPECTED_MESSAGE, "expected hello, got " + body_name(in),
                              session_outcome::protocol_error);
  if (in.hello().protocol_version() != protocol_version)
    co_return co_await refuse(port, v1::Error::VERSION_MISMATCH,
                              "agent speaks protocol " + std::to_string(protocol_version) + ", prober speaks " +
                                  std::to_string(in.hello().protocol_version()) + ": update the older side",
                              session_outcome::version_mismatch);
  {
    auto hello = make_hello("dropspot-agent");
    hello.mutable_hello()->add_capabilities("capture");
    hello.mutable_hello()->add_capabilities("listeners");
    if (auto ec = co_await port.send(hello)) co_return outcome_of(ec);
  }

  // await_auth
  const auto binding = port.channel_binding();
  if (config.require_token || binding) {
    if (auto ec = co_await port.receive(in, remaining())) co_return outcome_of(ec);
    if (!in.has_auth())
      co_return co_await refuse(port, v1::Error::UNEXPECTED_MESSAGE, "expected auth, got " + body_name(in),
                                session_outcome::protocol_error);
    if (config.token.empty() || !binding ||
        !verify_mac(config.token, prober_auth_label, *binding, in.auth().mac()))
      co_return co_await refuse(port, v1::Error::AUTH_FAILED, "authentication failed: the token does not match",
                                session_outcome::auth_failed);
  }
  {
    v1::Envelope ok;
    ok.mutable_auth_ok()->set_path(port.path());
    if (binding && !config.token.empty()) {
      const auto mac = compute_mac(config.token, agent_auth_label, *binding);
      ok.mutable_auth_ok()->set_agent_mac(mac.data(), mac.size());
    }
    if (auto ec = co_await port.send(ok)) co_return outcome_of(ec);
  }

  // await_start
  if (auto ec = co_await port.receive(in, remaining())) co_return outcome_of(ec);
  if (!in.has_start())
    co_return co_await refuse(port, v1::Error::UNEXPECTED_MESSAGE, "expected start, got " + body_name(in),
                              session_outcome::protocol_error);
  const v1::SessionStart start = in.start();
  if (start.ports_size() == 0 || static_cast<std::size_t>(start.ports_size()) > config.max_ports)
    co_return co_await refuse(port, v1::Error::BAD_REQUEST,
                              "a session covers 1 to " + std::to_string(config.max_ports) + " ports",
                              session_outcome::protocol_error);
  std::vector<std::uint16_t> accepted, refused;
  split_allowed_ports({start.ports().begin(), start.ports().end()}, config.allow_ports, accepted, refused);
  if (accepted.empty())
    co_return co_await refuse(port, v1::Error::PORT_NOT_ALLOWED,
                              "none of the requested ports is allowed by this agent's --allow-ports",
                              session_outcome::protocol_error);

  auto granted = config.max_session;
  if (start.max_duration_ms() > 0)
    granted = std::min<std::chrono::milliseconds>(granted, std::chrono::milliseconds(start.max_duration_ms()));

  // capturing
  v1::Envelope ack_message;
  auto& ack = *ack_message.mutable_ack();
  ack.set_peer_address(peer.to_string());
  ack.set_peer_port(peer_port);
  ack.set_peer_origin(config.peer_origin);
  ack.set_agent_hostname(config.hostname);
  ack.set_agent_software("dropspot-agent " + std::string(software_version));
  for (auto p : accepted) ack.add_ports(p);
  for (auto p : refused) ack.add_refused_ports(p);
  ack.set_agent_time_unix_us(now_unix_us());
  ack.set_max_duration_ms(static_cast<std::uint32_t>(granted.count()));

  std::unique_ptr<capture_handle> capture;
  // Packets are batched per turn of the event loop into one Observation, and
  // sent through the port's write queue, so the capture callback never waits.
  auto pending = std::make_shared<v1::Envelope>();
  // Held (as if a flush were scheduled) until the ack has gone: the prober
  // expects the ack before any observation.
  auto scheduled = std::make_shared<bool>(true);
  const auto executor = co_await asio::this_coro::executor;
  // The interface each port's first inbound SYN arrived on, for the host facts.
  auto syn_interfaces = std::make_shared<std::map<std::uint16_t, std::string>>();
  if (services.start_capture) {
    std::string note;
    // The control connection itself (its source port is peer_port) is never
    // evidence: over SSH on a port under test it would feed on itself. Plain
    // ACK/data packets are capped per flow: the handshake is what counts.
    auto acks = std::make_shared<std::map<std::uint64_t, unsigned>>();
    packet_sink sink = [port_ptr, pending, scheduled, executor, peer_port, acks,
                        syn_interfaces](const v1::PacketEvent& event) {
      const auto client_port = event.direction() == v1::PacketEvent::INBOUND ? event.src_port() : event.dst_port();
      if (peer_port != 0 && client_port == peer_port) return;
      if (event.direction() == v1::PacketEvent::INBOUND && event.kind() == v1::PacketEvent::SYN &&
          !event.interface().empty())
        syn_interfaces->emplace(static_cast<std::uint16_t>(event.port()), event.interface());
      if (event.kind() == v1::PacketEvent::ACK &&
          ++(*acks)[(std::uint64_t{client_port} << 16) | event.port()] > max_acks_per_flow)
        return;
      *pending->mutable_observation()->add_packets() = event;
      if (*scheduled) return;
      *scheduled = true;
      asio::post(executor, [port_ptr, pending, scheduled, executor] {
        *scheduled = false;
        if (!pending->has_observation()) return;
        auto batch = std::make_shared<v1::Envelope>(std::move(*pending));
        pending->Clear();
        asio::co_spawn(
            executor, [port_ptr, batch]() -> asio::awaitable<void> { co_await port_ptr->send(*batch); },
            asio::detached);
      });
    };
    capture = services.start_capture({peer, accepted}, sink, note);
    ack.set_capture_active(capture != nullptr);
    if (capture) {
      for (const auto& i : capture->interfaces()) ack.add_interfaces(i);
    } else {
      ack.set_capture_note(note);
    }
  } else {
    ack.set_capture_active(false);
    ack.set_capture_note("this agent was built without capture");
  }
  if (services.listeners) {
    // The listener scan takes tens of ms on a busy host: off the io thread.
    auto scan = start_off_io_thread<std::vector<v1::Listener>>(
        executor, [fn = services.listeners, accepted] { return fn(accepted); });
    while (!scan->value) co_await scan->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    for (const auto& l : *scan->value) *ack.add_listeners() = l;
  }
  if (auto ec = co_await port.send(ack_message)) co_return outcome_of(ec);
  *scheduled = false;
  if (pending->has_observation()) {
    v1::Envelope batch = std::move(*pending);
    pending->Clear();
    if (auto ec = co_await port.send(batch)) co_return outcome_of(ec);
  }

  // Host facts (firewall) on a thread of their own: they run external commands.
  // The thread keeps the executor's work until it has posted its result.
  struct host_facts_state {
    explicit host_facts_state(const asio::any_io_executor& ex) : done(ex) {}
    asio::steady_timer done;
    /// What finishes the facts once the SYNs' interfaces are known.
    std::optional<std::function<std::vector<v1::PortFacts>(const std::map<std::uint16_t, std::string>&)>> facts;
    std::string error;  ///< why reading them failed
  };
  auto facts_state = std::make_shared<host_facts_state>(executor);
  if (services.host_facts) {
    facts_state->done.expires_at(asio::steady_timer::time_point::max());
    auto tracked = asio::prefer(executor, asio::execution::outstanding_work.tracked);
    std::thread([fn = services.host_facts, peer, accepted, facts_state, tracked]() mutable {
      const auto started = std::chrono::steady_clock::now();
      std::function<std::vector<v1::PortFacts>(const std::map<std::uint16_t, std::string>&)> facts;
      std::string error;
      try {
        facts = fn(peer, accepted);
      } catch (const std::exception& e) {
        error = e.what();
        log_line("host facts: " + error);
      }
      const auto took = std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started);
      if (took > host_facts_slow) log_line("host facts: reading the host took " + format_duration(took));
      asio::post(tracked, [facts_state = std::move(facts_state), facts = std::move(facts),
                           error = std::move(error)]() mutable {
        facts_state->facts = std::move(facts);
        facts_state->error = std::move(error);
        facts_state->done.cancel();
      });
    }).detach();
  }

  const auto session_end = std::chrono::steady_clock::now() + granted;
  for (;;) {
    auto left = session_end - std::chrono::steady_clock::now();
    if (left <= 0ms) {
      co_await port.send(make_error(v1::Error::TIMEOUT, "session length limit reached"));
      co_return session_outcome::timed_out;
    }
    if (auto ec = co_await port.receive(in, left)) co_return outcome_of(ec);
    if (in.has_ping()) {
      v1::Envelope pong;
      pong.mutable_pong()->set_nonce(in.ping().nonce());
      if (auto ec = co_await port.send(pong)) co_return outcome_of(ec);
      continue;
    }
    if (in.has_probes_done()) break;
    co_return co_await refuse(port, v1::Error::UNEXPECTED_MESSAGE, "unexpected " + body_name(in) + " during capture",
                              session_outcome::protocol_error);
  }

  // done: stop capturing, send what is still batched, then the summary.
  if (pending->has_observation()) {
    co_await port.send(*pending);
    pending->Clear();
  }
  v1::Envelope summary_message;
  auto& summary = *summary_message.mutable_summary();
  if (services.host_facts && !facts_state->facts) {
    facts_state->done.expires_after(config.host_facts_grace);
    co_await facts_state->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  if (facts_state->facts && *facts_state->facts) {
    for (auto& f : (*facts_state->facts)(*syn_interfaces)) *summary.add_ports() = std::move(f);
  } else if (services.host_facts) {
    summary.set_host_facts_missing(
        facts_state->facts ? "reading the host failed: " + facts_state->error
                           : "reading the host (firewall, services) took longer than " +
                                 format_duration(config.host_facts_grace) + " after the probes ended");
    log_line("host facts: " + summary.host_facts_missing());
  }
  if (capture) {
    summary.set_packets_seen(capture->packets_seen());
    summary.set_packets_dropped(capture->packets_dropped());
    summary.set_pcap_file(capture->pcap_file());
    capture.reset();
  }
  co_await port.send(summary_message);
  co_return session_outcome::completed;
}

}  // namespace dropspot::agent
