#pragma once
// The session logic of both ends talks to a message_port, whatever carries
// it: TLS over TCP, or the pipes of an SSH session (stdio).
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <memory>
#include <optional>

#include "common/auth.h"
#include "common/channel.h"

namespace dropspot {

class message_port {
 public:
  using duration = std::chrono::steady_clock::duration;
  virtual ~message_port() = default;
  virtual asio::awaitable<std::error_code> receive(v1::Envelope& out, duration deadline) = 0;
  virtual asio::awaitable<std::error_code> send(const v1::Envelope& message) = 0;
  /// Orderly close (TLS close_notify where there is one), bounded in time.
  virtual asio::awaitable<void> close() = 0;
  /// How long close() waits for the peer's own close_notify (500 ms unless
  /// set); 0: no close_notify at all, the TCP connection just closes (a
  /// side that has everything it needs; the framing tells complete
  /// messages from a cut, so the peer reads it as the end).
  virtual void set_close_wait(std::chrono::milliseconds wait) { (void)wait; }
  /// The channel-binding value for token authentication; none on paths
  /// authenticated otherwise (SSH).
  virtual std::optional<std::array<std::uint8_t, exporter_size>> channel_binding() = 0;
  /// "tls" or "stdio".
  virtual const char* path() const = 0;
};

using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;

/// A message_port over an established TLS stream.
class tls_port final : public message_port {
 public:
  explicit tls_port(tls_stream stream) : stream_(std::move(stream)), channel_(stream_) {}
  asio::awaitable<std::error_code> receive(v1::Envelope& out, duration deadline) override {
    return channel_.receive(out, deadline);
  }
  asio::awaitable<std::error_code> send(const v1::Envelope& message) override { return channel_.send(message); }
  asio::awaitable<void> close() override;
  void set_close_wait(std::chrono::milliseconds wait) override { close_wait_ = wait; }
  std::optional<std::array<std::uint8_t, exporter_size>> channel_binding() override;
  const char* path() const override { return "tls"; }
  tls_stream& stream() { return stream_; }

 private:
  tls_stream stream_;
  message_channel<tls_stream> channel_;
  std::chrono::milliseconds close_wait_{500};
};

}  // namespace dropspot
