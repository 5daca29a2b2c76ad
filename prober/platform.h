#pragma once
// The prober's seam to the operating system: everything that needs more than
// portable sockets lives behind these functions. platform_linux.cc implements
// them with IP_RECVERR / the socket error queue / TCP_INFO; platform_windows.cc
// with SIO_TCP_INFO; platform_other.cc is the fallback for macOS and the BSDs.
// Off Linux, connect probes still work but carry no ICMP details and hop
// search is not available: the report says so in a note (platform_note).
// On Windows a raw ICMP socket (prober/icmp_watch.h, administrator rights)
// gives both back: needs_icmp_watch().
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>

struct x509_store_st;  // OpenSSL's X509_STORE

namespace dropspot::prober::platform {

using native_socket = asio::ip::tcp::socket::native_handle_type;

/// An ICMP (IPv4) or ICMPv6 (IPv6) error the kernel queued for a socket.
struct icmp_info {
  std::string from;        ///< the offender: the router or host that sent it
  std::uint32_t type = 0;  ///< ICMP type for IPv4, ICMPv6 type for IPv6
  std::uint32_t code = 0;
  int error = 0;  ///< the errno the kernel mapped it to (0 if none)
};

/// The MSS our SYN carried, from TCP_INFO's advmss read after the handshake:
/// once both sides agreed on timestamps, Linux lowers advmss by the 12 bytes
/// the option takes in every segment (tcp_rcv_synsent_state_process), but the
/// SYN itself went out before that. 0 stays 0 (unknown).
constexpr std::uint32_t syn_mss_from_advmss(std::uint32_t advmss, bool timestamps) {
  return advmss == 0 ? 0 : advmss + (timestamps ? 12 : 0);
}

/// Facts about a connected TCP socket, for evidence.
struct tcp_facts {
  std::uint32_t mss = 0;      ///< send MSS: the peer's MSS option, lowered by the path MTU
  std::uint32_t rtt_us = 0;   ///< smoothed round-trip time
  std::uint32_t adv_mss = 0;  ///< the MSS our own SYN advertised (0: unknown; see syn_mss_from_advmss)
};

/// Before connect: asks for ICMP errors to be reported on the socket (Linux:
/// IP_RECVERR or IPV6_RECVERR, so they also abort a SYN_SENT connect at once
/// and land on the error queue). Succeeds as a no-op where unsupported.
std::error_code prepare_probe_socket(native_socket socket, bool v6);

/// After a successful connect: back to the default (IP_RECVERR off), so the
/// established connection treats ICMP errors as soft errors again, as any
/// client would. Succeeds as a no-op where unsupported.
std::error_code finish_probe_socket(native_socket socket, bool v6);

/// After a failed connect: the last ICMP error queued on the socket, if any.
/// Drains the error queue. Never blocks.
std::optional<icmp_info> read_icmp_error(native_socket socket, bool v6);

/// A connect the caller is about to give up on (its deadline, or a decision
/// to end it): the kernel's outcome if it already has one, read without
/// blocking: 0 connected, else the socket's error (SO_ERROR); nullopt while
/// the SYN is still unanswered, or when the error was read already (by the
/// connect operation). A loop slowed by load may see a deadline before the
/// completion that was already there.
std::optional<int> finished_connect(native_socket socket);

/// After a successful connect: MSS and RTT, where the OS tells them.
std::optional<tcp_facts> read_tcp_facts(native_socket socket);

/// Before connect: the largest segment the connection sends and asks the
/// peer to send (TCP_MAXSEG: our SYN advertises it), so that no packet of it,
/// either way, is larger than mss plus the headers: the path-MTU search's
/// tool (prober/mtu_search.h). An error where the OS does not allow it.
std::error_code set_max_segment(native_socket socket, int mss);

/// A connected TCP socket's view of its path, for the path-MTU search.
struct path_state {
  std::uint32_t unacked = 0;   ///< bytes written that the peer has not acknowledged (sent or not)
  std::uint32_t path_mtu = 0;  ///< the path MTU the kernel holds for the peer (IP_MTU / IPV6_MTU); 0: unknown
  std::uint32_t rcv_mss = 0;   ///< the largest segment payload received, as the kernel estimates it; 0: unknown
};

/// nullopt where the OS does not tell (then no direction can be named).
std::optional<path_state> read_path_state(native_socket socket, bool v6);

/// True where a TTL-limited connect fails at once with the router's ICMP
/// time-exceeded and its address (Linux): the hop search relies on that.
bool hop_search_available();

/// True where TCP sockets get no ICMP errors but a raw ICMP socket can read
/// them (Windows): the run opens an icmp_watch, and with it open ICMP
/// details and hop search are available. False on Linux (IP_RECVERR does it).
bool needs_icmp_watch();

/// One line for the report when the watch could not be opened for want of
/// rights: how to get them. Empty where needs_icmp_watch() is false.
const char* icmp_watch_rights_note();

/// Adds the system's trusted root certificates to an OpenSSL store where
/// OpenSSL's default verify paths do not hold them (Windows: the ROOT system
/// store; Linux: the distribution's bundle when OpenSSL's own directory,
/// Debian's /usr/lib/ssl for the portable build, is not there, as on the RHEL
/// family). How many were added; 0 where the default paths suffice.
int add_system_roots(x509_store_st* store);

/// Where Linux distributions keep their trusted roots in one PEM file, the
/// most common first (Debian and Ubuntu, the RHEL family, openSUSE, Alpine).
extern const char* const linux_roots_files[6];

/// The bundle to load when OpenSSL's defaults hold nothing: none when the
/// user named one (SSL_CERT_FILE, SSL_CERT_DIR) or OpenSSL's default file or
/// directory exists; else the first of linux_roots_files that exists; else none.
std::string linux_roots_file(bool user_named, bool openssl_default_exists,
                             const std::function<bool(const char*)>& exists);

/// One line about what this platform's probes can and cannot see.
const char* platform_note();

}  // namespace dropspot::prober::platform
