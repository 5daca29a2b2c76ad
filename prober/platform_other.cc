// Portable fallback of the seam (Windows, macOS, BSD): connect probes work,
// but the OS does not hand ICMP details to an unprivileged TCP socket, and a
// TTL-limited connect does not fail at once with the router's address.
#include <poll.h>
#include <sys/socket.h>

#include "prober/platform.h"

namespace dropspot::prober::platform {

std::error_code prepare_probe_socket(native_socket, bool) { return {}; }

std::error_code finish_probe_socket(native_socket, bool) { return {}; }

std::optional<icmp_info> read_icmp_error(native_socket, bool) { return std::nullopt; }

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

std::optional<tcp_facts> read_tcp_facts(native_socket) { return std::nullopt; }

int add_system_roots(x509_store_st*) { return 0; }

bool hop_search_available() { return false; }

const char* platform_note() {
  return "ICMP details and hop search are not available on this platform: connect outcomes only";
}

}  // namespace dropspot::prober::platform
