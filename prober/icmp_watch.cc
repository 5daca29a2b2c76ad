#include "prober/icmp_watch.h"

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/icmp.hpp>
#include <asio/use_awaitable.hpp>
#include <utility>
#include <vector>

#include "common/awaitable.h"
#include "common/spawn.h"
#include "prober/control_client.h"

namespace dropspot::prober {

// ---------------------------------------------------------------- parsing

namespace {

constexpr std::size_t ipv4_header_min = 20;
constexpr std::size_t ipv6_header = 40;
constexpr std::size_t icmp_header = 8;  ///< type, code, checksum, 4 bytes the error types leave unused (or the MTU)
constexpr std::size_t ports_bytes = 4;  ///< source and destination port: the start of TCP's and UDP's headers
constexpr std::uint8_t protocol_icmp = 1;

std::uint16_t read16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

asio::ip::address v4_at(const std::uint8_t* p) {
  return asio::ip::make_address_v4(asio::ip::address_v4::bytes_type{p[0], p[1], p[2], p[3]});
}

asio::ip::address v6_at(const std::uint8_t* p) {
  asio::ip::address_v6::bytes_type b{};
  std::copy(p, p + b.size(), b.begin());
  return asio::ip::make_address_v6(b);
}

bool has_ports(std::uint8_t protocol) { return protocol == quoted_tcp || protocol == quoted_udp; }

/// The quoted packet's ports, `offset` bytes into the quote of `size` bytes.
bool read_ports(const std::uint8_t* quote, std::size_t size, std::size_t offset, icmp_error& e) {
  if (offset > size || size - offset < ports_bytes) return false;
  e.quoted_source_port = read16(quote + offset);
  e.quoted_destination_port = read16(quote + offset + 2);
  return true;
}

/// An ICMP (IPv4) message of `size` bytes, its IP header already skipped.
std::optional<icmp_error> parse_icmp4(const std::uint8_t* m, std::size_t size, const asio::ip::address& from) {
  if (size < icmp_header) return std::nullopt;
  icmp_error e;
  e.from = from;
  e.type = m[0];
  e.code = m[1];
  if (e.type != 3 && e.type != 11) return std::nullopt;  // unreachable, time exceeded
  const std::uint8_t* q = m + icmp_header;
  const std::size_t qsize = size - icmp_header;
  if (qsize < ipv4_header_min || (q[0] >> 4) != 4) return std::nullopt;
  const std::size_t qihl = (q[0] & 0x0fu) * 4u;
  if (qihl < ipv4_header_min || qihl > qsize) return std::nullopt;
  // A later fragment quotes no transport header.
  if ((read16(q + 6) & 0x1fffu) != 0) return std::nullopt;
  e.protocol = q[9];
  if (!has_ports(e.protocol)) return std::nullopt;
  e.quoted_source = v4_at(q + 12);
  e.quoted_destination = v4_at(q + 16);
  if (!read_ports(q, qsize, qihl, e)) return std::nullopt;
  return e;
}

/// An ICMPv6 message of `size` bytes (raw ICMPv6 sockets hand no IPv6 header).
std::optional<icmp_error> parse_icmp6(const std::uint8_t* m, std::size_t size, const asio::ip::address& from) {
  if (size < icmp_header) return std::nullopt;
  icmp_error e;
  e.from = from;
  e.type = m[0];
  e.code = m[1];
  if (e.type != 1 && e.type != 3) return std::nullopt;  // unreachable, time exceeded
  const std::uint8_t* q = m + icmp_header;
  const std::size_t qsize = size - icmp_header;
  if (qsize < ipv6_header || (q[0] >> 4) != 6) return std::nullopt;
  e.quoted_source = v6_at(q + 8);
  e.quoted_destination = v6_at(q + 24);
  // Our SYNs carry no extension headers, but a router may add some: walk a
  // few (hop-by-hop, routing, destination options, a first fragment).
  std::uint8_t next = q[6];
  std::size_t offset = ipv6_header;
  for (int hops = 0; hops < 8 && !has_ports(next); ++hops) {
    if (offset > qsize || qsize - offset < 8) return std::nullopt;  // every extension header has 8 bytes at least
    const std::uint8_t* x = q + offset;
    if (next == 0 || next == 43 || next == 60) {
      offset += (static_cast<std::size_t>(x[1]) + 1) * 8;
    } else if (next == 44) {
      if ((read16(x + 2) & 0xfff8u) != 0) return std::nullopt;  // a later fragment
      offset += 8;
    } else {
      return std::nullopt;
    }
    next = x[0];
  }
  e.protocol = next;
  if (!has_ports(e.protocol)) return std::nullopt;
  if (!read_ports(q, qsize, offset, e)) return std::nullopt;
  return e;
}

}  // namespace

std::optional<icmp_error> parse_icmp_error(const std::uint8_t* data, std::size_t size, const asio::ip::address& from) {
  if (data == nullptr) return std::nullopt;
  if (from.is_v6()) return parse_icmp6(data, size, from);
  // IPv4 raw sockets hand the IP header first: skip it by its IHL.
  if (size < ipv4_header_min || (data[0] >> 4) != 4) return std::nullopt;
  const std::size_t ihl = (data[0] & 0x0fu) * 4u;
  if (ihl < ipv4_header_min || ihl > size || data[9] != protocol_icmp) return std::nullopt;
  return parse_icmp4(data + ihl, size - ihl, from);
}

bool is_rights_error(const std::error_code& ec) {
  return ec == asio::error::access_denied || ec == asio::error::no_permission;
}

// ---------------------------------------------------------------- icmp_watch

struct icmp_watch::watcher {
  std::uint16_t local_port = 0;
  asio::ip::tcp::endpoint target;
  handler on_error;
  std::optional<icmp_error> heard;
};

struct icmp_watch::state {
  std::optional<asio::ip::icmp::socket> socket;
  std::vector<std::shared_ptr<watcher>> watchers;
};

namespace {

/// Hands a quoted TCP packet to the watchers of its source port and
/// destination. Their handlers may end registrations: collected first.
void deliver_to(icmp_watch::state& s, const icmp_error& error) {
  if (error.protocol != quoted_tcp) return;
  std::vector<std::shared_ptr<icmp_watch::watcher>> matching;
  for (const auto& w : s.watchers)
    if (w->local_port == error.quoted_source_port && w->target.port() == error.quoted_destination_port &&
        w->target.address() == error.quoted_destination)
      matching.push_back(w);
  for (const auto& w : matching) {
    w->heard = error;
    if (w->on_error) w->on_error(error);
  }
}

/// Consecutive receive errors after which the loop gives up (a socket that
/// fails every time would otherwise spin).
constexpr int max_receive_errors = 16;

/// Reads the raw socket until it is closed. Holds the state, so that a watch
/// destroyed meanwhile leaves it nothing freed to touch.
asio::awaitable<void> receive_loop(std::shared_ptr<icmp_watch::state> s) {
  std::vector<std::uint8_t> buffer(65536);
  asio::ip::icmp::endpoint sender;
  int errors = 0;
  while (s->socket && s->socket->is_open()) {
    auto receiving = s->socket->async_receive_from(asio::buffer(buffer), sender, as_tuple_awaitable);
    auto [ec, n] = co_await std::move(receiving);
    if (ec == asio::error::operation_aborted || !s->socket->is_open()) co_return;
    // message_size: a datagram larger than the buffer (not an ICMP error).
    if (ec && ec != asio::error::message_size) {
      if (++errors >= max_receive_errors) co_return;
      continue;
    }
    errors = 0;
    if (auto parsed = parse_icmp_error(buffer.data(), n, sender.address())) deliver_to(*s, *parsed);
  }
}

}  // namespace

icmp_watch::registration& icmp_watch::registration::operator=(registration&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    watcher_ = std::move(other.watcher_);
  }
  return *this;
}

std::optional<icmp_error> icmp_watch::registration::heard() const { return watcher_ ? watcher_->heard : std::nullopt; }

void icmp_watch::registration::reset() {
  if (state_ && watcher_) std::erase(state_->watchers, watcher_);
  state_.reset();
  watcher_.reset();
}

icmp_watch::icmp_watch() : state_(std::make_shared<state>()) {}

icmp_watch::~icmp_watch() { close(); }

std::error_code icmp_watch::open(const asio::any_io_executor& executor, const asio::ip::address& local) {
  // Once only: a second socket would meet the first one's loop in the state.
  if (state_->socket) return asio::error::already_open;
  std::error_code ec;
  asio::ip::icmp::socket socket(executor);
  socket.open(local.is_v6() ? asio::ip::icmp::v6() : asio::ip::icmp::v4(), ec);
  if (ec) return ec;
  socket.bind(asio::ip::icmp::endpoint(local, 0), ec);
  if (ec) return ec;
  state_->socket.emplace(std::move(socket));
  asio::co_spawn(executor, receive_loop(state_), on_escape("reading ICMP errors", report_internal_error));
  return {};
}

bool icmp_watch::is_open() const { return state_->socket && state_->socket->is_open(); }

void icmp_watch::close() {
  if (!state_->socket) return;
  std::error_code ignored;
  state_->socket->close(ignored);
}

icmp_watch::registration icmp_watch::watch(std::uint16_t local_port, const asio::ip::tcp::endpoint& target,
                                           handler on_error) {
  registration r;
  r.state_ = state_;
  r.watcher_ = std::make_shared<watcher>();
  r.watcher_->local_port = local_port;
  r.watcher_->target = target;
  r.watcher_->on_error = std::move(on_error);
  state_->watchers.push_back(r.watcher_);
  return r;
}

void icmp_watch::deliver(const icmp_error& error) { deliver_to(*state_, error); }

}  // namespace dropspot::prober
