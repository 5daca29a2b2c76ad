// Portable fallback of the seam (Windows, macOS, BSD): connect probes work,
// but the OS does not hand ICMP details to an unprivileged TCP socket, and a
// TTL-limited connect does not fail at once with the router's address.
#include "prober/platform.h"

namespace dropspot::prober::platform {

std::error_code prepare_probe_socket(native_socket, bool) { return {}; }

std::error_code finish_probe_socket(native_socket, bool) { return {}; }

std::optional<icmp_info> read_icmp_error(native_socket, bool) { return std::nullopt; }

std::optional<tcp_facts> read_tcp_facts(native_socket) { return std::nullopt; }

std::error_code set_max_segment(native_socket, int) { return std::make_error_code(std::errc::operation_not_supported); }

std::optional<path_state> read_path_state(native_socket, bool) { return std::nullopt; }

int add_system_roots(x509_store_st*) { return 0; }

bool needs_icmp_watch() { return false; }

const char* icmp_watch_rights_note() { return ""; }

bool hop_search_available() { return false; }

const char* platform_note() {
  return "ICMP details and hop search are not available on this platform: connect outcomes only";
}

}  // namespace dropspot::prober::platform
