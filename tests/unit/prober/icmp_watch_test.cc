// The raw ICMP socket's reader (prober/icmp_watch.h): ICMP errors as a raw
// socket hands them (IPv4 with its IP header, ICMPv6 without), built byte by
// byte; and the watch handing them to the attempts that registered.
#include "prober/icmp_watch.h"

#include <asio/io_context.hpp>
#include <asio/ip/icmp.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>

#include "support/packet_builder.h"

using namespace dropspot::prober;
using namespace testpkt;

namespace {

const std::string client = "198.51.100.2", server = "203.0.113.2", router = "192.0.2.1";
const std::string client6 = "2001:db8:1::2", server6 = "2001:db8:2::2", router6 = "2001:db8:ff::1";

/// Our SYN as a router quotes it (RFC 792: the IP header and 8 bytes).
bytes quoted_syn(unsigned ttl = 1) {
  const bytes syn = ipv4({.src = client, .dst = server, .ttl = static_cast<std::uint8_t>(ttl)},
                         tcp({.src_port = 43210, .dst_port = 8083, .seq = 1000, .flags = flags::syn}));
  return bytes(syn.begin(), syn.begin() + 28);
}

/// What a raw IPv4 ICMP socket receives: the IP header, then the message.
bytes received4(const std::string& from, std::uint8_t type, std::uint8_t code, const bytes& quote,
                bytes ip_options = {}) {
  return ipv4({.src = from, .dst = client, .protocol = 1, .ttl = 254, .options = std::move(ip_options)},
              icmp(type, code, quote));
}

std::optional<icmp_error> parse(const bytes& b, const std::string& from) {
  return parse_icmp_error(b.data(), b.size(), asio::ip::make_address(from));
}

/// Parses each prefix of b from a buffer of exactly that size (so that ASan
/// sees a read past it); the first length that parses.
std::size_t shortest_that_parses(const bytes& b, const std::string& from) {
  for (std::size_t n = 0; n <= b.size(); ++n) {
    auto copy = std::make_unique<std::uint8_t[]>(n == 0 ? 1 : n);
    if (n > 0) std::memcpy(copy.get(), b.data(), n);
    if (parse_icmp_error(n == 0 ? nullptr : copy.get(), n, asio::ip::make_address(from))) return n;
  }
  return b.size() + 1;
}

}  // namespace

TEST_CASE("IPv4 time exceeded from a router quoting our SYN", "[icmp]") {
  // Recorded shape: 20-byte IP header, ICMP type 11 code 0, the SYN's IP
  // header and its first 8 TCP bytes.
  const bytes b = {
      0x45, 0xc0, 0x00, 0x38, 0x12, 0x34, 0x00, 0x00, 0xfe, 0x01, 0x00, 0x00,  // IPv4, 56 bytes, TTL 254, ICMP
      192,  0,    2,    1,    198,  51,   100,  2,                             // router -> client
      11,   0,    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,                          // time exceeded in transit
      0x45, 0x00, 0x00, 0x3c, 0xab, 0xcd, 0x40, 0x00, 0x00, 0x06, 0x00, 0x00,  // quoted: TTL 0, TCP, DF
      198,  51,   100,  2,    203,  0,    113,  2,                             // client -> server
      0xa8, 0xca, 0x1f, 0x93, 0x00, 0x00, 0x03, 0xe8,                          // 43210 -> 8083, seq 1000
  };
  const auto e = parse(b, router);
  REQUIRE(e);
  CHECK(e->from.to_string() == router);
  CHECK(e->type == 11);
  CHECK(e->code == 0);
  CHECK(e->protocol == quoted_tcp);
  CHECK(e->quoted_source.to_string() == client);
  CHECK(e->quoted_destination.to_string() == server);
  CHECK(e->quoted_source_port == 43210);
  CHECK(e->quoted_destination_port == 8083);
  CHECK(parse(received4(router, 11, 0, quoted_syn()), router)->quoted_destination_port == 8083);
}

TEST_CASE("IPv4 with IP options on the outer header (IHL 6) and on the quoted one", "[icmp]") {
  const auto outer = parse(received4(router, 11, 0, quoted_syn(), {0x94, 0x04, 0, 0}), router);
  REQUIRE(outer);
  CHECK(outer->quoted_source_port == 43210);
  const bytes syn_with_options = ipv4({.src = client, .dst = server, .options = {0x94, 0x04, 0, 0}},
                                      tcp({.src_port = 40000, .dst_port = 25, .flags = flags::syn}));
  const auto inner =
      parse(received4(router, 11, 0, bytes(syn_with_options.begin(), syn_with_options.begin() + 32)), router);
  REQUIRE(inner);
  CHECK(inner->quoted_source_port == 40000);
  CHECK(inner->quoted_destination_port == 25);
}

TEST_CASE("IPv4 port unreachable and admin-prohibited from the host", "[icmp]") {
  const auto port = parse(received4(server, 3, 3, quoted_syn(60)), server);
  REQUIRE(port);
  CHECK(port->type == 3);
  CHECK(port->code == 3);
  CHECK(port->from.to_string() == server);
  const auto admin = parse(received4(router, 3, 13, quoted_syn()), router);
  REQUIRE(admin);
  CHECK(admin->code == 13);
}

TEST_CASE("IPv6 time exceeded quoting our SYN, without the IPv6 header", "[icmp]") {
  const bytes syn6 = ipv6({.src = client6, .dst = server6, .hop_limit = 1},
                          tcp({.src_port = 40001, .dst_port = 8083, .flags = flags::syn}));
  const auto e = parse(icmp(3, 0, syn6), router6);
  REQUIRE(e);
  CHECK(e->from.to_string() == router6);
  CHECK(e->type == 3);
  CHECK(e->protocol == quoted_tcp);
  CHECK(e->quoted_source.to_string() == client6);
  CHECK(e->quoted_destination.to_string() == server6);
  CHECK(e->quoted_source_port == 40001);
  CHECK(e->quoted_destination_port == 8083);
  // Unreachable (1, admin-prohibited), through a destination-options header.
  const bytes with_ext = ipv6({.src = client6, .dst = server6, .next = 60},
                              cat({ext(6), tcp({.src_port = 40002, .dst_port = 443, .flags = flags::syn})}));
  const auto ext_e = parse(icmp(1, 1, with_ext), server6);
  REQUIRE(ext_e);
  CHECK(ext_e->quoted_source_port == 40002);
  CHECK(ext_e->code == 1);
}

TEST_CASE("every truncation of a valid error is refused, inside the buffer", "[icmp]") {
  // The shortest that parses: the headers up to the quoted ports.
  CHECK(shortest_that_parses(received4(router, 11, 0, quoted_syn()), router) == 20 + 8 + 20 + 4);
  CHECK(shortest_that_parses(received4(router, 11, 0, quoted_syn(), {1, 1, 1, 1}), router) == 24 + 8 + 20 + 4);
  const bytes syn6 = ipv6({.src = client6, .dst = server6}, tcp({.src_port = 1, .dst_port = 2, .flags = flags::syn}));
  CHECK(shortest_that_parses(icmp(3, 0, syn6), router6) == 8 + 40 + 4);
  const bytes ext6 = ipv6({.src = client6, .dst = server6, .next = 0},
                          cat({ext(44, 1), frag_ext(6, 0, true), tcp({.src_port = 1, .dst_port = 2})}));
  CHECK(shortest_that_parses(icmp(1, 4, ext6), router6) == 8 + 40 + 16 + 8 + 4);
}

TEST_CASE("lengths that lie are refused", "[icmp]") {
  auto b = received4(router, 11, 0, quoted_syn());
  SECTION("outer IHL past the end") { b[0] = 0x4f; }
  SECTION("outer IHL below 5") { b[0] = 0x44; }
  SECTION("quoted IHL past the end") { b[28] = 0x4f; }
  SECTION("quoted version 6 in an IPv4 error") { b[28] = 0x65; }
  SECTION("outer protocol not ICMP") { b[9] = 6; }
  SECTION("a later fragment quoted (no ports in it)") { b[28 + 7] = 0x10; }
  CHECK_FALSE(parse(b, router));
  // An IPv6 extension header longer than the quote.
  const bytes long_ext =
      ipv6({.src = client6, .dst = server6, .next = 0}, cat({ext(6, 200), tcp({.src_port = 1, .dst_port = 2})}));
  CHECK_FALSE(parse(icmp(3, 0, bytes(long_ext.begin(), long_ext.begin() + 60)), router6));
}

TEST_CASE("what is not an error quoting TCP or UDP is ignored", "[icmp]") {
  // An echo reply, an echo request, an ICMPv6 echo reply and packet-too-big.
  CHECK_FALSE(parse(received4(server, 0, 0, {0, 1, 0, 1, 'p', 'i', 'n', 'g'}), server));
  CHECK_FALSE(parse(received4(server, 8, 0, bytes(40, 0)), server));
  const bytes syn6 = ipv6({.src = client6, .dst = server6}, tcp({.src_port = 1, .dst_port = 2, .flags = flags::syn}));
  CHECK_FALSE(parse(icmp(129, 0, syn6), server6));
  CHECK_FALSE(parse(icmp(2, 0, syn6), router6));
  // A quoted ICMP echo has no ports.
  const bytes echo = ipv4({.src = client, .dst = server, .protocol = 1}, icmp(8, 0, bytes(8, 0)));
  CHECK_FALSE(parse(received4(router, 11, 0, echo), router));
}

TEST_CASE("a quoted UDP datagram is read, and the watch ignores it", "[icmp]") {
  const bytes udp = ipv4({.src = client, .dst = server, .protocol = 17}, {0xa8, 0xca, 0x00, 0x35, 0, 8, 0, 0});
  const auto e = parse(received4(server, 3, 3, udp), server);
  REQUIRE(e);
  CHECK(e->protocol == quoted_udp);
  CHECK(e->quoted_destination_port == 53);

  icmp_watch watch;
  int calls = 0;
  auto reg = watch.watch(43210, {asio::ip::make_address(server), 53}, [&](const icmp_error&) { ++calls; });
  watch.deliver(*e);
  CHECK(calls == 0);
  CHECK_FALSE(reg.heard());
}

TEST_CASE("the watch hands an error to the attempt from its port to its target", "[icmp]") {
  icmp_watch watch;
  const auto e = parse(received4(router, 11, 0, quoted_syn()), router);
  REQUIRE(e);
  int ours = 0, other_port = 0, other_target = 0;
  auto reg = watch.watch(43210, {asio::ip::make_address(server), 8083}, [&](const icmp_error&) { ++ours; });
  auto reg2 = watch.watch(43211, {asio::ip::make_address(server), 8083}, [&](const icmp_error&) { ++other_port; });
  auto reg3 = watch.watch(43210, {asio::ip::make_address(server), 8084}, [&](const icmp_error&) { ++other_target; });
  watch.deliver(*e);
  CHECK(ours == 1);
  CHECK(other_port == 0);
  CHECK(other_target == 0);
  REQUIRE(reg.heard());
  CHECK(reg.heard()->from.to_string() == router);
  CHECK_FALSE(reg2.heard());

  SECTION("a registration ended hears nothing more") {
    reg.reset();
    watch.deliver(*e);
    CHECK(ours == 1);
  }
  SECTION("a handler may end its own registration") {
    auto self = std::make_shared<icmp_watch::registration>();
    int calls = 0;
    *self = watch.watch(43210, {asio::ip::make_address(server), 8083}, [&, self](const icmp_error&) {
      ++calls;
      self->reset();  // drops the handler (and this lambda's copy of self) while it runs
    });
    watch.deliver(*e);
    watch.deliver(*e);
    CHECK(calls == 1);
  }
  SECTION("a registration may outlive the watch") {
    auto late = std::make_unique<icmp_watch>();
    auto kept = late->watch(1, {asio::ip::make_address(server), 2}, {});
    late.reset();
    kept.reset();
  }
}

namespace {

std::uint16_t checksum(const bytes& b) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) sum += static_cast<std::uint32_t>((b[i] << 8) | b[i + 1]);
  if (b.size() % 2) sum += static_cast<std::uint32_t>(b.back() << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

}  // namespace

TEST_CASE("the watch reads a raw socket and stops cleanly (root only)", "[icmp]") {
  asio::io_context io;
  auto watch = std::make_unique<icmp_watch>();
  const auto loopback = asio::ip::make_address("127.0.0.1");
  if (const auto ec = watch->open(io.get_executor(), loopback)) {
    CHECK(is_rights_error(ec));
    WARN("no raw socket here (" << ec.message() << "): the receive loop is not exercised");
    return;
  }
  CHECK(watch->is_open());
  CHECK(watch->open(io.get_executor(), loopback) == asio::error::already_open);
  // A time-exceeded sent to ourselves, quoting a SYN from 127.0.0.1:43210 to
  // 127.0.0.2:8083 (the kernel adds the IP header; raw sockets see it before
  // ICMP's own checks).
  const bytes syn = ipv4({.src = "127.0.0.1", .dst = "127.0.0.2", .ttl = 1},
                         tcp({.src_port = 43210, .dst_port = 8083, .flags = flags::syn}));
  bytes message = icmp(11, 0, bytes(syn.begin(), syn.begin() + 28));
  const auto sum = checksum(message);
  message[2] = static_cast<std::uint8_t>(sum >> 8);
  message[3] = static_cast<std::uint8_t>(sum);
  std::optional<icmp_error> got;
  auto reg = watch->watch(43210, {asio::ip::make_address("127.0.0.2"), 8083}, [&](const icmp_error& e) {
    got = e;
    io.stop();
  });
  asio::ip::icmp::socket sender(io, asio::ip::icmp::v4());
  sender.send_to(asio::buffer(message), asio::ip::icmp::endpoint(loopback, 0));
  io.run_for(std::chrono::seconds(2));
  REQUIRE(got);
  CHECK(got->type == 11);
  CHECK(got->from.to_string() == "127.0.0.1");
  // Closed and destroyed with the loop still waiting: it ends on its own
  // without touching the freed watch.
  watch->close();
  watch.reset();
  reg.reset();
  io.restart();
  io.run_for(std::chrono::milliseconds(200));
  CHECK(io.stopped());
}
