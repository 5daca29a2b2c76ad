// Windows side of the seam. Winsock hands no ICMP errors to a TCP socket (a
// connect refused by an ICMP unreachable just times out or fails with a bare
// error code), and a TTL-limited connect does not fail with the router's
// address, so by themselves ICMP details and hop search are not available.
// With administrator rights a raw ICMP socket reads them instead
// (needs_icmp_watch, prober/icmp_watch.h); without, the report says what is
// missing and how to get the rights in notes. MSS and RTT come from SIO_TCP_INFO
// (Windows 10 1703 and later); trusted roots for the https probes from the
// system ROOT store (OpenSSL built for MinGW has no CA file of its own).
#define NTDDI_VERSION 0x0A000003  // NTDDI_WIN10_RS2: TCP_INFO_v0
#include <winsock2.h>
#include <mstcpip.h>
#include <wincrypt.h>

#include <openssl/x509.h>

#include "prober/platform.h"

namespace dropspot::prober::platform {

std::error_code prepare_probe_socket(native_socket, bool) { return {}; }

std::error_code finish_probe_socket(native_socket, bool) { return {}; }

std::optional<icmp_info> read_icmp_error(native_socket, bool) { return std::nullopt; }

std::optional<int> finished_connect(native_socket socket) {
  WSAPOLLFD p{};
  p.fd = socket;
  p.events = POLLWRNORM;
  if (::WSAPoll(&p, 1, 0) != 1 || (p.revents & (POLLWRNORM | POLLERR | POLLHUP)) == 0) return std::nullopt;
  int error = 0;
  int size = sizeof error;
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&error), &size) != 0) return std::nullopt;
  if (error != 0) return error;
  // No error pending: connected, or failed with the error already read: only
  // a peer address tells.
  sockaddr_storage peer{};
  int peer_size = sizeof peer;
  if (::getpeername(socket, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) return std::nullopt;
  return 0;
}

namespace {

/// SIO_TCP_INFO version 0 of a connected socket.
std::optional<TCP_INFO_v0> tcp_info_of(native_socket socket) {
  DWORD version = 0;
  TCP_INFO_v0 info{};
  DWORD returned = 0;
  if (::WSAIoctl(socket, SIO_TCP_INFO, &version, sizeof version, &info, sizeof info, &returned, nullptr, nullptr) !=
          0 ||
      returned < sizeof info)
    return std::nullopt;
  return info;
}

}  // namespace

std::optional<tcp_facts> read_tcp_facts(native_socket socket) {
  const auto info = tcp_info_of(socket);
  if (!info) return std::nullopt;
  tcp_facts facts;
  facts.mss = info->Mss;
  facts.rtt_us = info->RttUs;
  return facts;  // adv_mss: Windows does not tell the MSS its own SYN advertised
}

// The Windows SDK's ws2ipdef.h has it; MinGW's headers do not.
#ifndef TCP_MAXSEG
#define TCP_MAXSEG 4
#endif

std::error_code set_max_segment(native_socket socket, int mss) {
  // Windows 10 documents TCP_MAXSEG for reading; where setting it is refused,
  // the search's attempts fail and tell nothing (docs/windows.md).
  DWORD value = static_cast<DWORD>(mss);
  if (::setsockopt(socket, IPPROTO_TCP, TCP_MAXSEG, reinterpret_cast<const char*>(&value), sizeof value) != 0)
    return {::WSAGetLastError(), std::system_category()};
  return {};
}

std::optional<path_state> read_path_state(native_socket socket, bool) {
  const auto info = tcp_info_of(socket);
  if (!info) return std::nullopt;
  path_state s;
  s.unacked = info->BytesInFlight;  // sent and not acknowledged; Windows does not tell the path MTU
  return s;
}

int add_system_roots(x509_store_st* store) {
  HCERTSTORE system = ::CertOpenSystemStoreW(0, L"ROOT");
  if (system == nullptr) return 0;
  int added = 0;
  for (PCCERT_CONTEXT c = ::CertEnumCertificatesInStore(system, nullptr); c != nullptr;
       c = ::CertEnumCertificatesInStore(system, c)) {
    const unsigned char* der = c->pbCertEncoded;
    X509* cert = d2i_X509(nullptr, &der, static_cast<long>(c->cbCertEncoded));
    if (cert == nullptr) continue;
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  ::CertCloseStore(system, 0);
  return added;
}

bool needs_icmp_watch() { return true; }

const char* icmp_watch_rights_note() {
  return "hop search and ICMP details need administrator rights on Windows: run PowerShell as administrator "
         "(right-click, Run as administrator) and run the same command";
}

bool hop_search_available() { return false; }

const char* platform_note() {
  return "on Windows, TCP sockets get no ICMP errors: no ICMP details (offender, type, code) and no hop search, "
         "connect outcomes only";
}

}  // namespace dropspot::prober::platform
