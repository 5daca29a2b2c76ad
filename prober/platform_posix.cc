// The part of the seam the other POSIX systems share (macOS, the BSDs; Linux
// has its own, platform_linux.cc).
#include <poll.h>
#include <sys/socket.h>

#include "prober/platform.h"

namespace dropspot::prober::platform {

std::optional<int> finished_connect(native_socket socket) {
  pollfd p{};
  p.fd = socket;
  p.events = POLLOUT;
  if (::poll(&p, 1, 0) != 1 || (p.revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return std::nullopt;
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return std::nullopt;
  if (error != 0) return error;
  // No error pending: connected, or failed with the error already read (by
  // the connect operation itself): only a peer address tells.
  sockaddr_storage peer{};
  socklen_t peer_size = sizeof peer;
  if (::getpeername(socket, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) return std::nullopt;
  return 0;
}

}  // namespace dropspot::prober::platform
