// UDP probes: what each kind sends, how each reply reads (every prefix,
// garbage, oversized), and udp_probe against real sockets on loopback.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <catch2/catch.hpp>
#include <chrono>

#include "common/bytes.h"
#include "prober/app/udp.h"
#include "prober/probe.h"

using namespace dropspot;
using namespace dropspot::prober;
using namespace dropspot::prober::app;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t now_us = 1'764'500'000'000'000;  // 2025-11-30, µs
const std::string random16 = "0123456789abcdef";

/// A DNS response to `q`: the question echoed, then A records (compressed names).
std::string dns_reply(const udp_request& q, unsigned rcode, const std::vector<std::string>& a_records = {},
                      bool qr = true) {
  std::string r;
  put16(r, q.dns_id);
  put16(r, (qr ? 0x8000 : 0) | 0x0080 | rcode);
  put16(r, 1);
  put16(r, static_cast<unsigned>(a_records.size()));
  put16(r, 0);
  put16(r, 0);
  r += q.payload.substr(12);  // the question as asked
  for (const auto& a : a_records) {
    put16(r, 0xc00c);  // a pointer to the question's name
    put16(r, 1);       // A
    put16(r, 1);       // IN
    put32(r, 300);
    put16(r, 4);
    r += a;
  }
  return r;
}

std::string ntp_reply(const udp_request& q, std::uint8_t b0, std::uint8_t stratum, std::uint32_t refid,
                      std::int64_t offset_us) {
  std::string r;
  r += static_cast<char>(b0);
  r += static_cast<char>(stratum);
  r += std::string(10, '\0');
  put32(r, refid);
  put64(r, 0);           // reference time
  put64(r, q.ntp_sent);  // origin: our transmit time
  const auto server_time = ntp_from_unix_us(static_cast<std::uint64_t>(static_cast<std::int64_t>(now_us) + offset_us));
  put64(r, server_time);  // receive
  put64(r, server_time);  // transmit
  return r;
}

std::string quic_vn(const udp_request& q, const std::vector<std::uint32_t>& versions) {
  std::string r;
  r += static_cast<char>(0x80);
  put32(r, 0);
  r += static_cast<char>(q.quic_scid.size());
  r += q.quic_scid;
  r += static_cast<char>(q.quic_dcid.size());
  r += q.quic_dcid;
  for (auto v : versions) put32(r, v);
  return r;
}

/// Every prefix and a garbage tail of `reply` reads without a crash, and a
/// strict prefix is never read as a good answer where a whole one is needed.
void every_prefix(const udp_request& q, const std::string& reply) {
  for (std::size_t n = 0; n < reply.size(); ++n) (void)read_udp_reply(q, reply.substr(0, n), now_us);
  (void)read_udp_reply(q, reply + std::string(70000, '\xff'), now_us);
}

}  // namespace

TEST_CASE("udp: the probe kind by port, and which kinds expect a reply") {
  CHECK(default_udp_probe_kind(53) == "dns");
  CHECK(default_udp_probe_kind(123) == "ntp");
  CHECK(default_udp_probe_kind(443) == "quic");
  CHECK(default_udp_probe_kind(51820) == "wireguard");
  CHECK(default_udp_probe_kind(5000) == "udp");
  CHECK_FALSE(udp_reply_expected("wireguard", true));
  CHECK_FALSE(udp_reply_expected("udp", false));
  CHECK(udp_reply_expected("udp", true));
  CHECK(udp_reply_expected("dns", false));
}

TEST_CASE("udp: dns queries and replies") {
  auto q = make_udp_request("dns", "", "", random16, now_us);
  REQUIRE(q.payload.size() == 17);                                // header + root name + type + class
  CHECK((static_cast<unsigned char>(q.payload[2]) & 0x01) == 0);  // no recursion asked for the root's NS
  CHECK(q.payload.substr(12) == std::string("\0\0\x02\0\x01", 5));

  auto r = read_udp_reply(q, dns_reply(q, 0), now_us);
  CHECK(r.ok());
  CHECK(r.fields().at("rcode") == "NOERROR");
  r = read_udp_reply(q, dns_reply(q, 5), now_us);
  CHECK(r.ok());  // REFUSED: it answers, the policy is shown
  CHECK(r.detail().find("REFUSED") != std::string::npos);
  r = read_udp_reply(q, dns_reply(q, 2), now_us);
  CHECK_FALSE(r.ok());
  CHECK(r.fields().at("rcode") == "SERVFAIL");

  auto wrong_id = dns_reply(q, 0);
  wrong_id[0] = static_cast<char>(wrong_id[0] ^ 0x55);
  CHECK_FALSE(read_udp_reply(q, wrong_id, now_us).ok());
  CHECK_FALSE(read_udp_reply(q, dns_reply(q, 0, {}, false), now_us).ok());  // a query, not a response
  CHECK_FALSE(read_udp_reply(q, "short", now_us).ok());

  auto named = make_udp_request("dns", "test.example", "", random16, now_us);
  CHECK((static_cast<unsigned char>(named.payload[2]) & 0x01) == 1);  // RD
  CHECK(named.payload.find(std::string("\x04test\x07"
                                       "example\0",
                                       14)) == 12);
  r = read_udp_reply(
      named, dns_reply(named, 0, {std::string("\xc0\x00\x02\x35", 4), std::string("\xc0\x00\x02\x36", 4)}), now_us);
  CHECK(r.ok());
  CHECK(r.fields().at("addresses") == "192.0.2.53, 192.0.2.54");
  CHECK(r.detail() == "test.example: 192.0.2.53, 192.0.2.54");
  CHECK_FALSE(read_udp_reply(named, dns_reply(named, 3), now_us).ok());  // NXDOMAIN for the name asked
  CHECK_FALSE(read_udp_reply(named, dns_reply(named, 5), now_us).ok());  // REFUSED for it
  r = read_udp_reply(named, dns_reply(named, 0), now_us);
  CHECK(r.ok());
  CHECK(r.detail().find("no A record") != std::string::npos);

  every_prefix(named, dns_reply(named, 0, {std::string("\xc0\x00\x02\x35", 4)}));
  // A name pointer loop and a record running off the end stop the walk, not the reading.
  auto loop = dns_reply(named, 0);
  loop[7] = 3;  // three answers claimed, none there
  CHECK(read_udp_reply(named, loop, now_us).ok());
  CHECK(dns_rcode_name(9) == "RCODE 9");
}

TEST_CASE("udp: ntp requests and replies") {
  auto q = make_udp_request("ntp", "", "", random16, now_us);
  REQUIRE(q.payload.size() == 48);
  CHECK(q.payload[0] == 0x23);  // version 4, client
  CHECK(unix_us_from_ntp(q.ntp_sent) / 1000 == static_cast<std::int64_t>(now_us / 1000));

  auto r = read_udp_reply(q, ntp_reply(q, 0x24, 2, 0xc0000201, 1500), now_us);  // server, stratum 2, +1.5 ms
  CHECK(r.ok());
  CHECK(r.fields().at("stratum") == "2");
  CHECK(r.fields().at("refid") == "192.0.2.1");
  CHECK(r.fields().at("offset_ms") == "1.5");
  r = read_udp_reply(q, ntp_reply(q, 0x24, 1, 0x47505300, 0), now_us);
  CHECK(r.fields().at("refid") == "GPS");

  r = read_udp_reply(q, ntp_reply(q, 0xe4, 0, 0x44454e59, 0), now_us);  // kiss-o'-death DENY
  CHECK_FALSE(r.ok());
  CHECK(r.fields().at("kiss_code") == "DENY");
  CHECK(r.detail().find("refuses") != std::string::npos);
  r = read_udp_reply(q, ntp_reply(q, 0xe4, 16, 0, 0), now_us);  // leap 3, stratum 16
  CHECK_FALSE(r.ok());
  CHECK(r.detail().find("not synchronised") != std::string::npos);

  auto other = ntp_reply(q, 0x24, 2, 0, 0);
  other[30] = static_cast<char>(other[30] ^ 1);  // an origin that is not our request's
  CHECK_FALSE(read_udp_reply(q, other, now_us).ok());
  CHECK_FALSE(read_udp_reply(q, ntp_reply(q, 0x23, 2, 0, 0), now_us).ok());  // mode 3: a client's packet
  every_prefix(q, ntp_reply(q, 0x24, 2, 0, 0));
  CHECK_FALSE(read_udp_reply(q, ntp_reply(q, 0x24, 2, 0, 0).substr(0, 47), now_us).ok());
}

TEST_CASE("udp: quic version negotiation") {
  auto q = make_udp_request("quic", "", "", random16, now_us);
  REQUIRE(q.payload.size() == 1200);  // servers answer datagrams of 1200 bytes and more only
  CHECK((static_cast<unsigned char>(q.payload[0]) & 0xc0) == 0xc0);
  CHECK(q.payload.substr(1, 4) == std::string("\x1a\x2a\x3a\x4a"));

  auto r = read_udp_reply(q, quic_vn(q, {0x00000001, 0x6b3343cf, 0x3a4a5a6a}), now_us);  // with a greased one
  CHECK(r.ok());
  CHECK(r.fields().at("versions") == "1, 2");
  r = read_udp_reply(q, quic_vn(q, {0xff00001d}), now_us);
  CHECK_FALSE(r.ok());
  CHECK(r.detail().find("draft-29") != std::string::npos);
  CHECK_FALSE(read_udp_reply(q, quic_vn(q, {}), now_us).ok());

  udp_request other = q;
  other.quic_scid = "zzzzzzzz";
  CHECK_FALSE(read_udp_reply(q, quic_vn(other, {1}), now_us).ok());  // not an answer to our packet
  auto initial = quic_vn(q, {1});
  initial[4] = 1;  // version 1: not Version Negotiation
  CHECK_FALSE(read_udp_reply(q, initial, now_us).ok());
  every_prefix(q, quic_vn(q, {1, 2}));
}

TEST_CASE("udp: wireguard and plain udp") {
  auto q = make_udp_request("wireguard", "", "", random16, now_us);
  REQUIRE(q.payload.size() == 148);
  CHECK(q.payload.substr(0, 4) == std::string("\x01\x00\x00\x00", 4));
  auto r = read_udp_reply(q, std::string("\x03") + std::string(63, 'c'), now_us);
  CHECK(r.ok());
  CHECK(r.detail().find("cookie reply") != std::string::npos);

  auto plain = make_udp_request("udp", "", "ping", random16, now_us);
  CHECK(plain.payload == "ping");
  r = read_udp_reply(plain, std::string("pong\x01", 5), now_us);
  CHECK(r.ok());
  CHECK(r.fields().at("bytes") == "5");
  CHECK(r.fields().at("first_bytes") == "pong\\x01");
  CHECK(make_udp_request("udp", "", "", random16, now_us).payload.empty());
}

TEST_CASE("udp_probe: a reply, port unreachable and silence on loopback") {
  asio::io_context io;
  const auto loopback = asio::ip::make_address("127.0.0.1");
  asio::ip::udp::socket echo(io, asio::ip::udp::endpoint(loopback, 0));
  asio::ip::udp::socket silent(io, asio::ip::udp::endpoint(loopback, 0));
  asio::ip::udp::socket gone(io, asio::ip::udp::endpoint(loopback, 0));
  const auto closed_port = gone.local_endpoint().port();
  gone.close();
  std::array<char, 64> buf{};
  asio::ip::udp::endpoint from;
  echo.async_receive_from(asio::buffer(buf), from, [&](std::error_code ec, std::size_t n) {
    if (!ec) echo.send_to(asio::buffer(std::string("pong:") + std::string(buf.data(), n)), from);
  });
  connect_options o;
  o.timeout = 300ms;
  std::vector<connect_result> results(3);
  auto run = [&](std::size_t i, std::uint16_t port, std::string payload) {
    asio::co_spawn(
        io,
        [&, i, port, payload]() -> asio::awaitable<void> {
          results[i] = co_await udp_probe(asio::ip::udp::endpoint(loopback, port), payload, o);
        },
        asio::detached);
  };
  run(0, echo.local_endpoint().port(), "ping");
  run(1, closed_port, "ping");
  run(2, silent.local_endpoint().port(), "ping");
  io.run();
  CHECK(results[0].attempt.outcome() == v1::Attempt::CONNECTED);
  CHECK(results[0].reply == "pong:ping");
  CHECK(results[0].sent == "ping");
  CHECK(results[0].attempt.local_port() != 0);
  CHECK(results[1].attempt.outcome() == v1::Attempt::UNREACHABLE);
  CHECK(results[1].attempt.icmp_from() == "127.0.0.1");
  CHECK(results[1].attempt.icmp_type() == 3);
  CHECK(results[1].attempt.icmp_code() == 3);
  CHECK(results[2].attempt.outcome() == v1::Attempt::TIMED_OUT);
}
