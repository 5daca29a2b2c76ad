#include "agent/listeners.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "common/text.h"

namespace dropspot::agent {

namespace {

/// The kernel's TCP_LISTEN state number (include/net/tcp_states.h).
constexpr std::uint8_t tcp_state_listen = 10;
constexpr std::uint8_t udp_state_unconnected = 7;  // TCP_CLOSE: a UDP socket that takes datagrams from anyone

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/// Exactly 8 hex digits as a number.
std::optional<std::uint32_t> parse_hex_word(std::string_view s) {
  if (s.size() != 8 || !std::all_of(s.begin(), s.end(), is_hex_digit)) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// A non-empty run of decimal digits that fits in T.
template <class T>
std::optional<T> parse_decimal(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// Fields separated by runs of spaces or tabs.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// A systemd unit name of a type that can own a cgroup.
bool is_cgroup_unit_name(std::string_view name) {
  static constexpr std::string_view suffixes[] = {".service", ".scope", ".socket", ".mount", ".swap"};
  if (name.size() > 255) return false;
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
           c == '.' || c == '-' || c == '\\' || c == '@';
  };
  if (!std::all_of(name.begin(), name.end(), allowed)) return false;
  for (auto suffix : suffixes)
    if (name.size() > suffix.size() && ends_with(name, suffix)) return true;
  return false;
}

/// systemd escapes cgroup names that start with '_' or clash with kernel
/// file names by prefixing '_'.
std::string_view cgroup_unescape(std::string_view component) {
  if (!component.empty() && component.front() == '_') component.remove_prefix(1);
  return component;
}

/// The first unit below `path`'s slices, and the rest of the path after it.
std::string_view first_unit(std::string_view path, std::string_view& rest) {
  rest = {};
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view component = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (component.empty()) continue;
    component = cgroup_unescape(component);
    if (ends_with(component, ".slice")) continue;
    if (!is_cgroup_unit_name(component)) return {};
    rest = path;
    return component;
  }
  return {};
}

/// Whole content of a small file, or nothing when it cannot be read.
std::optional<std::string> read_file_at(int dir_fd, const std::string& path) {
  int fd = ::openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  std::array<char, 4096> buffer;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer.data(), static_cast<std::size_t>(n));
    if (content.size() > (16u << 20)) break;  // nothing we read is this large
  }
  ::close(fd);
  return content;
}

std::optional<std::string> read_file(const std::string& path) { return read_file_at(AT_FDCWD, path); }

/// Closes a file descriptor when it goes out of scope.
class unique_fd {
 public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

/// Dumps the LISTEN TCP sockets of one family over NETLINK_SOCK_DIAG; nothing
/// when netlink fails (no permission, no inet_diag module, no such family).
std::optional<std::vector<listening_socket>> dump_sock_diag(std::uint8_t family, bool udp) {
  unique_fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) return std::nullopt;
  // Runs on the agent's io thread: never wait long for the kernel.
  timeval timeout{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = 1;
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
  message.request.idiag_states = 1u << (udp ? udp_state_unconnected : tcp_state_listen);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &message, sizeof message, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) !=
      static_cast<ssize_t>(sizeof message))
    return std::nullopt;

  std::vector<listening_socket> sockets;
  std::vector<std::uint8_t> buffer(64 * 1024);
  for (;;) {
    ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    auto status = parse_sock_diag_reply({buffer.data(), static_cast<std::size_t>(n)}, sockets,
                                        udp ? udp_state_unconnected : tcp_state_listen);
    if (status.state == sock_diag_status::done) return sockets;
    if (status.state == sock_diag_status::failed) return std::nullopt;
  }
}

/// The inodes of the sockets among the fd links of <root>/<pid_dir>/fd; empty
/// when the process vanished, is a kernel thread or cannot be read.
std::vector<std::uint64_t> socket_inodes_at(int root_fd, const std::string& pid_dir) {
  std::vector<std::uint64_t> inodes;
  int fd_dir = ::openat(root_fd, (pid_dir + "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_dir < 0) return inodes;
  DIR* dir = ::fdopendir(fd_dir);
  if (!dir) {
    ::close(fd_dir);
    return inodes;
  }
  std::array<char, 64> target;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    ssize_t n = ::readlinkat(fd_dir, entry->d_name, target.data(), target.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) continue;  // error, or too long for a socket
    if (auto inode = parse_socket_link({target.data(), static_cast<std::size_t>(n)})) inodes.push_back(*inode);
  }
  ::closedir(dir);
  return inodes;
}

/// LISTEN sockets of one /proc/net file, keeping only the expected family.
std::vector<listening_socket> read_proc_net(const std::string& path, bool v6, bool udp) {
  std::vector<listening_socket> out;
  auto text = read_file(path);
  if (!text) return out;
  for (auto& s : parse_proc_net_tcp(*text, udp ? udp_unconnected : tcp_listen))
    if (s.address.is_v6() == v6) out.push_back(std::move(s));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Pure parsers
// ---------------------------------------------------------------------------

std::optional<asio::ip::address> parse_proc_net_address(std::string_view hex) {
  if (hex.size() == 8) {
    auto word = parse_hex_word(hex);
    if (!word) return std::nullopt;
    asio::ip::address_v4::bytes_type bytes;
    std::memcpy(bytes.data(), &*word, 4);  // the word was printed in host byte order
    return asio::ip::address(asio::ip::address_v4(bytes));
  }
  if (hex.size() == 32) {
    asio::ip::address_v6::bytes_type bytes;
    for (std::size_t i = 0; i < 4; ++i) {
      auto word = parse_hex_word(hex.substr(i * 8, 8));
      if (!word) return std::nullopt;
      std::memcpy(bytes.data() + i * 4, &*word, 4);
    }
    return asio::ip::address(asio::ip::address_v6(bytes));
  }
  return std::nullopt;
}

namespace {

/// "0100007F:1F90": an address and a port of /proc/net/tcp.
std::optional<std::pair<asio::ip::address, std::uint16_t>> parse_proc_net_endpoint(std::string_view field) {
  auto colon = field.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto address = parse_proc_net_address(field.substr(0, colon));
  std::string_view port_hex = field.substr(colon + 1);
  if (!address || port_hex.empty() || port_hex.size() > 4 ||
      !std::all_of(port_hex.begin(), port_hex.end(), is_hex_digit))
    return std::nullopt;
  std::uint16_t port = 0;
  std::from_chars(port_hex.data(), port_hex.data() + port_hex.size(), port, 16);
  return std::pair{*address, port};
}

}  // namespace

std::vector<proc_tcp_socket> parse_proc_net_tcp_sockets(std::string_view text) {
  // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode ..."
  // "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 ..."
  std::vector<proc_tcp_socket> out;
  for (std::string_view line : split(text, '\n')) {
    auto f = fields_of(line);
    if (f.size() < 10 || f[0].size() < 2 || f[0].back() != ':') continue;  // header or junk
    if (!parse_decimal<std::uint64_t>(f[0].substr(0, f[0].size() - 1))) continue;
    auto local = parse_proc_net_endpoint(f[1]);
    auto remote = parse_proc_net_endpoint(f[2]);
    auto inode = parse_decimal<std::uint64_t>(f[9]);
    if (!local || !remote || !inode || f[3].size() != 2 || !std::all_of(f[3].begin(), f[3].end(), is_hex_digit))
      continue;
    proc_tcp_socket s;
    std::from_chars(f[3].data(), f[3].data() + 2, s.state, 16);
    s.local = local->first;
    s.local_port = local->second;
    s.remote = remote->first;
    s.remote_port = remote->second;
    s.inode = *inode;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<listening_socket> parse_proc_net_tcp(std::string_view text, std::uint8_t state) {
  std::vector<listening_socket> out;
  std::unordered_set<std::uint64_t> seen;
  for (const auto& socket : parse_proc_net_tcp_sockets(text)) {
    if (socket.state != state) continue;
    // The file comes in several read()s, each resuming the kernel's walk of
    // its hash table by position: sockets that come and go in between make
    // it list one again (the unit tests, side by side, saw it).
    if (socket.inode != 0 && !seen.insert(socket.inode).second) continue;
    listening_socket s;
    s.address = socket.local;
    s.port = socket.local_port;
    s.inode = socket.inode;
    if (s.address.is_v4()) s.v6_only = false;
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::uint64_t> parse_socket_link(std::string_view target) {
  constexpr std::string_view prefix = "socket:[";
  if (target.size() <= prefix.size() + 1 || target.substr(0, prefix.size()) != prefix || target.back() != ']')
    return std::nullopt;
  return parse_decimal<std::uint64_t>(target.substr(prefix.size(), target.size() - prefix.size() - 1));
}

cgroup_unit unit_from_cgroup_path(std::string_view path) {
  cgroup_unit result;
  std::string_view rest;
  std::string_view unit = first_unit(path, rest);
  if (unit.empty()) return result;
  result.unit = std::string(unit);
  // A user's own manager runs inside user@UID.service; its units are below.
  if (unit.substr(0, 5) == "user@" && ends_with(unit, ".service")) {
    std::string_view ignored;
    result.user_unit = std::string(first_unit(rest, ignored));
  }
  return result;
}

cgroup_unit parse_cgroup(std::string_view text) {
  // v2: "0::/system.slice/nginx.service"; v1: "1:name=systemd:/system.slice/nginx.service".
  cgroup_unit v2;
  cgroup_unit v1;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view id = line.substr(0, first);
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (path.empty() || path.front() != '/') continue;
    if (id == "0" && controllers.empty()) {
      v2 = unit_from_cgroup_path(path);
    } else {
      for (std::string_view c : split(controllers, ','))
        if (c == "name=systemd") v1 = unit_from_cgroup_path(path);
    }
  }
  return v2.unit.empty() ? v1 : v2;
}

sock_diag_status parse_sock_diag_reply(std::span<const std::uint8_t> datagram, std::vector<listening_socket>& out,
                                       std::uint8_t state) {
  const auto malformed = sock_diag_status{sock_diag_status::failed, EBADMSG};
  std::size_t offset = 0;
  while (offset + sizeof(nlmsghdr) <= datagram.size()) {
    nlmsghdr header;
    std::memcpy(&header, datagram.data() + offset, sizeof header);
    if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > datagram.size() - offset) return malformed;
    auto payload = datagram.subspan(offset + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN);

    if (header.nlmsg_type == NLMSG_DONE) {
      // Carries an int: negative when the dump itself failed.
      int error = 0;
      if (payload.size() >= sizeof error) std::memcpy(&error, payload.data(), sizeof error);
      if (error < 0) return {sock_diag_status::failed, -error};
      return {sock_diag_status::done, 0};
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      int error = 0;
      if (payload.size() < sizeof error) return malformed;
      std::memcpy(&error, payload.data(), sizeof error);
      if (error == 0) return {sock_diag_status::done, 0};  // a plain acknowledgement
      return {sock_diag_status::failed, error < 0 ? -error : error};
    }
    if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      inet_diag_msg msg;
      if (payload.size() < sizeof msg) return malformed;
      std::memcpy(&msg, payload.data(), sizeof msg);
      if (msg.idiag_state == state && (msg.idiag_family == AF_INET || msg.idiag_family == AF_INET6)) {
        listening_socket s;
        if (msg.idiag_family == AF_INET) {
          asio::ip::address_v4::bytes_type bytes;
          std::memcpy(bytes.data(), msg.id.idiag_src, bytes.size());  // network byte order
          s.address = asio::ip::address_v4(bytes);
          s.v6_only = false;
        } else {
          asio::ip::address_v6::bytes_type bytes;
          std::memcpy(bytes.data(), msg.id.idiag_src, bytes.size());
          s.address = asio::ip::address_v6(bytes);
        }
        s.port = ntohs(msg.id.idiag_sport);
        s.inode = msg.idiag_inode;
        // Attributes follow the fixed part; a malformed one ends the walk.
        std::size_t at = NLMSG_ALIGN(sizeof msg);
        while (at + NLA_HDRLEN <= payload.size()) {
          nlattr attr;
          std::memcpy(&attr, payload.data() + at, sizeof attr);
          if (attr.nla_len < NLA_HDRLEN || attr.nla_len > payload.size() - at) break;
          if ((attr.nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY && attr.nla_len > NLA_HDRLEN &&
              msg.idiag_family == AF_INET6)
            s.v6_only = payload[at + NLA_HDRLEN] != 0;
          if ((attr.nla_type & NLA_TYPE_MASK) == INET_DIAG_CGROUP_ID &&
              attr.nla_len >= NLA_HDRLEN + sizeof(std::uint64_t))
            std::memcpy(&s.cgroup_id, payload.data() + at + NLA_HDRLEN, sizeof s.cgroup_id);
          at += NLA_ALIGN(attr.nla_len);
        }
        out.push_back(std::move(s));
      }
    }
    // Anything else (NLMSG_NOOP, unknown types) is skipped.
    offset += NLMSG_ALIGN(header.nlmsg_len);
  }
  // Trailing bytes too few for a header: a cut datagram.
  if (offset < datagram.size()) return malformed;
  return {sock_diag_status::more, 0};
}

// ---------------------------------------------------------------------------
// Bound-address classification
// ---------------------------------------------------------------------------

const char* to_string(address_scope s) {
  switch (s) {
    case address_scope::wildcard: return "wildcard";
    case address_scope::loopback: return "loopback";
    case address_scope::specific: return "specific";
  }
  return "unknown";
}

address_scope classify_address(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return classify_address(asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6())));
  if (address.is_unspecified()) return address_scope::wildcard;
  if (address.is_loopback()) return address_scope::loopback;
  return address_scope::specific;
}

address_scope classify_address(std::string_view address) {
  std::error_code ec;
  auto parsed = asio::ip::make_address(std::string(address), ec);
  if (ec) return address_scope::specific;
  return classify_address(parsed);
}

// ---------------------------------------------------------------------------
// System access
// ---------------------------------------------------------------------------

std::vector<listening_socket> read_listening_sockets(const listener_options& options) {
  std::vector<listening_socket> sockets;
  for (bool v6 : {false, true}) {
    std::optional<std::vector<listening_socket>> dumped;
    if (options.use_sock_diag) dumped = dump_sock_diag(static_cast<std::uint8_t>(v6 ? AF_INET6 : AF_INET), options.udp);
    const std::string file = std::string(options.udp ? "/net/udp" : "/net/tcp") + (v6 ? "6" : "");
    auto part = dumped ? std::move(*dumped) : read_proc_net(options.proc_root + file, v6, options.udp);
    sockets.insert(sockets.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  // What /proc/net does not say, the kernel's rules tell for all but one case:
  // bind() to a specific IPv6 address sets IPV6_V6ONLY, a v4-mapped address
  // requires it off, and IPv4 sockets have none. Only for :: does it depend
  // on the program; there the system default is a guess.
  std::optional<bool> bindv6only;
  for (auto& s : sockets) {
    if (s.v6_only) continue;
    if (s.address.is_v4()) {
      s.v6_only = false;
    } else if (s.address.to_v6().is_v4_mapped()) {
      s.v6_only = false;
    } else if (!s.address.is_unspecified()) {
      s.v6_only = true;
    } else {
      if (!bindv6only) {
        auto text = read_file(options.proc_root + "/sys/net/ipv6/bindv6only");
        bindv6only = text && trim(*text) == "1";
      }
      s.v6_only = *bindv6only;
    }
  }
  return sockets;
}

std::vector<std::uint64_t> socket_inodes_of(std::uint32_t pid, const std::string& proc_root) {
  unique_fd root(::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return {};
  return socket_inodes_at(root.get(), std::to_string(pid));
}

std::unordered_map<std::uint64_t, socket_owner> find_socket_owners(const std::vector<std::uint64_t>& inodes,
                                                                   const std::string& proc_root) {
  std::unordered_map<std::uint64_t, socket_owner> owners;
  std::unordered_set<std::uint64_t> wanted;
  for (auto inode : inodes)
    if (inode != 0) wanted.insert(inode);
  if (wanted.empty()) return owners;

  unique_fd root(::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return owners;
  std::vector<std::uint32_t> pids;
  {
    int listing = ::dup(root.get());
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    if (!dir) {
      if (listing >= 0) ::close(listing);
      return owners;
    }
    while (const dirent* entry = ::readdir(dir))
      if (auto pid = parse_decimal<std::uint32_t>(entry->d_name); pid && *pid != 0) pids.push_back(*pid);
    ::closedir(dir);
  }
  // /proc lists pids in ascending order already; a fixture tree may not.
  std::sort(pids.begin(), pids.end());

  std::vector<std::uint64_t> found;
  for (auto pid : pids) {
    if (wanted.empty()) break;
    const std::string pid_dir = std::to_string(pid);
    found.clear();
    for (auto inode : socket_inodes_at(root.get(), pid_dir)) {
      if (auto it = wanted.find(inode); it != wanted.end()) {
        wanted.erase(it);
        found.push_back(inode);
      }
    }
    if (found.empty()) continue;

    socket_owner owner;
    owner.pid = pid;
    if (auto comm = read_file_at(root.get(), pid_dir + "/comm")) {
      std::string_view name = *comm;
      if (!name.empty() && name.back() == '\n') name.remove_suffix(1);
      // Any bytes a process chose (prctl); proto3 strings must be UTF-8.
      owner.process = escape(name);
    }
    if (auto cgroup = read_file_at(root.get(), pid_dir + "/cgroup")) owner.unit = parse_cgroup(*cgroup);
    for (auto inode : found) owners[inode] = owner;
  }
  return owners;
}

std::string cgroup2_mount(std::string_view mounts) {
  for (auto line : split(mounts, '\n')) {
    const auto fields = words(line);  // device mountpoint type options...
    if (fields.size() >= 3 && fields[2] == "cgroup2") return fields[1];
  }
  return {};
}

std::unordered_map<std::uint64_t, std::string> cgroup_paths_by_id(const std::string& root,
                                                                  const std::vector<std::uint64_t>& ids) {
  std::unordered_map<std::uint64_t, std::string> found;
  std::unordered_set<std::uint64_t> wanted(ids.begin(), ids.end());
  wanted.erase(0);
  if (wanted.empty()) return found;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path base(root);
  struct stat st {};
  if (::stat(root.c_str(), &st) == 0 && wanted.contains(st.st_ino)) found[st.st_ino] = "/";
  for (fs::recursive_directory_iterator it(base, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end && found.size() < wanted.size(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (::stat(it->path().c_str(), &st) != 0 || !wanted.contains(st.st_ino)) continue;
    found[st.st_ino] = "/" + it->path().lexically_relative(base).string();
  }
  return found;
}

std::vector<v1::Listener> find_listeners(const std::vector<std::uint16_t>& ports, const listener_options& options) {
  auto sockets = read_listening_sockets(options);
  if (!ports.empty()) {
    std::unordered_set<std::uint16_t> wanted(ports.begin(), ports.end());
    std::erase_if(sockets, [&](const listening_socket& s) { return !wanted.contains(s.port); });
  }
  std::sort(sockets.begin(), sockets.end(), [](const listening_socket& a, const listening_socket& b) {
    if (a.port != b.port) return a.port < b.port;
    if (a.address != b.address) return a.address < b.address;  // IPv4 sorts before IPv6
    return a.inode < b.inode;
  });

  std::vector<std::uint64_t> inodes;
  inodes.reserve(sockets.size());
  for (const auto& s : sockets) inodes.push_back(s.inode);
  const auto owners = find_socket_owners(inodes, options.proc_root);
  // A socket whose process we may not look into: its unit from its cgroup.
  std::vector<std::uint64_t> unowned_cgroups;
  for (const auto& s : sockets)
    if (!owners.contains(s.inode) && s.cgroup_id != 0) unowned_cgroups.push_back(s.cgroup_id);
  std::unordered_map<std::uint64_t, std::string> cgroups;
  if (!unowned_cgroups.empty()) {
    auto root = options.cgroup_root;
    if (root.empty()) root = cgroup2_mount(read_file("/proc/self/mounts").value_or(""));
    if (!root.empty()) cgroups = cgroup_paths_by_id(root, unowned_cgroups);
  }

  std::vector<v1::Listener> listeners;
  listeners.reserve(sockets.size());
  for (const auto& s : sockets) {
    v1::Listener l;
    l.set_port(s.port);
    l.set_address(s.address.to_string());
    l.set_v6_only(s.v6_only.value_or(false));
    l.set_inode(s.inode);
    if (options.udp) l.set_protocol(v1::UDP);
    if (auto it = owners.find(s.inode); it != owners.end()) {
      l.set_pid(it->second.pid);
      l.set_process(it->second.process);
      l.set_unit(it->second.unit.unit);
    } else if (auto c = cgroups.find(s.cgroup_id); c != cgroups.end()) {
      l.set_unit(unit_from_cgroup_path(c->second).unit);
    }
    listeners.push_back(std::move(l));
  }
  return listeners;
}

}  // namespace dropspot::agent
