#pragma once
// Accepts control connections, runs the TLS handshake under a deadline and
// one session per connection, within the configured limits.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <memory>
#include <vector>

#include "agent/limits.h"
#include "agent/options.h"
#include "agent/session.h"

namespace dropspot::agent {

class server {
 public:
  /// Binds every --listen address; throws std::system_error naming the
  /// address when one cannot be bound.
  server(asio::io_context& io, const options& opts, session_config config, session_services services);

  /// Starts accepting; returns at once.
  void start();
  /// Stops accepting and ends open sessions.
  void stop();

  /// The bound endpoints (ports resolved when 0 was asked).
  std::vector<asio::ip::tcp::endpoint> endpoints() const;

 private:
  asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor);
  /// One admitted connection: handshake, session, then release of its slot.
  asio::awaitable<void> handle(asio::ip::tcp::socket socket, std::string source, bool backing_off);
  /// Logs a refused connection, at most one line per second (the rest counted).
  void log_refusal(const std::string& what);

  asio::io_context& io_;
  asio::ssl::context tls_;
  session_config config_;
  session_services services_;
  unsigned max_sessions_;
  unsigned active_ = 0;
  source_limits limits_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  unsigned refusals_unlogged_ = 0;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  /// Expires with the server. The frames of handle() may outlive it (an
  /// io_context destroyed after the server destroys them, unfinished); their
  /// slot release checks this before touching active_ and limits_.
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

}  // namespace dropspot::agent
