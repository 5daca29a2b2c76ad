#include "common/message_port.h"

#include <asio/experimental/awaitable_operators.hpp>

#include "common/tls.h"

namespace dropspot {

asio::awaitable<void> tls_port::close() {
  std::error_code ignored;
  if (close_wait_.count() == 0) {  // nothing left to learn from the peer: TCP's FIN only
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
    co_return;
  }
  // close_notify, but never wait long for a peer that does not answer it.
  asio::steady_timer timer(stream_.get_executor(), close_wait_);
  auto done = std::make_shared<bool>(false);
  timer.async_wait([this, done](std::error_code ec) {
    if (!ec && !*done) stream_.lowest_layer().cancel();
  });
  co_await stream_.async_shutdown(asio::experimental::as_tuple(asio::use_awaitable));
  *done = true;
  timer.cancel();
  stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
}

std::optional<std::array<std::uint8_t, exporter_size>> tls_port::channel_binding() {
  return export_channel_binding(stream_.native_handle());
}

}  // namespace dropspot
