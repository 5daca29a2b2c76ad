#pragma once
// One connect probe's socket, from its opening to the end of its connect:
// the part of connect_probe (prober/probe.h) that differs by platform.
//   Linux (connect_socket_linux.cc): the socket is opened non-blocking,
//     connect() is called directly and its end waited for in an epoll set of
//     the probes' own, which Asio's reactor watches as one descriptor. Per
//     attempt that is socket, setsockopt, connect, getsockname, epoll_ctl,
//     getsockopt, close: Asio's async_connect also switches the socket to
//     non-blocking (ioctl), registers it twice (epoll_ctl ADD, then MOD for
//     writability) and polls it once more for the result, and a bind before
//     the connect (so that the source port is known before the SYN leaves)
//     adds bind and getsockname. A 3000-port sweep makes 4000 connects, and
//     each system call costs (docs/benchmarks.md).
//   Elsewhere (connect_socket_asio.cc): Asio's async_connect on a socket bound
//     first (Windows' ICMP watch needs the source port before the SYN).
// One thread, as connect_probe.
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "dropspot.pb.h"
#include "prober/platform.h"

namespace dropspot::prober {

class connect_socket {
 public:
  explicit connect_socket(const asio::any_io_executor& executor);
  ~connect_socket();
  connect_socket(const connect_socket&) = delete;
  connect_socket& operator=(const connect_socket&) = delete;

  /// Opens the socket for target's family, asks for ICMP errors on it
  /// (platform::prepare_probe_socket), sets the TTL (ttl > 0) and the MSS
  /// (mss > 0, platform::set_max_segment). Binds it to `source` and a port
  /// the kernel picks, except where connect() binds it itself and `source`
  /// is the routed address anyway (`routed`): then start() learns the port.
  /// Unset `source`: the routed address. The error, in one line, when a step
  /// fails.
  std::optional<std::string> open(const asio::ip::tcp::endpoint& target, int ttl, int mss,
                                  const std::optional<asio::ip::address>& source, bool routed);

  /// Sends the SYN where the platform lets the connect start before its wait
  /// (Linux); sets a's local address and port (known from here on). An error
  /// here ends the connect at once: finish() returns it.
  void start(const asio::ip::tcp::endpoint& target, v1::Attempt& a);

  /// Waits for the connect's end: no error when connected, the OS's error
  /// otherwise, operation_aborted once cancel() was called (also before).
  asio::awaitable<std::error_code> finish(asio::ip::tcp::endpoint target);

  /// Ends finish()'s wait with operation_aborted; later calls do nothing.
  void cancel();

  /// Sets a's local address where only the SYN's leaving made it final
  /// (a socket bound to the unspecified address); start() set it otherwise.
  void final_source(v1::Attempt& a) const;

  platform::native_socket native_handle() const;

  /// The connected socket, handed over (application probes speak on it).
  asio::ip::tcp::socket release();

 private:
  struct state;
  std::unique_ptr<state> st_;
};

}  // namespace dropspot::prober
