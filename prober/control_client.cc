#include "prober/control_client.h"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <iostream>

#include "common/auth.h"
#include "common/protocol.h"
#include "common/spawn.h"
#include "common/tls.h"
#include "prober/platform.h"
#include "prober/ssh_transport.h"

namespace dropspot::prober {

namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

/// How one attempt at one endpoint ended.
struct attempt_result {
  v1::AgentInfo::Status status = v1::AgentInfo::UNREACHABLE;
  std::string message;
  std::shared_ptr<message_port> port;
  v1::SessionAck ack;
  bool ack_pending = false;  ///< session requested on an armed capture; the ack comes later
  std::string software;
  double rtt_ms = 0;
};

double ms_since(clock::time_point start) {
  return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

std::string error_text(const v1::Error& e) { return v1::Error::Code_Name(e.code()) + ": " + e.message(); }

/// Hello, authentication (on TLS) and the session request, on any transport.
asio::awaitable<attempt_result> negotiate(std::shared_ptr<message_port> port, const control_settings& s,
                                          const v1::SessionStart& start, double connect_ms,
                                          message_port::duration deadline) {
  attempt_result r;
  v1::Envelope in;

  // Hello, and on TLS the authentication proof in the same flight: the MAC
  // depends on the TLS session only, so it need not wait a round trip for
  // the agent's Hello (the agent reads them in order). The session request
  // goes sealed with it: only the agent that knows the token opens it.
  const auto binding = port->channel_binding();
  const auto t0 = clock::now();
  co_await port->send(make_hello("dropspot-prober"));
  if (binding) {
    v1::Envelope auth;
    const auto mac = compute_mac(s.token, prober_auth_label, *binding);
    auth.mutable_auth()->set_mac(mac.data(), mac.size());
    // The session request rides along, sealed (docs/control-protocol.md).
    auth.mutable_auth()->set_sealed_start(seal_session_request(s.token, *binding, start.SerializeAsString()));
    co_await port->send(auth);
  } else {
    // Over SSH the login authenticated both ends: the session request
    // follows the Hello at once (the agent reads it after its AuthOk).
    v1::Envelope start_message;
    *start_message.mutable_start() = start;
    co_await port->send(start_message);
  }
  if (auto ec = co_await port->receive(in, deadline)) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "no hello from the agent: " + ec.message();
    co_return r;
  }
  if (in.has_error()) {
    r.status = v1::AgentInfo::ERROR;
    r.message = error_text(in.error());
    co_return r;
  }
  if (!in.has_hello()) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "agent sent " + body_name(in) + " instead of hello";
    co_return r;
  }
  if (in.hello().protocol_version() != protocol_version) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "VERSION_MISMATCH: the agent speaks protocol " + std::to_string(in.hello().protocol_version()) +
                ", this prober speaks " + std::to_string(protocol_version) + ": update the older side";
    co_return r;
  }
  r.software = in.hello().software();

  // Authentication, both ways, bound to this TLS session. Over SSH the
  // login authenticated us and the agent sends auth_ok straight away.
  if (binding) {
    if (auto ec = co_await port->receive(in, deadline)) {
      r.status = v1::AgentInfo::ERROR;
      r.message = "no answer to authentication: " + ec.message();
      co_return r;
    }
    const double auth_ms = ms_since(t0);
    r.rtt_ms = connect_ms > 0 ? std::min(connect_ms, auth_ms) : auth_ms;
  } else if (auto ec = co_await port->receive(in, deadline)) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "no answer after hello: " + ec.message();
    co_return r;
  }
  if (in.has_error()) {
    r.status = in.error().code() == v1::Error::AUTH_FAILED ? v1::AgentInfo::AUTH_FAILED : v1::AgentInfo::ERROR;
    r.message = in.error().code() == v1::Error::AUTH_FAILED
                    ? "the agent refused our token: use the token the agent was started with"
                    : error_text(in.error());
    co_return r;
  }
  if (!in.has_auth_ok()) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "agent sent " + body_name(in) + " instead of auth_ok";
    co_return r;
  }
  if (binding && !verify_mac(s.token, agent_auth_label, *binding, in.auth_ok().agent_mac())) {
    r.status = v1::AgentInfo::AUTH_FAILED;
    r.message = "the agent could not prove it knows the token: a different agent, or something in between";
    co_return r;
  }

  // Session: taken from the sealed request already, or asked for now.
  if (binding && in.auth_ok().session_started()) {
    // The agent captures already: probing starts now; the receiver reads
    // the SessionAck first (docs/control-protocol.md).
    r.ack_pending = true;
    r.status = v1::AgentInfo::CONNECTED;
    r.port = std::move(port);
    co_return r;
  }
  if (binding) {  // in the clear, now that the agent has proved the token
    v1::Envelope start_message;
    *start_message.mutable_start() = start;
    co_await port->send(start_message);
  }
  if (auto ec = co_await port->receive(in, deadline)) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "no session acknowledgement: " + ec.message();
    co_return r;
  }
  if (in.has_error()) {
    r.status = v1::AgentInfo::ERROR;
    r.message = error_text(in.error());
    co_return r;
  }
  if (!in.has_ack()) {
    r.status = v1::AgentInfo::ERROR;
    r.message = "agent sent " + body_name(in) + " instead of ack";
    co_return r;
  }
  r.ack = in.ack();
  if (!binding) {
    // No handshake timed the path: a ping does (nothing is captured yet).
    v1::Envelope ping;
    ping.mutable_ping()->set_nonce(1);
    const auto sent = clock::now();
    co_await port->send(ping);
    if (auto ec = co_await port->receive(in, deadline); !ec && in.has_pong()) r.rtt_ms = ms_since(sent);
  }
  r.status = v1::AgentInfo::CONNECTED;
  r.port = std::move(port);
  co_return r;
}

asio::awaitable<attempt_result> try_endpoint(const control_settings& s, const endpoint_spec& spec,
                                             const v1::SessionStart& start, asio::ssl::context& tls) {
  attempt_result r;
  auto executor = co_await asio::this_coro::executor;

  // Resolve: the target's own name maps to the address we already resolved.
  std::vector<tcp::endpoint> endpoints;
  if (spec.host == s.target) {
    endpoints.emplace_back(s.target_address, spec.port);
  } else {
    tcp::resolver resolver(executor);
    auto [ec, results] = co_await resolver.async_resolve(spec.host, std::to_string(spec.port),
                                                         asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
      r.message = "cannot resolve " + spec.host + ": " + ec.message();
      co_return r;
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  // Connect, under the per-attempt timeout.
  tcp::socket socket(executor);
  double connect_ms = 0;
  for (const auto& ep : endpoints) {
    socket = tcp::socket(executor);
    // Packets no larger than IPv6's minimum MTU, both ways: the channel must
    // finish on a path that swallows full-size packets (a path-MTU black
    // hole, the very fault it may be there to show). The cost is a few more
    // packets for the host facts. Where the OS refuses, the default stays.
    std::error_code open_failed;
    socket.open(ep.protocol(), open_failed);
    if (!open_failed) (void)platform::set_max_segment(socket.native_handle(), control_mss(ep.address().is_v6()));
    asio::steady_timer timer(executor, s.timeout);
    const auto t0 = clock::now();
    auto outcome = co_await (socket.async_connect(ep, asio::experimental::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) {
      r.message = "no answer within " + format_duration(s.timeout);
      continue;
    }
    if (auto [ec] = std::get<0>(outcome); ec) {
      r.message = ec.message();
      continue;
    }
    connect_ms = ms_since(t0);
    r.message.clear();
    break;
  }
  if (!socket.is_open() || !r.message.empty()) co_return r;
  std::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);

  // TLS handshake.
  auto port = std::make_shared<tls_port>(tls_stream(std::move(socket), tls));
  {
    asio::steady_timer timer(executor, s.timeout * 2);
    auto outcome = co_await (port->stream().async_handshake(asio::ssl::stream_base::client,
                                                            asio::experimental::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 1) {
      r.status = v1::AgentInfo::ERROR;
      r.message = "TCP connected but the TLS handshake got no answer: is this really a dropspot agent?";
      co_return r;
    }
    if (auto [ec] = std::get<0>(outcome); ec) {
      r.status = v1::AgentInfo::ERROR;
      r.message = "TLS handshake failed (" + ec.message() + "): is this really a dropspot agent?";
      co_return r;
    }
  }
  co_return co_await negotiate(port, s, start, connect_ms, s.timeout * 2);
}

}  // namespace

namespace {

/// Over SSH: start ssh running the agent with --stdio, then the same negotiation.
asio::awaitable<attempt_result> try_ssh(const control_settings& s, const v1::SessionStart& start) {
  attempt_result r;
  auto executor = co_await asio::this_coro::executor;
  std::string error;
  auto port = start_ssh(executor, *s.ssh, error);
  if (!port) {
    r.status = v1::AgentInfo::ERROR;
    r.message = error;
    co_return r;
  }
  asio::co_spawn(executor, collect_ssh_stderr(port), on_escape("reading ssh's stderr", report_internal_error));
  // The SSH login and the agent's start take longer than a TLS handshake.
  const auto deadline = std::chrono::seconds(s.ssh->connect_timeout_s) + s.timeout * 2;
  r = co_await negotiate(as_message_port(port), s, start, 0, deadline);
  if (r.status != v1::AgentInfo::CONNECTED) {
    const auto failure = co_await explain_ssh_failure(*port);
    // A refusal spoken by the agent itself is more precise than ssh's exit.
    if (r.message.rfind("no hello", 0) == 0 || r.message.rfind("no answer", 0) == 0 || r.message.empty()) {
      r.status = failure.what == ssh_failure::kind::unreachable   ? v1::AgentInfo::UNREACHABLE
                 : failure.what == ssh_failure::kind::auth_failed ? v1::AgentInfo::AUTH_FAILED
                                                                  : v1::AgentInfo::ERROR;
      r.message = failure.message + "; " + failure.advice;
    }
  }
  co_return r;
}

}  // namespace

asio::awaitable<agent_session> open_agent_session(const control_settings& s, const v1::SessionStart& start) {
  agent_session session;
  auto& info = session.info;
  auto tls = make_prober_tls_context();
  bool auth_failed = false;
  bool errored = false;
  std::string last_message;

  const auto connected = [&](attempt_result& r, const std::string& where, const char* path) -> asio::awaitable<void> {
    info.set_status(v1::AgentInfo::CONNECTED);
    info.set_endpoint(where);
    info.set_path(path);
    info.set_software(r.software);
    info.set_rtt_ms(r.rtt_ms);
    info.set_message("connected to " + where + " via " + path);
    if (r.ack_pending) {
      info.set_capture_active(true);  // the sealed request was taken; the ack confirms the capture
      session.ack_pending = true;
    } else {
      apply_ack(session, r.ack);
    }
    session.port = r.port;
    session.receiver_done =
        std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, clock::time_point::max());
    session.summary_came =
        std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, clock::time_point::max());
  };
  const auto failed = [&](const attempt_result& r, const std::string& where) {
    auth_failed = auth_failed || r.status == v1::AgentInfo::AUTH_FAILED;
    errored = errored || r.status == v1::AgentInfo::ERROR;
    last_message = where + ": " + r.message;
  };

  if (s.ssh) {
    const std::string where = "ssh " + s.ssh->destination;
    auto r = co_await try_ssh(s, start);
    info.add_tried(where + ": " + (r.status == v1::AgentInfo::CONNECTED ? "connected" : r.message));
    if (r.status == v1::AgentInfo::CONNECTED) {
      co_await connected(r, s.ssh->destination, "ssh");
      co_return session;
    }
    failed(r, where);
  }

  for (const auto& spec : s.agents) {
    const std::string where = format_endpoint(spec.host, spec.port);
    if (s.token.empty()) {
      attempt_result r;
      r.status = v1::AgentInfo::AUTH_FAILED;
      r.message =
          "no token: pass --token-file PATH or set DROPSPOT_TOKEN (the agent's `agent token` made it), "
          "use --ssh, or --no-agent";
      info.add_tried(where + ": not tried, no token");
      failed(r, where);
      break;
    }
    auto r = co_await try_endpoint(s, spec, start, tls);
    info.add_tried(where + ": " + (r.status == v1::AgentInfo::CONNECTED ? "connected" : r.message));
    if (r.status == v1::AgentInfo::CONNECTED) {
      co_await connected(r, where, "tls");
      co_return session;
    }
    failed(r, where);
  }
  if (auth_failed) {
    info.set_status(v1::AgentInfo::AUTH_FAILED);
  } else if (errored) {
    info.set_status(v1::AgentInfo::ERROR);
  } else {
    info.set_status(v1::AgentInfo::UNREACHABLE);
  }
  info.set_path(s.ssh ? "ssh" : "tls");
  if (!s.agents.empty() && !s.ssh) info.set_endpoint(format_endpoint(s.agents.back().host, s.agents.back().port));
  info.set_message(last_message);
  co_return session;
}

namespace {

/// The receiver's loop: the pending SessionAck, then observations until the
/// summary, an error or the end.
asio::awaitable<void> receive_until_summary(agent_session& session, agent_stream& stream) {
  v1::Envelope in;
  if (session.ack_pending && session.port) {
    session.ack_pending = false;
    const bool acknowledged = !co_await session.port->receive(in, std::chrono::minutes(1)) && in.has_ack();
    if (acknowledged) {
      apply_ack(session, in.ack());
    } else {
      // Refused (ports not allowed, a bad request) or gone: no agent evidence.
      session.info.set_status(v1::AgentInfo::ERROR);
      session.info.set_capture_active(false);
      session.info.set_message(in.has_error() ? error_text(in.error()) : "the agent sent no session acknowledgement");
      stream.lost = "the session was not acknowledged";
    }
    if (stream.on_ack) stream.on_ack(acknowledged);
    if (!acknowledged) co_return;
  }
  while (session.port) {
    // The agent bounds the session's length itself; this is only a backstop.
    if (auto ec = co_await session.port->receive(in, std::chrono::minutes(10))) {
      if (stream.lost.empty() && !stream.summary)
        stream.lost = "the control channel ended before the agent's summary: " + ec.message();
      co_return;
    }
    if (in.has_observation()) {
      for (const auto& packet : in.observation().packets()) {
        if (packet.port() == 0 || packet.port() > 65535) continue;
        if (stream.keep_packets)
          stream.packets[make_port_key(static_cast<std::uint16_t>(packet.port()), packet.protocol() == v1::UDP)]
              .push_back(packet);
        if (stream.on_packet) stream.on_packet(packet);
      }
    } else if (in.has_summary()) {
      if (stream.summary) {
        stream.lost = "the agent sent a second summary";
        co_return;
      }
      stream.summary = in.summary();
      if (session.summary_came) session.summary_came->cancel();
      if (stream.on_summary) stream.on_summary();
    } else if (in.has_error()) {
      stream.lost = "the agent ended the session: " + error_text(in.error());
      co_return;
    } else if (in.has_pong()) {
      if (stream.on_pong) stream.on_pong(in.pong().nonce());
    } else {
      stream.lost = "the agent sent " + body_name(in) + " during the session";
      co_return;
    }
  }
}

}  // namespace

void apply_ack(agent_session& session, const v1::SessionAck& ack) {
  auto& info = session.info;
  info.set_peer_address(ack.peer_address());
  info.set_peer_origin(ack.peer_origin());
  info.set_hostname(ack.agent_hostname());
  info.set_os(ack.agent_os());
  if (!ack.agent_software().empty()) info.set_software(ack.agent_software());
  info.clear_interfaces();
  for (const auto& i : ack.interfaces()) info.add_interfaces(i);
  info.set_capture_active(ack.capture_active());
  info.clear_refused_ports();
  for (auto p : ack.refused_ports()) info.add_refused_ports(p);
  info.clear_refused_udp_ports();
  for (auto p : ack.refused_udp_ports()) info.add_refused_udp_ports(p);
  if (!ack.capture_active()) info.set_message(info.message() + "; capture not active: " + ack.capture_note());
  session.ack = ack;
}

void report_internal_error(const std::string& what) { std::cerr << "prober: internal error: " << what << "\n"; }

asio::awaitable<void> receive_observations(agent_session& session, agent_stream& stream) {
  auto executor = co_await asio::this_coro::executor;
  if (!session.receiver_done)
    session.receiver_done = std::make_shared<asio::steady_timer>(executor, clock::time_point::max());
  auto done_signal = session.receiver_done;
  // Whatever happens, the stream ends and finish_agent_session wakes.
  try {
    co_await receive_until_summary(session, stream);
  } catch (const std::exception& e) {
    stream.lost = std::string("reading the agent's messages failed: ") + e.what();
  }
  stream.finished = true;
  done_signal->cancel();
  if (session.summary_came) session.summary_came->cancel();
}

void request_summary(agent_session& session, const asio::any_io_executor& executor) {
  if (!session.port || session.summary_requested) return;
  session.summary_requested = true;
  session.summary_requested_us = now_unix_us();
  v1::Envelope done;
  done.mutable_probes_done();
  asio::co_spawn(
      executor, [port = session.port, done]() -> asio::awaitable<void> { co_await port->send(done); },
      on_escape("requesting the agent's summary", report_internal_error));
}

asio::awaitable<std::error_code> finish_agent_session(agent_session& session, agent_stream& stream, millis deadline) {
  if (!session.port) co_return make_error_code(errc::closed);
  if (!stream.finished && !stream.summary) {
    auto executor = co_await asio::this_coro::executor;
    request_summary(session, executor);
    if (session.summary_came) {
      asio::steady_timer timeout(executor, deadline);
      co_await (session.summary_came->async_wait(asio::experimental::as_tuple(asio::use_awaitable)) ||
                timeout.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    }
    if (!stream.summary && !stream.finished)
      stream.lost = "the agent did not send its summary within " + format_duration(deadline);
  }
  // The receiver reads until the channel ends: closing it ends the receiver.
  // With the summary in hand nothing more is to come: the connection just
  // closes (TCP's FIN), with no close_notify exchange (a round trip, and an
  // SSL shutdown that waited beside the receiver's read).
  if (stream.summary) session.port->set_close_wait(std::chrono::milliseconds(0));
  co_await session.port->close();
  // The receiver refers to session and stream, which end with our caller:
  // wait until it has seen the closed channel (its read fails at once).
  if (!stream.finished && session.receiver_done)
    co_await session.receiver_done->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return stream.summary ? std::error_code{} : make_error_code(errc::timeout);
}

}  // namespace dropspot::prober
