#include "agent/session.h"

#include "agent/metrics.h"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/this_coro.hpp>
#include <chrono>
#include <semaphore>
#include <map>
#include <optional>
#include <thread>

#include "agent/log.h"
#include "common/auth.h"
#include "common/duration.h"
#include "common/net.h"
#include "common/text.h"
#include "common/protocol.h"
#include "common/spawn.h"

namespace dropspot::agent {

namespace {

using namespace std::chrono_literals;

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
/// `executor`. The io_context's work is held from the start until the posted
/// result has run, and given back on the io thread: once the result has
/// landed, the thread holds nothing of the io_context, which may then end.
/// (A plain function, not a coroutine: GCC 12 mishandles temporaries passed
/// into co_await expressions.)
/// Host readings at once, at most: fifty sessions starting together would
/// otherwise hold fifty rulesets, program outputs and parse trees at the same
/// moment (the agent's memory target, docs/benchmarks.md); the others wait
/// their turn, well within the summary's grace.
constexpr std::ptrdiff_t max_host_readings = 8;

template <class T, class F>
std::shared_ptr<off_thread_result<T>> start_off_io_thread(const asio::any_io_executor& executor, F fn) {
  static std::counting_semaphore<max_host_readings> readings(max_host_readings);
  auto st = std::make_shared<off_thread_result<T>>(executor);
  std::thread([fn = std::move(fn), st, executor, work = asio::make_work_guard(executor)]() mutable {
    T value{};
    readings.acquire();
    try {
      value = fn();
    } catch (const std::exception& e) {
      log_line(std::string("host inspection: ") + e.what());
    }
    readings.release();
    asio::post(executor, [st = std::move(st), value = std::move(value), work = std::move(work)]() mutable {
      st->value = std::move(value);
      st->done.cancel();
      work.reset();
    });
  }).detach();
  return st;
}

}  // namespace

/// Plain ACK/data packets forwarded per flow at most; beyond them, the
/// service's data segments sent again (a retransmission: the same sequence
/// number as one sent before, with data), the sign of a path that loses
/// them (a path-MTU black hole loses every full-size one), up to a cap.
constexpr unsigned max_acks_per_flow = 4;
constexpr unsigned max_resent_per_flow = 8;
constexpr std::size_t max_seqs_per_flow = 256;

namespace {

/// What the sink remembers of one flow's plain ACK/data packets.
struct flow_tally {
  unsigned acks = 0;
  unsigned resent = 0;
  std::vector<std::uint32_t> sent_seqs;  ///< the service's data segments' sequence numbers, the first max_seqs_per_flow
};

/// Whether a plain ACK/data packet goes to the prober.
bool forward_ack(const v1::PacketEvent& event, flow_tally& t) {
  const bool data_out = event.direction() == v1::PacketEvent::OUTBOUND && event.length() > 0;
  if (data_out) {
    const bool resent = std::find(t.sent_seqs.begin(), t.sent_seqs.end(), event.seq()) != t.sent_seqs.end();
    if (resent) return ++t.resent <= max_resent_per_flow;
    if (t.sent_seqs.size() < max_seqs_per_flow) t.sent_seqs.push_back(event.seq());
  }
  return ++t.acks <= max_acks_per_flow;
}

}  // namespace

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

std::vector<asio::ip::address> capture_request::addresses() const {
  std::vector<asio::ip::address> all{peer};
  all.insert(all.end(), also.begin(), also.end());
  return all;
}

bool accept_prober_addresses(const google::protobuf::RepeatedPtrField<std::string>& given,
                             const asio::ip::address& peer, std::vector<asio::ip::address>& out, std::string& why) {
  out.clear();
  if (static_cast<std::size_t>(given.size()) > max_prober_addresses) {
    why = "at most " + std::to_string(max_prober_addresses) + " prober addresses besides the peer";
    return false;
  }
  for (const auto& text : given) {
    const auto parsed = parse_ip(text);
    if (!parsed || parsed->is_unspecified() || parsed->is_multicast()) {
      why = "prober address " + quote(text.substr(0, 64)) + ": not a unicast IP address";
      return false;
    }
    const auto a = unmapped(*parsed);
    if (a == unmapped(peer) || std::find(out.begin(), out.end(), a) != out.end()) continue;
    out.push_back(a);
  }
  return true;
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

namespace {

/// What reading the host's facts yields: the function that finishes them
/// once the SYNs' interfaces are known, or why there is none.
struct host_facts_result {
  std::function<std::vector<v1::PortFacts>(const std::map<port_key, std::string>&)> finish;
  std::string error;
};

/// One session, one function per state: await_hello -> await_auth ->
/// await_start -> capturing -> done. A state returns the session's outcome
/// when the session ends there, nothing when the next state follows.
class session_states {
 public:
  session_states(std::shared_ptr<message_port> port, asio::ip::address peer, std::uint16_t peer_port,
                 const session_config& config, const session_services& services)
      : port_ptr_(std::move(port)),
        port_(*port_ptr_),
        peer_(std::move(peer)),
        peer_port_(peer_port),
        config_(config),
        services_(services),
        auth_deadline_(std::chrono::steady_clock::now() + config.auth_deadline) {}

  asio::awaitable<session_outcome> run() {
    if (auto end = co_await await_hello()) co_return *end;
    if (auto end = co_await await_auth()) co_return *end;
    if (auto end = co_await await_start()) co_return *end;
    if (auto end = co_await capturing()) co_return *end;
    co_return co_await done();
  }

 private:
  using step = std::optional<session_outcome>;

  std::chrono::steady_clock::duration auth_time_left() const {
    return std::max<std::chrono::steady_clock::duration>(auth_deadline_ - std::chrono::steady_clock::now(), 1ms);
  }

  asio::awaitable<step> await_hello() {
    if (auto ec = co_await port_.receive(in_, auth_time_left())) co_return outcome_of(ec);
    if (!in_.has_hello())
      co_return co_await refuse(port_, v1::Error::UNEXPECTED_MESSAGE, "expected hello, got " + body_name(in_),
                                session_outcome::protocol_error);
    if (in_.hello().protocol_version() != protocol_version)
      co_return co_await refuse(port_, v1::Error::VERSION_MISMATCH,
                                "agent speaks protocol " + std::to_string(protocol_version) + ", prober speaks " +
                                    std::to_string(in_.hello().protocol_version()) + ": update the older side",
                                session_outcome::version_mismatch);
    auto hello = make_hello("dropspot-agent");
    hello.mutable_hello()->add_capabilities("capture");
    hello.mutable_hello()->add_capabilities("listeners");
    if (auto ec = co_await port_.send(hello)) co_return outcome_of(ec);
    co_return std::nullopt;
  }

  /// Over TLS the prober proves the token bound to this connection; over
  /// --stdio the SSH login has authenticated it already.
  asio::awaitable<step> await_auth() {
    const auto binding = port_.channel_binding();
    if (config_.require_token || binding) {
      if (auto ec = co_await port_.receive(in_, auth_time_left())) co_return outcome_of(ec);
      if (!in_.has_auth())
        co_return co_await refuse(port_, v1::Error::UNEXPECTED_MESSAGE, "expected auth, got " + body_name(in_),
                                  session_outcome::protocol_error);
      if (config_.token.empty() || !binding ||
          !verify_mac(config_.token, prober_auth_label, *binding, in_.auth().mac()))
        co_return co_await refuse(port_, v1::Error::AUTH_FAILED, "authentication failed: the token does not match",
                                  session_outcome::auth_failed);
    }
    v1::Envelope ok;
    ok.mutable_auth_ok()->set_path(port_.path());
    // The session request may come sealed with the proof (a round trip
    // sooner): the capture and the host reading start now.
    if (binding && !in_.auth().sealed_start().empty()) {
      executor_ = co_await asio::this_coro::executor;
      if (take_sealed_start(*binding, in_.auth().sealed_start())) {
        start_capture_and_facts();
        ok.mutable_auth_ok()->set_session_started(true);
      }
    }
    if (binding && !config_.token.empty()) {
      const auto mac = compute_mac(config_.token, agent_auth_label, *binding);
      ok.mutable_auth_ok()->set_agent_mac(mac.data(), mac.size());
    }
    if (auto ec = co_await port_.send(ok)) co_return outcome_of(ec);
    co_return std::nullopt;
  }

  /// Checks a session request and takes its ports and length; false, with
  /// the error to send, when it cannot be served.
  bool accept_start(const v1::SessionStart& start, v1::Error::Code& code, std::string& why) {
    const auto requested =
        static_cast<std::size_t>(start.ports_size()) + static_cast<std::size_t>(start.udp_ports_size());
    if (requested == 0 || requested > config_.max_ports) {
      code = v1::Error::BAD_REQUEST;
      why = "a session covers 1 to " + std::to_string(config_.max_ports) + " ports";
      return false;
    }
    accepted_.clear();
    refused_.clear();
    accepted_udp_.clear();
    refused_udp_.clear();
    split_allowed_ports({start.ports().begin(), start.ports().end()}, config_.allow_ports, accepted_, refused_);
    // --allow-ports names port numbers: a number allowed is allowed for both transports.
    split_allowed_ports({start.udp_ports().begin(), start.udp_ports().end()}, config_.allow_ports, accepted_udp_,
                        refused_udp_);
    if (accepted_.empty() && accepted_udp_.empty()) {
      code = v1::Error::PORT_NOT_ALLOWED;
      why = "none of the requested ports is allowed by this agent's --allow-ports";
      return false;
    }
    if (!accept_prober_addresses(start.prober_addresses(), peer_, also_, why)) {
      code = v1::Error::BAD_REQUEST;
      return false;
    }
    if (!also_.empty()) {
      std::string list;
      for (const auto& a : also_) list += " " + a.to_string();
      log_line("session with " + peer_.to_string() + ": also captures for its addresses" + list);
    }
    granted_ = config_.max_session;
    if (start.max_duration_ms() > 0)
      granted_ = std::min<std::chrono::milliseconds>(granted_, std::chrono::milliseconds(start.max_duration_ms()));
    return true;
  }

  /// The session request sealed with the prober's proof (AuthProof
  /// .sealed_start): true when it opens, parses and can be served. Otherwise
  /// the prober sends it again in the clear and await_start says what is wrong.
  bool take_sealed_start(const std::array<std::uint8_t, exporter_size>& binding, const std::string& sealed) {
    auto plain = open_session_request(config_.token, binding, sealed);
    v1::SessionStart start;
    v1::Error::Code code{};
    std::string why;
    if (!plain || !start.ParseFromString(*plain) || !accept_start(start, code, why)) return false;
    started_early_ = true;
    return true;
  }

  asio::awaitable<step> await_start() {
    if (started_early_) co_return std::nullopt;
    if (auto ec = co_await port_.receive(in_, auth_time_left())) co_return outcome_of(ec);
    if (!in_.has_start())
      co_return co_await refuse(port_, v1::Error::UNEXPECTED_MESSAGE, "expected start, got " + body_name(in_),
                                session_outcome::protocol_error);
    v1::Error::Code code{};
    std::string why;
    if (!accept_start(in_.start(), code, why))
      co_return co_await refuse(port_, code, why, session_outcome::protocol_error);
    co_return std::nullopt;
  }

  /// The capture (its packets held until the ack has gone) and the host
  /// facts (on a thread of their own, until the summary needs them), as
  /// soon as the ports are known.
  void start_capture_and_facts() {
    if (services_.start_capture) {
      capture_ =
          services_.start_capture({peer_, accepted_, accepted_udp_, also_}, packet_sink_for_prober(), capture_note_);
    } else {
      capture_note_ = "this agent was built without capture";
    }
    if (services_.host_facts)
      facts_ = start_off_io_thread<host_facts_result>(
          executor_, [fn = services_.host_facts, peers = capture_request{peer_, {}, {}, also_}.addresses(),
                      accepted = accepted_, udp = accepted_udp_] {
            const auto started = std::chrono::steady_clock::now();
            host_facts_result r;
            try {
              r.finish = fn(peers, accepted, udp);
            } catch (const std::exception& e) {
              r.error = e.what();
              log_line("host facts: " + r.error);
            }
            const auto took = std::chrono::duration_cast<millis>(std::chrono::steady_clock::now() - started);
            if (took > host_facts_slow) log_line("host facts: reading the host took " + format_duration(took));
            return r;
          });
  }

  /// Acknowledges, captures and streams the prober's packets until the prober
  /// closes; answers Pings as barriers and ProbesDone with the summary.
  asio::awaitable<step> capturing() {
    executor_ = co_await asio::this_coro::executor;
    v1::Envelope ack_message;
    auto& ack = *ack_message.mutable_ack();
    ack.set_peer_address(peer_.to_string());
    ack.add_capture_addresses(peer_.to_string());
    for (const auto& a : also_) ack.add_capture_addresses(a.to_string());
    ack.set_peer_port(peer_port_);
    ack.set_peer_origin(config_.peer_origin);
    ack.set_agent_hostname(config_.hostname);
    ack.set_agent_os(config_.os_name);
    ack.set_agent_software("dropspot-agent " + std::string(software_version));
    for (auto p : accepted_) ack.add_ports(p);
    for (auto p : refused_) ack.add_refused_ports(p);
    for (auto p : accepted_udp_) ack.add_udp_ports(p);
    for (auto p : refused_udp_) ack.add_refused_udp_ports(p);
    ack.set_agent_time_unix_us(now_unix_us());
    ack.set_max_duration_ms(static_cast<std::uint32_t>(granted_.count()));

    if (!started_early_) start_capture_and_facts();
    ack.set_capture_active(capture_ != nullptr);
    if (!capture_) ack.set_capture_note(capture_note_);
    for (const auto& i : capture_ ? capture_->interfaces() : std::vector<std::string>{}) ack.add_interfaces(i);
    if (services_.listeners) {
      // The listener scan takes tens of ms on a busy host: off the io thread.
      auto scan = start_off_io_thread<std::vector<v1::Listener>>(
          executor_,
          [fn = services_.listeners, accepted = accepted_, udp = accepted_udp_] { return fn(accepted, udp); });
      while (!scan->value) co_await scan->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      for (const auto& l : *scan->value) *ack.add_listeners() = l;
    }
    if (auto ec = co_await port_.send(ack_message)) co_return outcome_of(ec);
    *scheduled_ = false;
    if (pending_->has_observation()) {
      v1::Envelope batch = std::move(*pending_);
      pending_->Clear();
      if (auto ec = co_await port_.send(batch)) co_return outcome_of(ec);
    }

    const auto session_end = std::chrono::steady_clock::now() + granted_;
    for (;;) {
      auto left = session_end - std::chrono::steady_clock::now();
      if (left <= 0ms) {
        co_await port_.send(make_error(v1::Error::TIMEOUT, "session length limit reached"));
        co_return session_outcome::timed_out;
      }
      if (auto ec = co_await port_.receive(in_, left)) {
        // After the summary the prober closes when its probes are done.
        if (summarized_ && outcome_of(ec) == session_outcome::closed) co_return std::nullopt;
        co_return outcome_of(ec);
      }
      if (in_.has_ping()) {
        // A barrier: the prober decides "the SYN never arrived" from it.
        if (auto ec = co_await send_captured()) co_return outcome_of(ec);
        v1::Envelope pong;
        pong.mutable_pong()->set_nonce(in_.ping().nonce());
        if (auto ec = co_await port_.send(pong)) co_return outcome_of(ec);
        continue;
      }
      if (in_.has_probes_done() && !summarized_) {
        if (auto ec = co_await send_summary()) co_return outcome_of(ec);
        continue;
      }
      co_return co_await refuse(port_, v1::Error::UNEXPECTED_MESSAGE,
                                "unexpected " + body_name(in_) + " during capture", session_outcome::protocol_error);
    }
  }

  /// Reads the capture's ring now (not on the next turn of the loop) and
  /// sends what is batched: whatever is sent next comes after every packet
  /// captured so far (the barrier of a Pong or of the summary).
  asio::awaitable<std::error_code> send_captured() {
    if (capture_) capture_->drain();
    if (!pending_->has_observation()) co_return std::error_code{};
    // Taken out before the send: a flush posted earlier runs while the send
    // waits and would send the same packets again (seen on a real host: each
    // SYN twice, read as a retransmission).
    v1::Envelope batch = std::move(*pending_);
    pending_->Clear();
    co_return co_await port_.send(batch);
  }

  /// The session ended (the prober closed after the summary): stop capturing.
  asio::awaitable<session_outcome> done() {
    capture_.reset();
    co_return session_outcome::completed;
  }

  /// At ProbesDone: what is captured so far (a barrier, like a Ping's), then
  /// the summary with the host facts (waiting for them within the grace).
  /// The capture goes on until the prober closes: its application probes
  /// and late packets still count.
  asio::awaitable<std::error_code> send_summary() {
    summarized_ = true;
    if (auto ec = co_await send_captured()) co_return ec;
    v1::Envelope summary_message;
    auto& summary = *summary_message.mutable_summary();
    if (facts_ && !facts_->value) {
      facts_->done.expires_after(config_.host_facts_grace);
      co_await facts_->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    if (facts_ && facts_->value && facts_->value->finish) {
      for (auto& f : facts_->value->finish(*syn_interfaces_)) *summary.add_ports() = std::move(f);
    } else if (facts_) {
      summary.set_host_facts_missing(facts_->value
                                         ? "reading the host failed: " + facts_->value->error
                                         : "reading the host (firewall, services) took longer than " +
                                               format_duration(config_.host_facts_grace) + " after the probes ended");
      log_line("host facts: " + summary.host_facts_missing());
      metrics::inspection_error("host-facts");
    }
    if (capture_) {
      summary.set_packets_seen(capture_->packets_seen());
      summary.set_packets_dropped(capture_->packets_dropped());
      metrics::capture_dropped(capture_->packets_dropped());
      summary.set_pcap_file(capture_->pcap_file());
    }
    co_return co_await port_.send(summary_message);
  }

  /// Where captured packets go: batched per turn of the event loop into one
  /// Observation and sent through the port's write queue, so the capture
  /// callback never waits. Held (as if a flush were scheduled) until the ack
  /// has gone: the prober expects the ack before any observation. The
  /// control connection itself (its source port is peer_port) is never
  /// evidence: over SSH on a port under test it would feed on itself. Plain
  /// ACK/data packets are capped per flow: the handshake is what counts.
  packet_sink packet_sink_for_prober() {
    auto acks = std::make_shared<std::map<std::uint64_t, flow_tally>>();
    return [port_ptr = port_ptr_, pending = pending_, scheduled = scheduled_, executor = executor_,
            peer_port = peer_port_, acks, syn_interfaces = syn_interfaces_](const v1::PacketEvent& event) {
      const auto client_port = event.direction() == v1::PacketEvent::INBOUND ? event.src_port() : event.dst_port();
      if (peer_port != 0 && client_port == peer_port && event.protocol() != v1::UDP) return;
      if (event.direction() == v1::PacketEvent::INBOUND &&
          (event.kind() == v1::PacketEvent::SYN || event.kind() == v1::PacketEvent::DATAGRAM) &&
          !event.interface().empty())
        syn_interfaces->emplace(make_port_key(static_cast<std::uint16_t>(event.port()), event.protocol() == v1::UDP),
                                event.interface());
      if (event.kind() == v1::PacketEvent::ACK &&
          !forward_ack(event, (*acks)[(std::uint64_t{client_port} << 16) | event.port()]))
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
            on_escape("sending observations", [](const std::string& what) { log_line(what); }));
      });
    };
  }

  std::shared_ptr<message_port> port_ptr_;
  message_port& port_;
  const asio::ip::address peer_;
  const std::uint16_t peer_port_;
  const session_config& config_;
  const session_services& services_;
  const std::chrono::steady_clock::time_point auth_deadline_;
  v1::Envelope in_;

  // await_start's findings
  std::vector<std::uint16_t> accepted_, refused_;
  std::vector<std::uint16_t> accepted_udp_, refused_udp_;
  std::vector<asio::ip::address> also_;  ///< the prober's other addresses
  std::chrono::milliseconds granted_{0};

  // capturing, then done
  asio::any_io_executor executor_;
  std::unique_ptr<capture_handle> capture_;
  std::string capture_note_;    ///< why the capture did not start
  bool started_early_ = false;  ///< the request came sealed with the proof
  bool summarized_ = false;     ///< ProbesDone came and the summary went
  std::shared_ptr<v1::Envelope> pending_ = std::make_shared<v1::Envelope>();
  std::shared_ptr<bool> scheduled_ = std::make_shared<bool>(true);
  /// The interface each port's first inbound SYN arrived on, for the host facts.
  std::shared_ptr<std::map<port_key, std::string>> syn_interfaces_ =
      std::make_shared<std::map<port_key, std::string>>();
  std::shared_ptr<off_thread_result<host_facts_result>> facts_;
};

}  // namespace

asio::awaitable<session_outcome> run_session(std::shared_ptr<message_port> port, asio::ip::address peer,
                                             std::uint16_t peer_port, const session_config& config,
                                             const session_services& services) {
  session_states session(std::move(port), std::move(peer), peer_port, config, services);
  co_return co_await session.run();
}

}  // namespace dropspot::agent
