// The agent's listener table: /proc/net and sock_diag parsers on fixed input,
// a fake /proc tree, and real listening sockets of this test process.
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "agent/listeners.h"

using namespace dropspot;
using namespace dropspot::agent;
namespace fs = std::filesystem;

namespace {

asio::ip::address addr(const char* text) { return asio::ip::make_address(text); }

// Captured on x86_64 (little-endian), as the kernel prints it; junk lines added.
const char* const proc_net_tcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 "
    "0000000000000000 100 0 0 10 0\n"
    "   2: 027100CB:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 3003 1 "
    "0000000000000000 100 0 0 10 0\n"
    // established and time-wait sockets are not listeners
    "   3: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4004 1 "
    "0000000000000000 20 4 30 10 -1\n"
    "   4: 0100007F:D432 0100007F:1F90 06 00000000:00000000 03:00000F2A 00000000     0        0 0 3 "
    "0000000000000000\n"
    "\n"
    "garbage\n"
    "   5: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n"                                   // truncated
    "   6: 01Z0007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5005 1\n"   // bad hex
    "   7: 100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5006 1\n"    // 7 digits
    "   8: 0100007F:10050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5007 1\n"  // port too long
    "   9: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12x 1\n"    // bad inode
    "  10: 0100007F0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5008 1\n"    // no colon
    "  xx: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5009 1\n"   // bad sl
    "  11: 0100007F: 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5010 1\n"       // empty port
    "\x01\xff\xfe binary \x7f junk : : : : : : : : : :\n"
    "  12: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 99999999999999999999999 1\n"
    "  13: 0100007F:0050";  // cut off at the end of the text

const char* const proc_net_tcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 6006 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 7007 1 0000000000000000 100 0 0 10 0\n"
    "   2: B80D0120000002000000000002000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000    33        0 8008 1 0000000000000000 100 0 0 10 0\n"
    "   3: 0000000000000000FFFF0000027100CB:024B 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 9009 1 0000000000000000 100 0 0 10 0\n"
    "   4: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:C350 01 00000000:00000000 "
    "00:00000000 00000000     0        0 9999 1 0000000000000000 20 4 30 10 -1\n"
    "   5: 0000000000000000000000000100000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 9998 1\n";  // 31 digits

/// A directory under /tmp removed with everything in it at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "dropspot-listeners-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const fs::path& relative, std::string_view content) const {
    fs::create_directories((path / relative).parent_path());
    std::ofstream(path / relative, std::ios::binary) << content;
  }
  void fd(const std::string& pid, int number, const std::string& target) const {
    fs::create_directories(path / pid / "fd");
    fs::create_symlink(target, path / pid / "fd" / std::to_string(number));
  }
};

/// A TCP socket listening on ADDRESS:0 in this process.
struct test_socket {
  int fd = -1;
  std::uint16_t port = 0;
  std::uint64_t inode = 0;

  /// v6only: -1 leaves the system default. freebind: bind a non-local address
  /// (no packet is ever sent; the socket only listens).
  explicit test_socket(const char* address, int v6only = -1, bool freebind = false) {
    const auto a = addr(address);
    fd = ::socket(a.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    if (v6only >= 0) REQUIRE(::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) == 0);
    if (freebind) {
      int one = 1;
      REQUIRE(::setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof one) == 0);
    }
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (a.is_v6()) {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      const auto bytes = a.to_v6().to_bytes();
      std::memcpy(&sin6.sin6_addr, bytes.data(), bytes.size());
      std::memcpy(&storage, &sin6, sizeof sin6);
      length = sizeof sin6;
    } else {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      const auto bytes = a.to_v4().to_bytes();
      std::memcpy(&sin.sin_addr, bytes.data(), bytes.size());
      std::memcpy(&storage, &sin, sizeof sin);
      length = sizeof sin;
    }
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    length = sizeof storage;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0);
    std::uint16_t port_be = 0;
    std::memcpy(&port_be, reinterpret_cast<const char*>(&storage) + 2, 2);  // sin_port and sin6_port
    port = ntohs(port_be);
    const auto link = fs::read_symlink("/proc/self/fd/" + std::to_string(fd)).string();
    inode = parse_socket_link(link).value_or(0);
    REQUIRE(inode != 0);
  }
  test_socket(const test_socket&) = delete;
  test_socket& operator=(const test_socket&) = delete;
  ~test_socket() { ::close(fd); }
};

std::string own_comm() {
  std::ifstream in("/proc/self/comm");
  std::string line;
  std::getline(in, line);
  return line;
}

bool system_bindv6only() {
  std::ifstream in("/proc/sys/net/ipv6/bindv6only");
  int value = 0;
  in >> value;
  return value == 1;
}

/// Appends one netlink message (header, fixed part, attributes) to a datagram.
void append_message(std::vector<std::uint8_t>& out, std::uint16_t type, const void* body, std::size_t body_size,
                    const std::vector<std::uint8_t>& attributes = {}) {
  nlmsghdr header{};
  header.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + NLMSG_ALIGN(body_size) + attributes.size());
  header.nlmsg_type = type;
  header.nlmsg_flags = NLM_F_MULTI;
  header.nlmsg_seq = 1;
  const std::size_t start = out.size();
  out.resize(start + NLMSG_ALIGN(header.nlmsg_len), 0);
  std::memcpy(out.data() + start, &header, sizeof header);
  std::memcpy(out.data() + start + NLMSG_HDRLEN, body, body_size);
  if (!attributes.empty())
    std::memcpy(out.data() + start + NLMSG_HDRLEN + NLMSG_ALIGN(body_size), attributes.data(), attributes.size());
}

inet_diag_msg diag_message(std::uint8_t family, std::uint8_t state, const char* address, std::uint16_t port,
                           std::uint32_t inode) {
  inet_diag_msg msg{};
  msg.idiag_family = family;
  msg.idiag_state = state;
  msg.id.idiag_sport = htons(port);
  msg.idiag_inode = inode;
  const auto a = addr(address);
  if (a.is_v4()) {
    const auto bytes = a.to_v4().to_bytes();
    std::memcpy(msg.id.idiag_src, bytes.data(), bytes.size());
  } else {
    const auto bytes = a.to_v6().to_bytes();
    std::memcpy(msg.id.idiag_src, bytes.data(), bytes.size());
  }
  return msg;
}

/// An INET_DIAG_SKV6ONLY attribute, padded to 4 bytes.
std::vector<std::uint8_t> v6only_attribute(bool on) {
  nlattr attr{};
  attr.nla_len = NLA_HDRLEN + 1;
  attr.nla_type = INET_DIAG_SKV6ONLY;
  std::vector<std::uint8_t> out(NLA_ALIGN(attr.nla_len), 0);
  std::memcpy(out.data(), &attr, sizeof attr);
  out[NLA_HDRLEN] = on ? 1 : 0;
  return out;
}

const v1::Listener* find_inode(const std::vector<v1::Listener>& listeners, std::uint64_t inode) {
  for (const auto& l : listeners)
    if (l.inode() == inode) return &l;
  return nullptr;
}

/// The listeners among `found` that are `sockets`, in the order of `sockets`.
/// Tests run side by side: another process may listen on the same ephemeral
/// port number in the other family, so a test's own sockets are told by inode.
std::vector<v1::Listener> own_sockets(const std::vector<v1::Listener>& found,
                                      std::initializer_list<const test_socket*> sockets) {
  std::vector<v1::Listener> own;
  for (const auto* socket : sockets)
    for (const auto& l : found)
      if (l.inode() == socket->inode) own.push_back(l);
  return own;
}

}  // namespace

TEST_CASE("listeners: /proc/net addresses decode each 32-bit word in host order") {
  // These fixtures are the text of a little-endian host.
  struct known {
    const char* hex;
    const char* address;
  };
  for (auto k : {known{"0100007F", "127.0.0.1"}, known{"00000000", "0.0.0.0"}, known{"027100CB", "203.0.113.2"},
                 known{"00000000000000000000000000000000", "::"}, known{"00000000000000000000000001000000", "::1"},
                 known{"B80D0120000002000000000002000000", "2001:db8:2::2"},
                 known{"b80d0120000002000000000002000000", "2001:db8:2::2"},
                 known{"0000000000000000FFFF0000027100CB", "::ffff:203.0.113.2"}}) {
    INFO(k.hex);
    auto a = parse_proc_net_address(k.hex);
    REQUIRE(a);
    CHECK(*a == addr(k.address));
  }
  for (const char* bad :
       {"", "0100007", "0100007F0", "0100007G", "-100007F", "+100007F", "0x00007F", "0000000000000000000000000100000",
        "000000000000000000000000010000000", "0000000000000000000000000100000Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_proc_net_address(bad));
  }
}

TEST_CASE("listeners: /proc/net/tcp keeps LISTEN sockets and skips junk") {
  auto v4 = parse_proc_net_tcp(proc_net_tcp);
  REQUIRE(v4.size() == 3);
  CHECK(v4[0].address == addr("127.0.0.1"));
  CHECK(v4[0].port == 8080);
  CHECK(v4[0].inode == 1001);
  CHECK(v4[0].v6_only == false);
  CHECK(v4[1].address == addr("0.0.0.0"));
  CHECK(v4[1].port == 22);
  CHECK(v4[1].inode == 2002);
  CHECK(v4[2].address == addr("203.0.113.2"));
  CHECK(v4[2].port == 25);
  CHECK(v4[2].inode == 3003);

  auto v6 = parse_proc_net_tcp(proc_net_tcp6);
  REQUIRE(v6.size() == 4);
  CHECK(v6[0].address == addr("::"));
  CHECK(v6[0].port == 80);
  CHECK(v6[0].inode == 6006);
  CHECK_FALSE(v6[0].v6_only.has_value());  // /proc/net does not say
  CHECK(v6[1].address == addr("::1"));
  CHECK(v6[1].port == 8080);
  CHECK(v6[2].address == addr("2001:db8:2::2"));
  CHECK(v6[2].port == 443);
  CHECK(v6[2].inode == 8008);
  CHECK(v6[3].address == addr("::ffff:203.0.113.2"));
  CHECK(v6[3].port == 587);

  // A socket the kernel's walk listed twice (sockets came and went between
  // two read()s of the file) is one listener.
  const std::string again =
      std::string(proc_net_tcp) +
      "   3: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
      "2002 1 0000000000000000 100 0 0 10 0\n";
  CHECK(parse_proc_net_tcp(again).size() == 3);

  CHECK(parse_proc_net_tcp("").empty());
  CHECK(parse_proc_net_tcp("\n\n\n").empty());
  CHECK(parse_proc_net_tcp(std::string(100000, 'x')).empty());
  CHECK(parse_proc_net_tcp(std::string(1000, ':') + "\n" + std::string(1000, ' ')).empty());
  // Every prefix of the real text parses without crashing, to at most the full result.
  const std::string all = std::string(proc_net_tcp) + proc_net_tcp6;
  for (std::size_t n = 0; n <= all.size(); ++n)
    REQUIRE(parse_proc_net_tcp(std::string_view(all).substr(0, n)).size() <= 7);
}

TEST_CASE("listeners: socket fd links") {
  CHECK(parse_socket_link("socket:[123]") == 123u);
  CHECK(parse_socket_link("socket:[18446744073709551615]") == 18446744073709551615ull);
  for (const char* bad : {"socket:[]", "socket:[12a]", "socket:[-1]", "socket:[123", "socket:123]", "pipe:[123]",
                          "/dev/null", "", "socket:[", "socket:[18446744073709551616]", "anon_inode:[eventfd]"}) {
    INFO(bad);
    CHECK_FALSE(parse_socket_link(bad));
  }
}

TEST_CASE("listeners: systemd unit from /proc/<pid>/cgroup") {
  auto unit = [](std::string_view text) { return parse_cgroup(text).unit; };
  CHECK(unit("0::/system.slice/nginx.service\n") == "nginx.service");
  CHECK(unit("0::/system.slice/system-getty.slice/getty@tty1.service\n") == "getty@tty1.service");
  CHECK(unit("0::/init.scope\n") == "init.scope");
  CHECK(unit("0::/system.slice/docker-0123abcd.scope\n") == "docker-0123abcd.scope");
  CHECK(unit("0::/system.slice/_foo.service\n") == "foo.service");  // systemd's cgroup escape
  // A service's own delegated subtree still belongs to the service.
  CHECK(unit("0::/system.slice/containerd.service/kubepods/pod1\n") == "containerd.service");
  // cgroup v1 and hybrid: the name=systemd hierarchy.
  CHECK(unit("12:pids:/system.slice/sshd.service\n"
             "11:memory:/something/else\n"
             "1:name=systemd:/system.slice/sshd.service\n") == "sshd.service");
  CHECK(unit("4:memory:/process_api/abc\n3:cpu,cpuacct:/\n1:name=systemd:/system.slice/ssh.service\n0::/\n") ==
        "ssh.service");
  CHECK(unit("1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n") == "b.service");
  // Users: login sessions and the user manager.
  CHECK(unit("0::/user.slice/user-1000.slice/session-3.scope\n") == "session-3.scope");
  auto user = parse_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n");
  CHECK(user.unit == "user@1000.service");
  CHECK(user.user_unit == "web.service");
  CHECK(parse_cgroup("0::/user.slice/user-1000.slice/user@1000.service/init.scope").user_unit == "init.scope");
  CHECK(parse_cgroup("0::/system.slice/nginx.service").user_unit.empty());
  // Nothing: root cgroup, kernel threads, non-systemd hierarchies, junk.
  CHECK(unit("0::/\n").empty());
  CHECK(unit("0::/system.slice\n").empty());
  CHECK(unit("0::/system.slice/\n").empty());
  CHECK(unit("0::/docker/0123abcd\n").empty());
  CHECK(unit("0::/lxc/c1/system.slice/x.service\n").empty());
  CHECK(unit("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/1b50\n0::/\n").empty());
  CHECK(unit("3:memory:/system.slice/nginx.service\n").empty());  // not the systemd hierarchy
  CHECK(unit("").empty());
  CHECK(unit("garbage\n::\n0:\n0::relative/nginx.service\n0::/system.slice/.service\n").empty());
  CHECK(unit("0::/system.slice/ngi nx.service\n").empty());
  CHECK(unit("0::/system.slice/nginx.target\n").empty());
  CHECK(unit(std::string(10000, '/') + "x").empty());
}

TEST_CASE("listeners: sock_diag replies") {
  std::vector<std::uint8_t> datagram;
  auto v4 = diag_message(AF_INET, 10, "127.0.0.1", 8080, 111);
  auto v6 = diag_message(AF_INET6, 10, "::", 443, 222);
  auto v6_dual = diag_message(AF_INET6, 10, "2001:db8:2::2", 25, 333);
  auto established = diag_message(AF_INET, 1, "203.0.113.2", 22, 444);
  // Where each message ends, and how many listeners are complete by then.
  std::vector<std::pair<std::size_t, std::size_t>> boundaries{{0, 0}};
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &v4, sizeof v4);
  boundaries.emplace_back(datagram.size(), 1);
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &v6, sizeof v6, v6only_attribute(true));
  boundaries.emplace_back(datagram.size(), 2);
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &established, sizeof established);
  boundaries.emplace_back(datagram.size(), 2);
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &v6_dual, sizeof v6_dual, v6only_attribute(false));

  std::vector<listening_socket> out;
  auto status = parse_sock_diag_reply(datagram, out);
  CHECK(status.state == sock_diag_status::more);
  REQUIRE(out.size() == 3);
  CHECK(out[0].address == addr("127.0.0.1"));
  CHECK(out[0].port == 8080);
  CHECK(out[0].inode == 111);
  CHECK(out[0].v6_only == false);
  CHECK(out[1].address == addr("::"));
  CHECK(out[1].port == 443);
  CHECK(out[1].inode == 222);
  CHECK(out[1].v6_only == true);
  CHECK(out[2].address == addr("2001:db8:2::2"));
  CHECK(out[2].v6_only == false);

  SECTION("without the attribute v6_only stays unknown; NLMSG_DONE ends the dump") {
    std::vector<std::uint8_t> d;
    append_message(d, SOCK_DIAG_BY_FAMILY, &v6, sizeof v6);
    const int zero = 0;
    append_message(d, NLMSG_DONE, &zero, sizeof zero);
    append_message(d, SOCK_DIAG_BY_FAMILY, &v4, sizeof v4);  // after DONE: ignored
    std::vector<listening_socket> o;
    CHECK(parse_sock_diag_reply(d, o).state == sock_diag_status::done);
    REQUIRE(o.size() == 1);
    CHECK_FALSE(o[0].v6_only.has_value());
  }
  SECTION("the last message may end without padding") {
    std::vector<std::uint8_t> d;
    append_message(d, SOCK_DIAG_BY_FAMILY, &v6, sizeof v6, v6only_attribute(true));
    const std::uint32_t unpadded = NLMSG_HDRLEN + sizeof v6 + NLA_HDRLEN + 1;
    std::memcpy(d.data(), &unpadded, sizeof unpadded);  // nlmsg_len comes first
    d.resize(unpadded);
    std::vector<listening_socket> o;
    CHECK(parse_sock_diag_reply(d, o).state == sock_diag_status::more);
    REQUIRE(o.size() == 1);
    CHECK(o[0].v6_only == true);
  }
  SECTION("NLMSG_ERROR carries the errno") {
    std::vector<std::uint8_t> d;
    nlmsgerr err{};
    err.error = -EPERM;
    append_message(d, NLMSG_ERROR, &err, sizeof err);
    std::vector<listening_socket> o;
    auto s = parse_sock_diag_reply(d, o);
    CHECK(s.state == sock_diag_status::failed);
    CHECK(s.error == EPERM);
  }
  SECTION("a dump that failed in NLMSG_DONE") {
    std::vector<std::uint8_t> d;
    const int error = -EINTR;
    append_message(d, NLMSG_DONE, &error, sizeof error);
    std::vector<listening_socket> o;
    auto s = parse_sock_diag_reply(d, o);
    CHECK(s.state == sock_diag_status::failed);
    CHECK(s.error == EINTR);
  }
  SECTION("truncated and malformed datagrams fail without reading past the end") {
    std::vector<listening_socket> o;
    for (std::size_t n = 1; n < datagram.size(); ++n) {
      INFO("cut at " << n);
      std::vector<std::uint8_t> cut(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(n));
      o.clear();
      auto s = parse_sock_diag_reply(cut, o);
      auto boundary = std::find_if(boundaries.begin(), boundaries.end(), [&](auto& b) { return b.first == n; });
      if (boundary != boundaries.end()) {
        REQUIRE(s.state == sock_diag_status::more);
        REQUIRE(o.size() == boundary->second);
      } else {
        REQUIRE(s.state == sock_diag_status::failed);
        REQUIRE(s.error == EBADMSG);
      }
    }
    std::vector<std::uint8_t> short_body;
    append_message(short_body, SOCK_DIAG_BY_FAMILY, &v4, 8);  // fixed part cut short
    o.clear();
    auto s = parse_sock_diag_reply(short_body, o);
    CHECK(s.state == sock_diag_status::failed);
    CHECK(s.error == EBADMSG);
    CHECK(o.empty());
    std::vector<std::uint8_t> bad_attribute = datagram;
    // The v6 message's attribute claims more bytes than its message has.
    const std::size_t attr_at = NLMSG_ALIGN(NLMSG_HDRLEN + sizeof v4) + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof v6);
    bad_attribute[attr_at] = 200;
    o.clear();
    CHECK(parse_sock_diag_reply(bad_attribute, o).state == sock_diag_status::more);
    REQUIRE(o.size() == 3);
    CHECK_FALSE(o[1].v6_only.has_value());
  }
}

TEST_CASE("listeners: bound address classes") {
  CHECK(classify_address("0.0.0.0") == address_scope::wildcard);
  CHECK(classify_address("::") == address_scope::wildcard);
  CHECK(classify_address("::ffff:0.0.0.0") == address_scope::wildcard);
  CHECK(classify_address("127.0.0.1") == address_scope::loopback);
  CHECK(classify_address("127.0.0.53") == address_scope::loopback);
  CHECK(classify_address("127.255.255.254") == address_scope::loopback);
  CHECK(classify_address("::1") == address_scope::loopback);
  CHECK(classify_address("::ffff:127.0.0.1") == address_scope::loopback);
  CHECK(classify_address("203.0.113.2") == address_scope::specific);
  CHECK(classify_address("128.0.0.1") == address_scope::specific);
  CHECK(classify_address("2001:db8:2::2") == address_scope::specific);
  CHECK(classify_address("::ffff:203.0.113.2") == address_scope::specific);
  CHECK(classify_address("::2") == address_scope::specific);
  CHECK(classify_address("not an address") == address_scope::specific);
  CHECK(std::string(to_string(address_scope::loopback)) == "loopback");
}

TEST_CASE("listeners: which listener a connection reaches") {
  auto listener = [](const char* address, bool v6_only = false) {
    v1::Listener l;
    l.set_address(address);
    l.set_v6_only(v6_only);
    return l;
  };
  const auto v4 = addr("203.0.113.2");
  const auto v6 = addr("2001:db8:2::2");
  CHECK(listener_accepts(listener("0.0.0.0"), v4));
  CHECK_FALSE(listener_accepts(listener("0.0.0.0"), v6));
  CHECK(listener_accepts(listener("203.0.113.2"), v4));
  CHECK_FALSE(listener_accepts(listener("127.0.0.1"), v4));
  CHECK(listener_accepts(listener("::"), v4));  // dual-stack
  CHECK(listener_accepts(listener("::"), v6));
  CHECK_FALSE(listener_accepts(listener("::", true), v4));
  CHECK(listener_accepts(listener("::", true), v6));
  CHECK(listener_accepts(listener("::ffff:203.0.113.2"), v4));
  CHECK(listener_accepts(listener("::ffff:0.0.0.0"), v4));
  CHECK_FALSE(listener_accepts(listener("::ffff:203.0.113.2"), v6));
  CHECK_FALSE(listener_accepts(listener("::ffff:203.0.113.3"), v4));
  CHECK(listener_accepts(listener("2001:db8:2::2"), v6));
  CHECK_FALSE(listener_accepts(listener("2001:db8:2::2"), v4));
  CHECK_FALSE(listener_accepts(listener("::1"), v6));
  CHECK(listener_accepts(listener("0.0.0.0"), addr("::ffff:203.0.113.2")));  // mapped target counts as IPv4
  CHECK_FALSE(listener_accepts(listener("junk"), v4));
}

TEST_CASE("listeners: a fixture /proc tree") {
  temp_dir proc;
  proc.write("net/tcp", proc_net_tcp);
  proc.write("net/tcp6", proc_net_tcp6);
  proc.write("sys/net/ipv6/bindv6only", "1\n");
  // pid 1: systemd, nothing of interest.
  proc.write("1/comm", "systemd\n");
  proc.write("1/cgroup", "0::/init.scope\n");
  proc.fd("1", 0, "/dev/null");
  proc.fd("1", 7, "socket:[5]");
  // pid 300: nginx master with 8080 (v4 and v6) and 80, among other fds.
  proc.write("300/comm", "nginx\n");
  proc.write("300/cgroup", "0::/system.slice/nginx.service\n");
  proc.fd("300", 0, "/dev/null");
  proc.fd("300", 3, "pipe:[77]");
  proc.fd("300", 6, "socket:[1001]");
  proc.fd("300", 7, "socket:[6006]");
  proc.fd("300", 8, "socket:[7007]");
  proc.fd("300", 9, "socket:[garbage]");
  // pid 301: an nginx worker holding the same sockets (fork): the lower pid wins.
  proc.write("301/comm", "nginx\n");
  proc.write("301/cgroup", "0::/system.slice/nginx.service\n");
  proc.fd("301", 6, "socket:[1001]");
  // pid 42: sshd, cgroup v1.
  proc.write("42/comm", "sshd\n");
  proc.write("42/cgroup", "1:name=systemd:/system.slice/ssh.service\n");
  proc.fd("42", 3, "socket:[2002]");
  // pid 43: a name that is not UTF-8 (any process can set one).
  proc.write("43/comm", "ev\xffil\x1b[1m\n");
  proc.fd("43", 3, "socket:[3003]");
  // pid 2000: started by hand in a login session; no comm (it vanished half-way).
  proc.write("2000/cgroup", "0::/user.slice/user-1000.slice/session-3.scope\n");
  proc.fd("2000", 5, "socket:[8008]");
  // Entries that must not disturb the scan: a vanished process, an fd "dir"
  // that is a file, non-pid names.
  proc.write("77/comm", "gone\n");
  proc.write("78/fd", "not a directory");
  fs::create_directories(proc.path / "net" / "fd");
  fs::create_directory_symlink(proc.path / "300", proc.path / "self");
  proc.write("sys/fd", "x");

  listener_options options;
  options.proc_root = proc.path.string();
  options.use_sock_diag = false;

  SECTION("owners of socket inodes") {
    auto owners = find_socket_owners({1001, 2002, 8008, 4444, 0}, options.proc_root);
    CHECK(owners.size() == 3);
    CHECK(owners.at(1001).pid == 300);
    CHECK(owners.at(1001).process == "nginx");
    CHECK(owners.at(1001).unit.unit == "nginx.service");
    CHECK(owners.at(2002).pid == 42);
    CHECK(owners.at(2002).unit.unit == "ssh.service");
    CHECK(owners.at(8008).pid == 2000);
    CHECK(owners.at(8008).process.empty());
    CHECK(owners.at(8008).unit.unit == "session-3.scope");
    CHECK_FALSE(owners.contains(4444));
    CHECK(find_socket_owners({3003}, options.proc_root).at(3003).process == "ev\\xffil\\x1b[1m");
    CHECK(find_socket_owners({}, options.proc_root).empty());
    CHECK(find_socket_owners({1001}, (proc.path / "missing").string()).empty());
  }

  SECTION("every listener, sorted, with owners and the bindv6only default") {
    auto all = find_listeners({}, options);
    REQUIRE(all.size() == 7);
    std::vector<std::pair<std::uint32_t, std::string>> order;
    order.reserve(all.size());
    for (const auto& l : all) order.emplace_back(l.port(), l.address());
    CHECK(order == std::vector<std::pair<std::uint32_t, std::string>>{{22, "0.0.0.0"},
                                                                      {25, "203.0.113.2"},
                                                                      {80, "::"},
                                                                      {443, "2001:db8:2::2"},
                                                                      {587, "::ffff:203.0.113.2"},
                                                                      {8080, "127.0.0.1"},
                                                                      {8080, "::1"}});
    CHECK(all[0].pid() == 42);
    CHECK(all[0].process() == "sshd");
    CHECK(all[0].unit() == "ssh.service");
    CHECK(all[0].inode() == 2002);
    CHECK_FALSE(all[0].v6_only());  // IPv4
    CHECK(all[1].pid() == 43);
    CHECK(all[1].unit().empty());  // no cgroup file
    CHECK(all[2].pid() == 300);
    CHECK(all[2].v6_only());        // :: takes bindv6only = 1 of this tree
    CHECK(all[3].v6_only());        // a specific IPv6 address: always
    CHECK_FALSE(all[4].v6_only());  // v4-mapped: never
    CHECK(all[4].pid() == 0);       // nobody holds 9009
    CHECK(all[4].process().empty());
    CHECK(all[4].inode() == 9009);
    CHECK(all[6].v6_only());  // ::1
    CHECK(all[5].pid() == 300);
    CHECK(all[5].unit() == "nginx.service");
    CHECK(all[6].pid() == 300);
  }

  SECTION("only the requested ports") {
    auto some = find_listeners({8080, 22, 9999}, options);
    REQUIRE(some.size() == 3);
    CHECK(some[0].port() == 22);
    CHECK(some[1].port() == 8080);
    CHECK(some[2].port() == 8080);
    CHECK(find_listeners({9999}, options).empty());
  }

  SECTION("no bindv6only file, no IPv6, no /proc") {
    fs::remove(proc.path / "sys" / "net" / "ipv6" / "bindv6only");
    auto all = find_listeners({80}, options);
    REQUIRE(all.size() == 1);
    CHECK_FALSE(all[0].v6_only());
    fs::remove(proc.path / "net" / "tcp6");
    all = find_listeners({}, options);
    CHECK(all.size() == 3);
    options.proc_root = (proc.path / "missing").string();
    CHECK(find_listeners({}, options).empty());
  }
}

TEST_CASE("listeners: real sockets of this process") {
  const auto pid = static_cast<std::uint32_t>(::getpid());
  const std::string comm = own_comm();
  REQUIRE_FALSE(comm.empty());

  test_socket loopback4("127.0.0.1");
  test_socket loopback6("::1");
  test_socket dual("::", 0);
  test_socket only6("::", 1);

  for (bool sock_diag : {true, false}) {
    INFO("sock_diag " << sock_diag);
    listener_options options;
    options.use_sock_diag = sock_diag;
    auto found = own_sockets(find_listeners({loopback4.port, loopback6.port, dual.port, only6.port}, options),
                             {&loopback4, &loopback6, &dual, &only6});
    REQUIRE(found.size() == 4);
    struct expected {
      const test_socket* socket;
      const char* address;
      bool v6_only;
    };
    const bool default_v6only = system_bindv6only();
    // The kernel turns IPV6_V6ONLY on when an IPv6 socket binds a specific address.
    for (auto e : {expected{&loopback4, "127.0.0.1", false}, expected{&loopback6, "::1", true},
                   expected{&dual, "::", false}, expected{&only6, "::", true}}) {
      INFO(e.address << " port " << e.socket->port);
      const auto* l = find_inode(found, e.socket->inode);
      REQUIRE(l);
      CHECK(l->port() == e.socket->port);
      CHECK(l->address() == e.address);
      CHECK(l->pid() == pid);
      CHECK(l->process() == comm);
      CHECK(l->inode() == e.socket->inode);
      // /proc/net cannot tell IPV6_V6ONLY: a socket on :: gets the default.
      const bool guessed = !sock_diag && std::string_view(e.address) == "::";
      CHECK(l->v6_only() == (guessed ? default_v6only : e.v6_only));
    }
    CHECK(classify_address(found[0].address()) == address_scope::loopback);
    CHECK(classify_address(found[1].address()) == address_scope::loopback);
    CHECK(classify_address(found[2].address()) == address_scope::wildcard);
    if (sock_diag) {
      CHECK(listener_accepts(found[2], addr("127.0.0.1")));
      CHECK_FALSE(listener_accepts(found[3], addr("127.0.0.1")));
    }
  }
}

TEST_CASE("listeners: /proc/net and sock_diag agree on non-trivial addresses") {
  // Bound with IP_FREEBIND to documentation addresses this host does not own:
  // the sockets only listen, no packet is sent. This checks the /proc/net word
  // order against the kernel's own binary answer.
  test_socket a("203.0.113.2", -1, true);
  test_socket b("2001:db8:2::2", -1, true);
  test_socket c("::ffff:127.0.0.1", 0);
  std::vector<std::uint16_t> ports{a.port, b.port, c.port};

  listener_options from_proc;
  from_proc.use_sock_diag = false;
  auto by_proc = own_sockets(find_listeners(ports, from_proc), {&a, &b, &c});
  auto by_diag = own_sockets(find_listeners(ports, {}), {&a, &b, &c});
  REQUIRE(by_proc.size() == 3);
  REQUIRE(by_diag.size() == 3);
  CHECK(by_proc[0].address() == "203.0.113.2");
  CHECK(by_proc[1].address() == "2001:db8:2::2");
  CHECK(by_proc[2].address() == "::ffff:127.0.0.1");
  CHECK(by_proc[2].pid() == static_cast<std::uint32_t>(::getpid()));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(by_proc[i].port() == by_diag[i].port());
    CHECK(by_proc[i].address() == by_diag[i].address());
    CHECK(by_proc[i].inode() == by_diag[i].inode());
    CHECK(by_proc[i].pid() == by_diag[i].pid());
    CHECK(by_proc[i].v6_only() == by_diag[i].v6_only());
  }
}

TEST_CASE("listeners: sock_diag's cgroup id is read, and names a cgroup directory by its inode") {
  // INET_DIAG_CGROUP_ID: a u64 after the header.
  std::vector<std::uint8_t> attribute(NLA_ALIGN(NLA_HDRLEN + sizeof(std::uint64_t)), 0);
  nlattr attr{};
  attr.nla_len = NLA_HDRLEN + sizeof(std::uint64_t);
  attr.nla_type = INET_DIAG_CGROUP_ID;
  std::memcpy(attribute.data(), &attr, sizeof attr);
  const std::uint64_t id = 0x1234567890ULL;
  std::memcpy(attribute.data() + NLA_HDRLEN, &id, sizeof id);
  std::vector<std::uint8_t> datagram;
  const auto msg = diag_message(AF_INET, 0x0A, "0.0.0.0", 80, 4242);
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &msg, sizeof msg, attribute);
  std::vector<listening_socket> out;
  CHECK(parse_sock_diag_reply(datagram, out).state == sock_diag_status::more);
  REQUIRE(out.size() == 1);
  CHECK(out[0].cgroup_id == id);
  // Cut short (a u32): ignored, not read past.
  attribute.resize(NLA_ALIGN(NLA_HDRLEN + 4));
  attr.nla_len = NLA_HDRLEN + 4;
  std::memcpy(attribute.data(), &attr, sizeof attr);
  datagram.clear();
  append_message(datagram, SOCK_DIAG_BY_FAMILY, &msg, sizeof msg, attribute);
  out.clear();
  CHECK(parse_sock_diag_reply(datagram, out).state == sock_diag_status::more);
  REQUIRE(out.size() == 1);
  CHECK(out[0].cgroup_id == 0);

  // A tree like /sys/fs/cgroup: found by inode, path relative to the root.
  const auto root = std::filesystem::temp_directory_path() / ("dropspot-cgroup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "system.slice" / "nginx.service");
  std::filesystem::create_directories(root / "user.slice");
  struct stat st {};
  REQUIRE(::stat((root / "system.slice" / "nginx.service").c_str(), &st) == 0);
  const auto found = cgroup_paths_by_id(root.string(), {st.st_ino, 0, 999999999999ULL});
  REQUIRE(found.size() == 1);
  CHECK(found.at(st.st_ino) == "/system.slice/nginx.service");
  CHECK(unit_from_cgroup_path(found.at(st.st_ino)).unit == "nginx.service");
  CHECK(cgroup_paths_by_id(root.string(), {}).empty());
  std::filesystem::remove_all(root);
}

TEST_CASE("listeners: the cgroup2 mount, unified or hybrid") {
  CHECK(cgroup2_mount("sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n") == "/sys/fs/cgroup");
  CHECK(cgroup2_mount("tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup /sys/fs/cgroup/systemd cgroup rw,name=systemd 0 0\n"
                      "cgroup /sys/fs/cgroup/unified cgroup2 rw 0 0\n") == "/sys/fs/cgroup/unified");
  CHECK(cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n").empty());
  CHECK(cgroup2_mount("").empty());
}
