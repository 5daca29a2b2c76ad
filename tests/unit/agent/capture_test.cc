// Capture: the file source over .pcap files written here from frames built in
// code, libpcap errors as notes, and (as root) a live capture on loopback
// with traffic to 127.0.0.1 only.
#include <pcap/pcap.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "agent/capture.h"
#include "support/packet_builder.h"

using namespace dropspot;
using namespace dropspot::agent;
using namespace testpkt;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string client = "198.51.100.2";
const std::string client2 = "198.51.100.130";
const std::string server = "203.0.113.2";
const std::string router = "192.0.2.2";
const std::string client6 = "2001:db8:1::2";
const std::string server6 = "2001:db8:2::2";

/// A directory removed at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("dropspot-capture-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

/// Writes frames to a savefile, one per millisecond from t = 1 s + 1 µs.
void write_pcap(const fs::path& file, int link_type, const std::vector<bytes>& frames) {
  pcap_t* dead = pcap_open_dead(link_type, 65535);
  REQUIRE(dead != nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, file.c_str());
  REQUIRE(dumper != nullptr);
  long usec = 1;
  for (const auto& frame : frames) {
    pcap_pkthdr h{};
    h.ts.tv_sec = 1;
    h.ts.tv_usec = usec;
    usec += 1000;
    h.caplen = h.len = static_cast<bpf_u_int32>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
}

bytes syn4(const std::string& src, const std::string& dst, unsigned sport, unsigned dport) {
  return ipv4(
      {src, dst, 6, 62},
      tcp({.src_port = sport, .dst_port = dport, .seq = 1000, .flags = flags::syn, .options = linux_syn_options()}));
}
bytes reply4(const std::string& src, const std::string& dst, unsigned sport, unsigned dport, std::uint8_t f) {
  return ipv4({src, dst}, tcp({.src_port = sport, .dst_port = dport, .seq = 5000, .ack = 1001, .flags = f}));
}

std::string describe(const v1::PacketEvent& e) {
  return v1::PacketEvent::Direction_Name(e.direction()) + " " + v1::PacketEvent::Kind_Name(e.kind()) + " " +
         std::to_string(e.port());
}

std::vector<std::string> describe_all(const std::vector<v1::PacketEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(describe(e));
  return out;
}

bool is_root() { return ::geteuid() == 0; }

}  // namespace

TEST_CASE("capture file: the session's packets come out as events, in order") {
  temp_dir dir;
  const auto file = dir.path / "ipv4.pcap";
  const bytes syn = syn4(client, server, 43210, 8081);
  const bytes syn_ack = reply4(server, client, 8080, 43210, flags::syn | flags::ack);
  bytes bad_tcp = syn4(client, server, 43210, 8080);
  bad_tcp[20 + 12] = 0x30;  // data offset 3: the filter passes it, the parser refuses it
  write_pcap(file, DLT_EN10MB,
             {
                 in_ethernet(syn4(client, server, 43210, 8080)),                   // 1 in: SYN
                 in_ethernet(syn4(client2, server, 43210, 8080)),                  //   another peer
                 in_ethernet(syn4(client, server, 43210, 9999)),                   //   another port
                 ethernet(0x0806, bytes(28, 0)),                                   //   ARP
                 in_ethernet(syn_ack),                                             // 2 out: SYN-ACK
                 in_ethernet(ipv4({server, client, 1}, icmp(3, 13, syn))),         // 3 out: ICMP refusing 8081
                 in_ethernet(ipv4({client, server, 1}, icmp(8, 0, bytes(8, 0)))),  // echo
                 in_ethernet(reply4(server, client, 8082, 43211, flags::rst | flags::ack)),  // 4 out: RST
                 in_ethernet(ipv4({router, server, 1, 253}, icmp(3, 1, syn_ack))),           // 5 in: ICMP
                 in_ethernet(bad_tcp),                                                       //   unparsed
             });
  std::vector<v1::PacketEvent> events;
  std::string note;
  const auto counts = read_capture_file(
      file.string(), {asio::ip::make_address(client), {8080, 8081, 8082}},
      [&](const v1::PacketEvent& e) { events.push_back(e); }, note);
  INFO(note);
  REQUIRE(counts.has_value());
  CHECK(note.empty());
  CHECK(counts->frames == 6);
  CHECK(counts->events == 5);
  CHECK(counts->unparsed == 1);
  CHECK(describe_all(events) == std::vector<std::string>{"INBOUND SYN 8080", "OUTBOUND SYN_ACK 8080",
                                                         "OUTBOUND ICMP_ERROR 8081", "OUTBOUND RST 8082",
                                                         "INBOUND ICMP_ERROR 8080"});
  REQUIRE(events.size() == 5);
  CHECK(events[0].time_unix_us() == 1'000'001u);
  CHECK(events[0].ttl() == 62);
  CHECK(events[0].options().mss() == 1460);
  CHECK(events[0].interface().empty());
  CHECK(events[1].time_unix_us() == 1'004'001u);
  CHECK(events[4].src() == router);
  CHECK(events[4].ttl() == 253);

  // An IPv4-mapped peer is the same session.
  std::vector<v1::PacketEvent> mapped;
  const auto again = read_capture_file(
      file.string(), {asio::ip::make_address("::ffff:" + client), {8080, 8081, 8082}},
      [&](const v1::PacketEvent& e) { mapped.push_back(e); }, note);
  REQUIRE(again.has_value());
  CHECK(describe_all(mapped) == describe_all(events));
}

TEST_CASE("capture file: cooked v2 frames of an IPv6 session") {
  temp_dir dir;
  const auto file = dir.path / "ipv6.pcap";
  const bytes syn = ipv6({.src = client6, .dst = server6, .hop_limit = 62},
                         tcp({.src_port = 40000, .dst_port = 443, .seq = 1, .flags = flags::syn}));
  write_pcap(
      file, DLT_LINUX_SLL2,
      {
          in_sll2(syn, 2, 0),
          in_sll2(ipv6({server6, client6}, tcp({.src_port = 443, .dst_port = 40000, .flags = flags::syn | flags::ack})),
                  2, 4),
          in_sll2(ipv6({.src = server6, .dst = client6, .next = 58}, icmp(1, 1, syn)), 2, 4),
          in_sll2(ipv6({.src = server6, .dst = client6}, tcp({.src_port = 22, .dst_port = 40000})), 2, 4),
      });
  std::vector<v1::PacketEvent> events;
  std::string note;
  const auto counts = read_capture_file(
      file.string(), {asio::ip::make_address(client6), {443}}, [&](const v1::PacketEvent& e) { events.push_back(e); },
      note);
  REQUIRE(counts.has_value());
  CHECK(counts->frames == 3);
  CHECK(describe_all(events) ==
        std::vector<std::string>{"INBOUND SYN 443", "OUTBOUND SYN_ACK 443", "OUTBOUND ICMP_ERROR 443"});
}

TEST_CASE("capture file: a missing file is a note, not an exception") {
  std::string note;
  const auto counts = read_capture_file(
      "/nonexistent/dropspot.pcap", {asio::ip::make_address(client), {80}}, [](const v1::PacketEvent&) {}, note);
  CHECK_FALSE(counts.has_value());
  CHECK(note.find("/nonexistent/dropspot.pcap") != std::string::npos);
}

TEST_CASE("live capture: libpcap errors become a note") {
  asio::io_context io;
  std::string note;
  capture_config config;
  config.interfaces = {"nosuchif0"};
  auto handle = start_capture(
      io.get_executor(), config, {asio::ip::make_address("127.0.0.1"), {80}}, [](const v1::PacketEvent&) {}, note);
  CHECK(handle == nullptr);
  INFO(note);
  if (is_root()) {
    CHECK(note.find("no interface named nosuchif0") != std::string::npos);
  } else {
    CHECK(note.find("capture needs CAP_NET_RAW") == 0);
  }
  note.clear();
  handle = start_capture(
      io.get_executor(), {}, {asio::ip::make_address("127.0.0.1"), {}}, [](const v1::PacketEvent&) {}, note);
  CHECK(handle == nullptr);
  CHECK(note == "capture: no ports to capture");
}

TEST_CASE("live capture on loopback: SYN in, SYN-ACK out, RST out for a closed port") {
  for (const bool any_device : {true, false}) {
    INFO((any_device ? "any device" : "lo"));
    asio::io_context io;
    const auto loopback = asio::ip::make_address("127.0.0.1");
    asio::ip::tcp::acceptor open_port(io, {loopback, 0});
    std::uint16_t closed_port = 0;
    {
      asio::ip::tcp::acceptor a(io, {loopback, 0});
      closed_port = a.local_endpoint().port();
    }  // closed: the kernel answers RST
    const std::uint16_t listening = open_port.local_endpoint().port();

    temp_dir dir;
    capture_config config;
    if (!any_device) config.interfaces = {"lo"};
    config.pcap_dir = dir.path.string();
    std::vector<v1::PacketEvent> events;
    std::string note;
    auto handle = start_capture(
        io.get_executor(), config, {loopback, {listening, closed_port}},
        [&](const v1::PacketEvent& e) { events.push_back(e); }, note);
    if (!is_root()) {
      CHECK(handle == nullptr);
      CHECK(note.find("capture needs CAP_NET_RAW") == 0);
      continue;
    }
    INFO(note);
    REQUIRE(handle != nullptr);
    CHECK_FALSE(handle->interfaces().empty());
    if (!any_device) CHECK(handle->interfaces() == std::vector<std::string>{"lo"});

    asio::ip::tcp::socket accepted(io), to_open(io), to_closed(io);
    open_port.async_accept(accepted, [](std::error_code) {});
    std::error_code open_result = asio::error::would_block, closed_result = asio::error::would_block;
    to_open.async_connect({loopback, listening}, [&](std::error_code ec) { open_result = ec; });
    to_closed.async_connect({loopback, closed_port}, [&](std::error_code ec) { closed_result = ec; });
    const auto seen = [&](const std::string& what) {
      return std::count_if(events.begin(), events.end(), [&](const v1::PacketEvent& e) { return describe(e) == what; });
    };
    const std::string syn = "INBOUND SYN " + std::to_string(listening);
    const std::string syn_ack = "OUTBOUND SYN_ACK " + std::to_string(listening);
    const std::string rst = "OUTBOUND RST " + std::to_string(closed_port);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline && (seen(syn) == 0 || seen(syn_ack) == 0 || seen(rst) == 0))
      io.run_for(50ms);
    io.run_for(100ms);  // anything late, such as duplicates
    CHECK_FALSE(open_result);
    CHECK(closed_result == asio::error::connection_refused);
    INFO("events: " << [&] {
      std::string s;
      for (const auto& d : describe_all(events)) s += d + "; ";
      return s;
    }());
    CHECK(seen(syn) == 1);  // loopback packets are not seen twice
    CHECK(seen(syn_ack) == 1);
    CHECK(seen(rst) == 1);
    CHECK(seen("INBOUND SYN " + std::to_string(closed_port)) == 1);
    for (const auto& e : events) {
      CHECK(e.interface() == "lo");
      CHECK(e.src() == "127.0.0.1");
      if (describe(e) == syn) {
        CHECK(e.ttl() == 64);
        CHECK(e.options().has_mss());
        CHECK(e.options().sack_permitted());
        CHECK(e.time_unix_us() > 1'600'000'000'000'000u);
      }
    }
    CHECK(handle->packets_seen() >= events.size());
    CHECK(handle->packets_dropped() == 0);

    const std::string file = handle->pcap_file();
    handle.reset();  // closes the file
    REQUIRE_FALSE(file.empty());
    CHECK(fs::path(file).parent_path() == dir.path);
    CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);
    // The file holds the session's packets, headers only, and reads back the same.
    std::vector<v1::PacketEvent> again;
    const auto counts = read_capture_file(
        file, {loopback, {listening, closed_port}}, [&](const v1::PacketEvent& e) { again.push_back(e); }, note);
    REQUIRE(counts.has_value());
    CHECK(describe_all(again) == describe_all(events));
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* reader = pcap_open_offline(file.c_str(), errbuf);
    REQUIRE(reader != nullptr);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(reader, &h, &data) == 1) {
      const unsigned link = any_device ? 20 : 14;
      CHECK(h->caplen <= link + 20 + 60);
      CHECK(h->caplen >= link + 20 + 20);
    }
    pcap_close(reader);
  }
}
