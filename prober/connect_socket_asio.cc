// prober/connect_socket.h off Linux (Windows, macOS, the BSDs): Asio's
// async_connect on a socket bound first, so that the source port is known
// before the SYN leaves (Windows' ICMP watch matches its errors by it).
#include <asio/ip/unicast.hpp>

#include "common/awaitable.h"
#include "prober/connect_socket.h"
#include "prober/probe.h"

namespace dropspot::prober {

struct connect_socket::state {
  explicit state(const asio::any_io_executor& executor) : socket(executor) {}
  asio::ip::tcp::socket socket;
  bool cancelled = false;
};

connect_socket::connect_socket(const asio::any_io_executor& executor) : st_(std::make_unique<state>(executor)) {}

connect_socket::~connect_socket() = default;

std::optional<std::string> connect_socket::open(const asio::ip::tcp::endpoint& target, int ttl, int mss,
                                                const std::optional<asio::ip::address>& source, bool /*routed*/) {
  auto& socket = st_->socket;
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (ec) return "cannot open a socket: " + ec.message();
  // Without it there are no ICMP details, but the probe still works.
  (void)platform::prepare_probe_socket(
      platform::native_socket(static_cast<asio::detail::socket_type>(socket.native_handle())),
      target.address().is_v6());
  if (ttl > 0) {
    socket.set_option(asio::ip::unicast::hops(ttl), ec);
    if (ec) return "cannot set the TTL: " + ec.message();
  }
  if (mss > 0) {
    if (auto failed = platform::set_max_segment(socket.native_handle(), mss))
      return "cannot set the MSS to " + std::to_string(mss) + ": " + failed.message();
  }
  // The source address the options name, else the one the routing table
  // picks for the target, and a port the kernel picks.
  auto local = source;
  if (!local) local = route_source_address(socket.get_executor(), target.address());
  if (local) {
    socket.bind(asio::ip::tcp::endpoint(*local, 0), ec);
    if (!ec) return std::nullopt;
    ec.clear();  // the address may have gone away: let the kernel pick the whole source
  }
  socket.bind(asio::ip::tcp::endpoint(target.protocol(), 0), ec);
  if (ec) return "cannot bind a source port: " + ec.message();
  return std::nullopt;
}

void connect_socket::start(const asio::ip::tcp::endpoint& /*target*/, v1::Attempt& a) {
  std::error_code ec;
  if (auto bound = st_->socket.local_endpoint(ec); !ec) {
    a.set_local_address(bound.address().to_string());
    a.set_local_port(bound.port());
  }
}

asio::awaitable<std::error_code> connect_socket::finish(asio::ip::tcp::endpoint target) {
  if (st_->cancelled) co_return std::error_code(asio::error::operation_aborted);
  auto [ec] = co_await st_->socket.async_connect(target, as_tuple_awaitable);
  co_return ec;
}

void connect_socket::cancel() {
  if (st_->cancelled) return;
  st_->cancelled = true;
  std::error_code ignored;
  st_->socket.cancel(ignored);
}

void connect_socket::final_source(v1::Attempt& a) const {
  std::error_code ec;
  if (auto bound = st_->socket.local_endpoint(ec); !ec && !bound.address().is_unspecified())
    a.set_local_address(bound.address().to_string());
}

platform::native_socket connect_socket::native_handle() const {
  return platform::native_socket(static_cast<asio::detail::socket_type>(st_->socket.native_handle()));
}

asio::ip::tcp::socket connect_socket::release() { return std::move(st_->socket); }

}  // namespace dropspot::prober
