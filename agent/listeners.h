#pragma once
// The agent's listener table: which local address each TCP port is bound to
// and by which process, what `ss -tlnp` shows, without running ss.
//
// Sources, in order:
//   1. NETLINK_SOCK_DIAG (inet_diag) in the agent's network namespace: address,
//      port, inode and the IPV6_V6ONLY flag of every LISTEN socket.
//   2. <proc>/net/tcp and <proc>/net/tcp6 when netlink is unavailable (or for
//      a fixture tree). They do not show IPV6_V6ONLY. The kernel's bind rules
//      settle it for IPv4, v4-mapped and specific IPv6 addresses (bind() to
//      ::1 or 2001:db8::1 turns the flag on); a socket on :: gets the system
//      default, <proc>/sys/net/ipv6/bindv6only, which is wrong for a program
//      that sets the option itself (nginx `ipv6only=on`, Go, Java...).
// Owners: socket inodes are mapped to processes by reading the links
// <proc>/<pid>/fd/* ("socket:[INODE]"); name from <proc>/<pid>/comm, systemd
// unit from <proc>/<pid>/cgroup. Sockets held only by processes of another pid
// namespace, or by the kernel, stay without owner (pid 0).
//
// The parsers are pure; only read_listening_sockets, find_socket_owners and
// find_listeners touch the system.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/net.h"  // listener_accepts: which listener a connection reaches
#include "dropspot.pb.h"

namespace dropspot::agent {

/// One TCP socket in LISTEN state, before its owner is known.
struct listening_socket {
  asio::ip::address address;  ///< bound local address; v4-mapped IPv6 stays IPv6
  std::uint16_t port = 0;
  std::uint64_t inode = 0;      ///< 0 for a socket without inode (rare: orphaned)
  std::optional<bool> v6_only;  ///< IPV6_V6ONLY when the source says (sock_diag); IPv4: false
  /// The cgroup of the process that made the socket (sock_diag's
  /// INET_DIAG_CGROUP_ID, Linux 5.7+): the inode of its directory in the
  /// cgroup2 tree; 0 when unknown. Names the unit of a listener whose process
  /// this agent may not look into (another user's, without CAP_SYS_PTRACE).
  std::uint64_t cgroup_id = 0;
};

// ---------------------------------------------------------------------------
// Pure parsers
// ---------------------------------------------------------------------------

/// Decodes an address field of /proc/net/tcp{,6}: 8 hex digits (IPv4) or 32
/// (IPv6). The kernel prints each 32-bit word of the address as a number in
/// host byte order, so on little-endian hosts 127.0.0.1 is "0100007F" and ::1
/// is "00000000000000000000000001000000". Nothing for any other text.
std::optional<asio::ip::address> parse_proc_net_address(std::string_view hex);

/// One line of /proc/net/tcp or /proc/net/tcp6: a TCP socket in any state.
struct proc_tcp_socket {
  asio::ip::address local;
  std::uint16_t local_port = 0;
  asio::ip::address remote;
  std::uint16_t remote_port = 0;
  std::uint8_t state = 0;  ///< the kernel's TCP state: 0x01 ESTABLISHED, 0x0A LISTEN...
  std::uint64_t inode = 0;
};
inline constexpr std::uint8_t tcp_established = 0x01;
inline constexpr std::uint8_t tcp_listen = 0x0A;
inline constexpr std::uint8_t udp_unconnected = 0x07;  ///< a bound, unconnected UDP socket (TCP_CLOSE)

/// Every socket of /proc/net/tcp or /proc/net/tcp6 content. The header and any
/// malformed line are skipped.
std::vector<proc_tcp_socket> parse_proc_net_tcp_sockets(std::string_view text);

/// The LISTEN sockets (st == 0A) of /proc/net/tcp or /proc/net/tcp6 content;
/// with state udp_unconnected, the bound UDP sockets of /proc/net/udp{,6}
/// (the same format). The header and any malformed line are skipped, and a
/// socket listed again (the same inode) is kept once.
std::vector<listening_socket> parse_proc_net_tcp(std::string_view text, std::uint8_t state = tcp_listen);

/// The inode of a socket fd link target, "socket:[12345]"; nothing otherwise.
std::optional<std::uint64_t> parse_socket_link(std::string_view target);

/// The systemd units a process belongs to, from its cgroup path.
struct cgroup_unit {
  /// The system manager's unit, as `systemctl status PID` names it:
  /// "nginx.service", "session-3.scope", "user@1000.service"; empty when none
  /// (root cgroup, kernel threads, containers without systemd).
  std::string unit;
  /// Under user@UID.service, the user manager's unit ("app.service",
  /// `systemctl --user`); empty otherwise.
  std::string user_unit;
};

/// Finds the unit in a cgroup path ("/system.slice/nginx.service"): slices are
/// skipped, the first other component must be a unit name (.service, .scope,
/// .socket, .mount, .swap) or there is none; systemd's '_' escape is undone.
cgroup_unit unit_from_cgroup_path(std::string_view path);

/// Parses /proc/<pid>/cgroup content: the cgroup v2 line ("0::/path") when it
/// names a unit, else the v1 "name=systemd" hierarchy. Malformed lines are
/// skipped.
cgroup_unit parse_cgroup(std::string_view text);

/// Where a reply of a NETLINK_SOCK_DIAG dump leaves the dump.
struct sock_diag_status {
  enum state_t { more, done, failed } state = more;
  int error = 0;  ///< errno from an NLMSG_ERROR, or EBADMSG for a malformed message
};

/// Parses one datagram of an inet_diag dump reply (struct nlmsghdr stream of
/// SOCK_DIAG_BY_FAMILY / NLMSG_DONE / NLMSG_ERROR) and appends its LISTEN
/// sockets (state 10; a UDP dump's bound sockets: state 7), with v6_only from
/// the INET_DIAG_SKV6ONLY attribute and cgroup_id from INET_DIAG_CGROUP_ID
/// when present.
sock_diag_status parse_sock_diag_reply(std::span<const std::uint8_t> datagram, std::vector<listening_socket>& out,
                                       std::uint8_t state = 10);

// ---------------------------------------------------------------------------
// Bound-address classification (pure)
// ---------------------------------------------------------------------------

enum class address_scope {
  wildcard,  ///< 0.0.0.0 or ::, every local address (:: also IPv4 unless v6_only)
  loopback,  ///< 127.0.0.0/8, ::1 or ::ffff:127.x.y.z: unreachable from outside
  specific,  ///< one other local address (also anything unparseable)
};

const char* to_string(address_scope s);

address_scope classify_address(const asio::ip::address& address);
/// The same for a Listener's address text.
address_scope classify_address(std::string_view address);

// ---------------------------------------------------------------------------
// System access
// ---------------------------------------------------------------------------

struct listener_options {
  /// Root of the proc file system; a fixture tree in tests.
  std::string proc_root = "/proc";
  /// Ask the kernel over netlink first (this process's network namespace);
  /// false reads only <proc_root>/net/tcp{,6}.
  bool use_sock_diag = true;
  /// UDP: the bound, unconnected UDP sockets (/proc/net/udp{,6}) instead of
  /// TCP's listening ones; the listeners carry protocol UDP.
  bool udp = false;
  /// The cgroup2 mount, walked to turn a socket's cgroup id into its path;
  /// empty: where /proc/self/mounts has it (/sys/fs/cgroup, or
  /// /sys/fs/cgroup/unified on a hybrid host).
  std::string cgroup_root;
};

/// The first cgroup2 mount point in /proc/mounts content; empty when none.
std::string cgroup2_mount(std::string_view mounts);

/// The paths (relative to `root`, "/system.slice/nginx.service") of the
/// cgroup directories whose inode is one of `ids`; walks the tree once.
std::unordered_map<std::uint64_t, std::string> cgroup_paths_by_id(const std::string& root,
                                                                  const std::vector<std::uint64_t>& ids);

/// Every LISTEN socket, IPv4 and IPv6, from sock_diag or /proc/net. A family
/// netlink cannot dump is read from /proc instead; a missing file (no IPv6) is
/// no socket. v6_only is always set on return (see the top of this file).
std::vector<listening_socket> read_listening_sockets(const listener_options& options = {});

/// A process holding a socket.
struct socket_owner {
  std::uint32_t pid = 0;
  std::string process;  ///< /proc/<pid>/comm, control and non-ASCII bytes escaped (\xNN)
  cgroup_unit unit;
};

/// The inodes of the sockets process `pid` holds (<proc_root>/<pid>/fd links);
/// empty when it vanished or cannot be read.
std::vector<std::uint64_t> socket_inodes_of(std::uint32_t pid, const std::string& proc_root = "/proc");

/// Which process holds each of `inodes`: the lowest pid with an fd link to
/// "socket:[INODE]" under <proc_root>/<pid>/fd. Stops once all are found;
/// processes that vanish or cannot be read are skipped. Inodes no process
/// holds are missing from the result.
std::unordered_map<std::uint64_t, socket_owner> find_socket_owners(const std::vector<std::uint64_t>& inodes,
                                                                   const std::string& proc_root = "/proc");

/// Listening TCP sockets on `ports` (every port when empty) with their owners,
/// sorted by port, then IPv4 before IPv6, then address. Never throws for
/// missing or unreadable /proc entries. Fits session_services::listeners.
std::vector<v1::Listener> find_listeners(const std::vector<std::uint16_t>& ports, const listener_options& options = {});

}  // namespace dropspot::agent
