// Linux side of the seam: IP_RECVERR and the socket error queue.
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "prober/platform.h"

namespace dropspot::prober::platform {

namespace {

std::string address_text(const sockaddr_storage& sa) {
  std::array<char, INET6_ADDRSTRLEN> buffer{};
  if (sa.ss_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &sa, sizeof in);
    if (inet_ntop(AF_INET, &in.sin_addr, buffer.data(), buffer.size())) return buffer.data();
  } else if (sa.ss_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &sa, sizeof in6);
    if (inet_ntop(AF_INET6, &in6.sin6_addr, buffer.data(), buffer.size())) return buffer.data();
  }
  return {};
}

std::error_code set_recverr(native_socket socket, bool v6, int value) {
  const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  const int name = v6 ? IPV6_RECVERR : IP_RECVERR;
  if (::setsockopt(socket, level, name, &value, sizeof value) != 0) return {errno, std::system_category()};
  return {};
}

}  // namespace

std::error_code prepare_probe_socket(native_socket socket, bool v6) { return set_recverr(socket, v6, 1); }

std::error_code finish_probe_socket(native_socket socket, bool v6) { return set_recverr(socket, v6, 0); }

std::optional<icmp_info> read_icmp_error(native_socket socket, bool v6) {
  std::optional<icmp_info> last;
  // Bounded: the queue of a fresh probe socket holds one or two entries.
  for (int i = 0; i < 16; ++i) {
    std::array<char, 512> control{};
    std::array<char, 64> data{};
    sockaddr_storage from{};
    iovec iov{data.data(), data.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    if (::recvmsg(socket, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      const bool ours = v6 ? (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)
                           : (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR);
      if (!ours) continue;
      sock_extended_err ee{};
      std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      icmp_info info;
      // SO_EE_OFFENDER: the sockaddr right after the extended error.
      const std::size_t offset = CMSG_LEN(sizeof(sock_extended_err));
      if (c->cmsg_len > offset) {
        sockaddr_storage offender{};
        std::memcpy(&offender, CMSG_DATA(c) + sizeof(sock_extended_err),
                    std::min<std::size_t>(c->cmsg_len - offset, sizeof offender));
        if (offender.ss_family != AF_UNSPEC) info.from = address_text(offender);
      }
      info.type = ee.ee_type;
      info.code = ee.ee_code;
      info.error = static_cast<int>(ee.ee_errno);
      last = std::move(info);
    }
  }
  return last;
}

std::optional<tcp_facts> read_tcp_facts(native_socket socket) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(socket, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  tcp_facts facts;
  facts.mss = info.tcpi_snd_mss;
  facts.rtt_us = info.tcpi_rtt;
  facts.adv_mss = syn_mss_from_advmss(info.tcpi_advmss, (info.tcpi_options & TCPI_OPT_TIMESTAMPS) != 0);
  return facts;
}

std::optional<int> finished_connect(native_socket socket) {
  // One system call for the common case, a SYN still unanswered (a poll()
  // for writability, then SO_ERROR, took two: a sweep ends a thousand so).
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(socket, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  if (info.tcpi_state == TCP_SYN_SENT) return std::nullopt;
  if (info.tcpi_state == TCP_ESTABLISHED || info.tcpi_state == TCP_CLOSE_WAIT) return 0;
  // Closed: the connect failed; its error, unless read already (by the wait).
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error == 0) return std::nullopt;
  return error;
}

std::error_code set_max_segment(native_socket socket, int mss) {
  if (::setsockopt(socket, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss) != 0) return {errno, std::generic_category()};
  return {};
}

std::optional<path_state> read_path_state(native_socket socket, bool v6) {
  path_state s;
  int queued = 0;
  if (::ioctl(socket, SIOCOUTQ, &queued) != 0) return std::nullopt;
  s.unacked = static_cast<std::uint32_t>(std::max(queued, 0));
  int mtu = 0;
  socklen_t length = sizeof mtu;
  if (::getsockopt(socket, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &mtu, &length) == 0 && mtu > 0)
    s.path_mtu = static_cast<std::uint32_t>(mtu);
  tcp_info info{};
  length = sizeof info;
  if (::getsockopt(socket, IPPROTO_TCP, TCP_INFO, &info, &length) == 0) s.rcv_mss = info.tcpi_rcv_mss;
  return s;
}

// The same places Go's crypto/x509 looks (root_linux.go), in its order.
const char* const linux_roots_files[6] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL 6 and later
    "/etc/ssl/ca-bundle.pem",                             // openSUSE
    "/etc/pki/tls/cacert.pem",                            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // CentOS, RHEL 7 and later
    "/etc/ssl/cert.pem",                                  // Alpine
};

std::string linux_roots_file(bool user_named, bool openssl_default_exists,
                             const std::function<bool(const char*)>& exists) {
  if (user_named || openssl_default_exists) return {};
  for (const char* file : linux_roots_files)
    if (exists(file)) return file;
  return {};
}

int add_system_roots(x509_store_st* store) {
  const auto file_exists = [](const char* path) { return path && ::access(path, R_OK) == 0; };
  const bool user_named = std::getenv(X509_get_default_cert_file_env()) != nullptr ||
                          std::getenv(X509_get_default_cert_dir_env()) != nullptr;
  const bool defaults = file_exists(X509_get_default_cert_file()) || file_exists(X509_get_default_cert_dir());
  const auto bundle = linux_roots_file(user_named, defaults, file_exists);
  if (bundle.empty()) return 0;
  const int before = sk_X509_OBJECT_num(X509_STORE_get0_objects(store));
  if (X509_STORE_load_file(store, bundle.c_str()) != 1) {
    ERR_clear_error();
    return 0;
  }
  return sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) - before;
}

bool needs_icmp_watch() { return false; }

const char* icmp_watch_rights_note() { return ""; }

bool hop_search_available() { return true; }

const char* platform_note() {
  return "Linux: ICMP errors through IP_RECVERR (offender address, type, code); hop search by TTL-limited connects";
}

}  // namespace dropspot::prober::platform
