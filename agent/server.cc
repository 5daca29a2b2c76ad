#include "agent/server.h"

#include "agent/metrics.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/use_awaitable.hpp>

#include "agent/log.h"
#include "common/message_port.h"
#include "common/protocol.h"
#include "common/spawn.h"
#include "common/tls.h"

namespace dropspot::agent {

namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

/// Logs what escapes a session instead of taking the agent down.
auto log_exception() {
  return on_escape("session ended by an internal error", [](const std::string& what) { log_line(what); });
}

std::string peer_text(const tcp::endpoint& ep) {
  auto address = ep.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string() + " port " + std::to_string(ep.port());
}

}  // namespace

server::server(asio::io_context& io, const options& opts, session_config config, session_services services)
    : io_(io),
      tls_(make_agent_tls_context(opts.state_dir)),
      config_(std::move(config)),
      services_(std::move(services)),
      max_sessions_(opts.max_sessions),
      limits_(source_limits_config{.max_connections = opts.max_per_source}) {
  for (const auto& spec : opts.listen) {
    const auto address = asio::ip::make_address(spec.host);
    const tcp::endpoint endpoint(address, spec.port);
    auto acceptor = std::make_unique<tcp::acceptor>(io_);
    std::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "cannot listen on " + format_endpoint(spec.host, spec.port));
    acceptors_.push_back(std::move(acceptor));
  }
}

std::vector<tcp::endpoint> server::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& a : acceptors_) out.push_back(a->local_endpoint());
  return out;
}

void server::start() {
  for (auto& acceptor : acceptors_) {
    log_line("listening on " + peer_text(acceptor->local_endpoint()));
    asio::co_spawn(io_, accept_loop(*acceptor), log_exception());
  }
}

void server::stop() {
  for (auto& acceptor : acceptors_) {
    std::error_code ignored;
    acceptor->close(ignored);
  }
}

asio::awaitable<void> server::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or similar: say so, breathe, go on.
      log_line("accept failed: " + ec.message());
      asio::steady_timer pause(io_, 100ms);
      co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      continue;
    }
    if (active_ >= max_sessions_) {
      metrics::connection_refused("limits");
      log_refusal("refused " + peer_text(socket.remote_endpoint(ec)) + ": too many sessions");
      socket.close(ec);
      continue;
    }
    const auto remote = socket.remote_endpoint(ec);
    if (ec) continue;
    std::string source = source_key(remote.address());
    const auto admitted = limits_.admit(source, std::chrono::steady_clock::now());
    if (admitted == source_limits::verdict::too_many) {
      // Closed at once: no TLS work for a source that already holds its share.
      metrics::connection_refused("limits");
      log_refusal("refused " + peer_text(remote) + ": " + to_string(admitted));
      socket.close(ec);
      continue;
    }
    asio::co_spawn(io_, handle(std::move(socket), std::move(source), admitted == source_limits::verdict::backing_off),
                   log_exception());
  }
}

void server::log_refusal(const std::string& what) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < 1s) {
    ++refusals_unlogged_;
    return;
  }
  std::string line = what;
  if (refusals_unlogged_ > 0) line += " (and " + std::to_string(refusals_unlogged_) + " more refusals not logged)";
  log_line(line);
  last_refusal_log_ = now;
  refusals_unlogged_ = 0;
}

asio::awaitable<void> server::handle(tcp::socket socket, std::string source, bool backing_off) {
  using namespace asio::experimental::awaitable_operators;
  ++active_;
  struct release {
    std::weak_ptr<const int> server_alive;
    unsigned& n;
    source_limits& limits;
    const std::string& source;
    ~release() {
      if (server_alive.expired()) return;
      --n;
      limits.release(source);
    }
  } guard{alive_, active_, limits_, source};

  std::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  socket.set_option(tcp::no_delay(true), ec);
  auto address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());

  // One deadline covers the TLS handshake and the session's hello and token proof.
  session_config config = config_;
  const auto auth_end = std::chrono::steady_clock::now() + config.auth_deadline;
  auto port = std::make_shared<tls_port>(tls_stream(std::move(socket), tls_));
  asio::steady_timer deadline(io_, config_.auth_deadline);
  auto handshake = co_await (port->stream().async_handshake(asio::ssl::stream_base::server,
                                                            asio::experimental::as_tuple(asio::use_awaitable)) ||
                             deadline.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  if (handshake.index() == 1) {
    metrics::connection_refused("tls");
    log_refusal("TLS handshake from " + peer_text(remote) + " timed out");
    co_return;
  }
  if (auto [hs_ec] = std::get<0>(handshake); hs_ec) {
    metrics::connection_refused("tls");
    log_refusal("TLS handshake from " + peer_text(remote) + " failed: " + hs_ec.message());
    co_return;
  }

  if (backing_off) {
    // Told inside TLS, so the person behind a mistyped token reads why.
    const auto wait = limits_.wait(source, std::chrono::steady_clock::now());
    metrics::connection_refused("backing off");
    log_refusal("refused " + peer_text(remote) + ": " + to_string(source_limits::verdict::backing_off));
    co_await port->send(make_error(v1::Error::TOO_MANY_SESSIONS,
                                   std::to_string(limits_.failures(source)) + " failed authentications from " + source +
                                       ": try again in " + std::to_string((wait.count() + 999) / 1000) + " s"));
    co_await port->close();
    co_return;
  }

  config.auth_deadline = std::max<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(auth_end - std::chrono::steady_clock::now()), 1ms);
  const auto outcome = co_await run_session(port, address, remote.port(), config, services_);
  if (outcome == session_outcome::auth_failed) limits_.auth_failed(source, std::chrono::steady_clock::now());
  if (outcome == session_outcome::completed) limits_.auth_succeeded(source);
  metrics::session_ended(to_string(outcome));
  const std::string line = "session from " + peer_text(remote) + ": " + to_string(outcome);
  if (outcome == session_outcome::completed)
    log_line(line);
  else
    log_refusal(line);
  co_await port->close();
}

}  // namespace dropspot::agent
