#include "verdict/verdict.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using Outcome = v1::Attempt::Outcome;

namespace {

constexpr std::uint64_t t0 = 1'700'000'000'000'000;  // prober clock, µs
constexpr const char* client = "198.51.100.2";
constexpr const char* server = "203.0.113.2";

std::uint64_t at_ms(double ms) { return t0 + static_cast<std::uint64_t>(ms * 1000); }

/// Builds a port_input: the agent connected and capturing unless told otherwise.
struct scenario {
  port_input in;

  explicit scenario(std::uint32_t port = 80, const char* probe = "tcp") {
    in.port = port;
    in.probe = probe;
    in.target = "vps.example";
    in.target_address = server;
    in.agent.set_status(v1::AgentInfo::CONNECTED);
    in.agent.set_capture_active(true);
    in.agent.set_rtt_ms(1.0);
    in.agent.set_peer_address(client);
    in.agent.set_endpoint("203.0.113.2:7411");
    in.agent.set_path("tls");
  }
  /// An attempt from client:local_port starting at start_ms.
  scenario& attempt(Outcome outcome, std::uint32_t local_port, double elapsed_ms, double start_ms = 0,
                    const char* local = client) {
    auto& a = in.attempts.emplace_back();
    a.set_outcome(outcome);
    a.set_local_address(local);
    a.set_local_port(local_port);
    a.set_start_unix_us(at_ms(start_ms));
    a.set_elapsed_ms(elapsed_ms);
    return *this;
  }
  scenario& icmp_from(const char* from, std::uint32_t type, std::uint32_t code) {
    auto& a = in.attempts.back();
    a.set_icmp_from(from);
    a.set_icmp_type(type);
    a.set_icmp_code(code);
    return *this;
  }
  v1::PacketEvent& packet(v1::PacketEvent::Direction dir, v1::PacketEvent::Kind kind, std::uint32_t client_port,
                          double t_ms, const char* from = client) {
    auto& p = in.packets.emplace_back();
    p.set_time_unix_us(at_ms(t_ms));
    p.set_direction(dir);
    p.set_kind(kind);
    p.set_port(in.port);
    if (dir == v1::PacketEvent::INBOUND) {
      p.set_src(from);
      p.set_src_port(client_port);
      p.set_dst(server);
      p.set_dst_port(in.port);
      p.set_ttl(62);
    } else {
      p.set_src(server);
      p.set_src_port(in.port);
      p.set_dst(from);
      p.set_dst_port(client_port);
      p.set_ttl(64);
    }
    return p;
  }
  scenario& syn(std::uint32_t client_port, double t_ms, const char* from = client) {
    auto& p = packet(v1::PacketEvent::INBOUND, v1::PacketEvent::SYN, client_port, t_ms, from);
    p.mutable_options()->set_mss(1460);
    p.mutable_options()->set_sack_permitted(true);
    p.mutable_options()->set_timestamps(true);
    p.mutable_options()->set_window_scale(7);
    return *this;
  }
  scenario& synack(std::uint32_t client_port, double t_ms, const char* to = client) {
    packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::SYN_ACK, client_port, t_ms, to);
    return *this;
  }
  scenario& rst(std::uint32_t client_port, double t_ms) {
    packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::RST, client_port, t_ms);
    return *this;
  }
  /// The host's ICMP reject: the quoted header's ports (client port -> service port).
  scenario& icmp_out(std::uint32_t client_port, double t_ms, std::uint32_t type, std::uint32_t code) {
    auto& p = packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::ICMP_ERROR, client_port, t_ms);
    p.set_src_port(client_port);
    p.set_dst_port(in.port);
    p.set_icmp_type(type);
    p.set_icmp_code(code);
    return *this;
  }
  scenario& listen(const char* address, const char* process = "nginx", bool v6_only = false) {
    auto& l = in.listeners.emplace_back();
    l.set_port(in.port);
    l.set_address(address);
    l.set_process(process);
    l.set_pid(812);
    l.set_unit(std::string(process) + ".service");
    l.set_v6_only(v6_only);
    return *this;
  }
  scenario& no_agent(v1::AgentInfo::Status status, const char* message) {
    in.agent.Clear();
    in.agent.set_status(status);
    in.agent.set_message(message);
    return *this;
  }
  scenario& hop(std::uint32_t last, const char* address, std::uint32_t path = 0) {
    v1::HopLocation h;
    h.set_last_hop(last);
    h.set_last_hop_address(address);
    h.set_path_length(path);
    in.hop = h;
    return *this;
  }
  /// A UDP port: datagrams instead of connections.
  scenario& udp(const char* probe = "udp", bool reply_expected = true) {
    in.udp = true;
    in.probe = probe;
    in.reply_expected = reply_expected;
    return *this;
  }
  scenario& datagram_in(std::uint32_t client_port, double t_ms) {
    packet(v1::PacketEvent::INBOUND, v1::PacketEvent::DATAGRAM, client_port, t_ms).set_protocol(v1::UDP);
    return *this;
  }
  scenario& datagram_out(std::uint32_t client_port, double t_ms) {
    packet(v1::PacketEvent::OUTBOUND, v1::PacketEvent::DATAGRAM, client_port, t_ms).set_protocol(v1::UDP);
    return *this;
  }
  scenario& rule(const char* text) {
    in.firewall.emplace_back(text);
    in.firewall_inspected = true;
    return *this;
  }
  scenario& app(bool ok, const char* detail) {
    v1::AppResult r;
    r.set_kind(in.probe);
    r.set_ok(ok);
    r.set_detail(detail);
    in.app = r;
    return *this;
  }
};

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

template <class List>
bool any_has(const List& list, const char* part) {
  for (const auto& s : list)
    if (has(s, part)) return true;
  return false;
}

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& list) {
  std::string s;
  for (const auto& x : list) s += "\n  " + x;
  return s;
}

struct verdict_case {
  const char* name;
  port_input in;
  v1::Verdict verdict;
  const char* summary = nullptr;  ///< substring of the summary
  const char* note = nullptr;     ///< substring of some note
  const char* advice = nullptr;   ///< substring of some advice line
  const char* no_note = nullptr;  ///< substring that no note may contain
};

constexpr auto T = v1::Attempt::TIMED_OUT;
constexpr auto C = v1::Attempt::CONNECTED;
constexpr auto R = v1::Attempt::REFUSED;
constexpr auto U = v1::Attempt::UNREACHABLE;

std::vector<verdict_case> cases() {
  std::vector<verdict_case> v;
  // One per verdict.
  v.push_back({"open", scenario().attempt(C, 40000, 1.2).syn(40000, 0.5).synack(40000, 0.6).listen("0.0.0.0").in,
               v1::OPEN, "handshake completed, nginx on 0.0.0.0:80", "2 routers between", nullptr, "translated"});
  v.push_back({"app failed",
               scenario(443, "https")
                   .attempt(C, 40000, 1.2)
                   .syn(40000, 0.5)
                   .synack(40000, 0.6)
                   .listen("::")
                   .app(false, "certificate expired")
                   .in,
               v1::APP_FAILED, "the https probe failed: certificate expired", nullptr, "openssl s_client -connect"});
  v.push_back({"app failed: IMAP over a certificate mail clients refuse",
               scenario(143, "imap")
                   .attempt(C, 40000, 1.2)
                   .syn(40000, 0.5)
                   .synack(40000, 0.6)
                   .listen("0.0.0.0")
                   .app(false, "STARTTLS: certificate verification failed: self-signed certificate (CN=vm)")
                   .in,
               v1::APP_FAILED, "the imap probe failed: STARTTLS: certificate verification failed", nullptr,
               "certbot certonly -d vps.example) and point the server at it"});
  v.push_back({"app failed: a slow IMAP greeting that never came whole",
               scenario(143, "imap")
                   .attempt(C, 40000, 1.2)
                   .syn(40000, 0.5)
                   .synack(40000, 0.6)
                   .listen("0.0.0.0")
                   .app(false, "no IMAP greeting within 30s")
                   .in,
               v1::APP_FAILED, "no IMAP greeting within 30s", nullptr, "-starttls imap; on the server: doveconf -n"});
  v.push_back({"intercepted: connected but no SYN reached the server", scenario().attempt(C, 40000, 3).in,
               v1::INTERCEPTED, "never saw the SYN", nullptr, "tcpdump -ni any port 80"});
  v.push_back({"dropped in transit", scenario().attempt(T, 40000, 2000).listen("0.0.0.0").in, v1::DROPPED_IN_TRANSIT,
               "never reached the server", "the server is ready: nginx", "packet filter / security group"});
  v.push_back({"dropped in transit after hop 3", scenario().attempt(T, 40000, 2000).hop(3, "192.0.2.2", 4).in,
               v1::DROPPED_IN_TRANSIT, "dropped after hop 3 (192.0.2.2)", "just before the server",
               "traceroute -T -p 80 vps.example"});
  v.push_back({"every SYN lost, but the hop search's SYN completed the handshake: loss, not a filter",
               [] {
                 auto s = scenario().attempt(T, 40000, 100).attempt(T, 40001, 100).hop(2, "192.0.2.2", 3).listen("::");
                 s.in.hop->set_target_connected(true);
                 return s.in;
               }(),
               v1::OPEN, "only by the hop search's SYN (TTL 3)", "intermittent loss", nullptr,
               "the drop is just before the server"});
  v.push_back({"port 25 dropped in transit: OP25B advice", scenario(25, "smtp").attempt(T, 40000, 2000).in,
               v1::DROPPED_IN_TRANSIT, nullptr, nullptr, "OP25B"});
  v.push_back({"rejected in transit by ICMP from a router",
               scenario().attempt(U, 40000, 5).icmp_from("192.0.2.2", 3, 13).hop(2, "192.0.2.2").in,
               v1::REJECTED_IN_TRANSIT, "ICMP admin-prohibited from 192.0.2.2 (hop 2)", nullptr,
               "Test-NetConnection vps.example -Port 80"});
  v.push_back({"rejected in transit by a reset the server never sent", scenario().attempt(R, 40000, 5).in,
               v1::REJECTED_IN_TRANSIT, "a reset the server never sent"});
  v.push_back({"ICMP in the server's name, no SYN seen", scenario().attempt(U, 40000, 5).icmp_from(server, 3, 10).in,
               v1::REJECTED_IN_TRANSIT, "host-prohibited in the server's name"});
  v.push_back({"dropped by the host firewall", scenario().attempt(T, 40000, 2000).syn(40000, 0.5).listen("0.0.0.0").in,
               v1::DROPPED_BY_HOST_FIREWALL, "SYNs arrive, nothing answers", nullptr, "nft list ruleset"});
  v.push_back({"dropped by the host firewall, nothing listening either",
               scenario().attempt(T, 40000, 2000).syn(40000, 0.5).in, v1::DROPPED_BY_HOST_FIREWALL,
               "a firewall rule on the server drops them", "there will still be nothing",
               "systemctl enable --now nginx"});
  v.push_back({"rejected by the host firewall with a reset",
               scenario().attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).listen("0.0.0.0").in,
               v1::REJECTED_BY_HOST_FIREWALL, "nginx listens, yet a reset answers", nullptr, "iptables -S"});
  v.push_back({"rejected by the host firewall with ICMP",
               scenario()
                   .attempt(U, 40000, 1)
                   .icmp_from(server, 3, 13)
                   .syn(40000, 0.5)
                   .icmp_out(40000, 0.6, 3, 13)
                   .listen("0.0.0.0")
                   .in,
               v1::REJECTED_BY_HOST_FIREWALL, "(ICMP admin-prohibited)", nullptr, "firewall-cmd --permanent"});
  v.push_back({"no listener", scenario(8080).attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).in, v1::NO_LISTENER,
               "nothing listens on port 8080", nullptr, "ss -tlnp 'sport = :8080'"});
  v.push_back(
      {"listener on loopback", scenario().attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).listen("127.0.0.1").in,
       v1::LISTENER_WRONG_ADDRESS, "nginx listens on 127.0.0.1:80 only, not on 203.0.113.2", nullptr, "'listen 80;'"});
  v.push_back({"listener on the server's other address",
               scenario().attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).listen("203.0.113.3", "sshd").in,
               v1::LISTENER_WRONG_ADDRESS, "sshd listens on 203.0.113.3:80 only", nullptr, "ListenAddress"});
  v.push_back({"IPv6-only wildcard listener, IPv4 SYN",
               scenario().attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).listen("::", "nginx", true).in,
               v1::LISTENER_WRONG_ADDRESS, "[::]:80 only", nullptr, "is IPv6-only"});
  v.push_back({"listener on loopback and nothing left the host",
               scenario().attempt(T, 40000, 2000).syn(40000, 0.5).listen("::1", "redis-server").in,
               v1::LISTENER_WRONG_ADDRESS, "[::1]:80 only", "a firewall rule also drops", "bind 0.0.0.0"});
  v.push_back({"reply lost", scenario().attempt(T, 40000, 2000).syn(40000, 0.5).synack(40000, 0.6).listen("0.0.0.0").in,
               v1::REPLY_LOST, "it never came back", nullptr, "ip route get 198.51.100.2"});
  // Client-only.
  v.push_back({"client-only timeout",
               scenario().no_agent(v1::AgentInfo::UNREACHABLE, "no agent answered").attempt(T, 40000, 2000).in,
               v1::FILTERED, "client-only", "cannot be localised (agent UNREACHABLE: no agent answered)",
               "tcpdump -ni any port 80"});
  v.push_back({"client-only refused",
               scenario().no_agent(v1::AgentInfo::DISABLED, "--no-agent").attempt(R, 40000, 1).in, v1::CLOSED,
               "connection refused", "agent DISABLED", "ss -tlnp 'sport = :80'"});
  v.push_back({"client-only ICMP",
               scenario()
                   .no_agent(v1::AgentInfo::AUTH_FAILED, "wrong token")
                   .attempt(U, 40000, 5)
                   .icmp_from("192.0.2.2", 3, 13)
                   .in,
               v1::FILTERED, "admin-prohibited from 192.0.2.2"});
  v.push_back({"client-only open", scenario().no_agent(v1::AgentInfo::DISABLED, "--no-agent").attempt(C, 40000, 1).in,
               v1::OPEN, "handshake completed"});
  {
    auto s = scenario().attempt(T, 40000, 2000).syn(40000, 0.5).listen("0.0.0.0");
    s.in.agent.set_capture_active(false);
    s.in.agent.set_message("capture failed: no permission");
    v.push_back({"agent connected, capture not running: client-only with listener hint", s.in, v1::FILTERED, nullptr,
                 "capture was not running: capture failed", nullptr});
  }
  {
    auto s = scenario(25).attempt(R, 40000, 1).syn(40000, 0.5).rst(40000, 0.6);
    s.in.agent.add_refused_ports(25);
    v.push_back(
        {"port refused by --allow-ports: client-only", s.in, v1::CLOSED, nullptr, "does not allow port 25", nullptr});
  }
  {
    auto s = scenario().no_agent(v1::AgentInfo::CONNECTED, "").attempt(R, 40000, 1);
    s.in.agent.set_capture_active(false);
    v.push_back({"no capture, refused, agent lists no listener", s.in, v1::CLOSED, nullptr, "probably NO_LISTENER"});
  }
  // Edge cases.
  v.push_back(
      {"first attempt lost, second connected: OPEN with a loss note",
       scenario().attempt(T, 40000, 2000).attempt(C, 40002, 1, 2100).syn(40002, 2100.5).synack(40002, 2100.6).in,
       v1::OPEN, "handshake completed", "loss: 1 of 2 attempts failed"});
  v.push_back({"connected, but the host sent a reset: intercepted",
               scenario().attempt(C, 40000, 1).syn(40000, 0.5).rst(40000, 0.6).in, v1::INTERCEPTED,
               "the server refused its SYN"});
  v.push_back({"connected, the agent saw the SYN but no SYN-ACK: OPEN, capture gap noted",
               scenario().attempt(C, 40000, 1).syn(40000, 0.5).in, v1::OPEN, "handshake completed",
               "not the SYN-ACK leave"});
  v.push_back({"refused, SYN arrived, the server sent nothing: reset from elsewhere",
               scenario().attempt(R, 40000, 1).syn(40000, 0.5).in, v1::REJECTED_IN_TRANSIT, "the SYN did arrive"});
  v.push_back({"reset left the server but never reached the prober",
               scenario().attempt(T, 40000, 2000).syn(40000, 0.5).rst(40000, 0.6).in, v1::NO_LISTENER, nullptr,
               "never reached the prober"});
  v.push_back({"NAT: another address and port; matched by time",
               scenario().attempt(C, 40000, 1, 0, "10.0.0.5").syn(51000, 0.5).synack(51000, 0.6).in, v1::OPEN, nullptr,
               "source address translated: you are 10.0.0.5:40000, the server sees 198.51.100.2:51000"});
  v.push_back(
      {"retransmitted SYNs",
       scenario().attempt(T, 40000, 3000).syn(40000, 0.5).syn(40000, 1000.5).syn(40000, 2000.5).listen("0.0.0.0").in,
       v1::DROPPED_BY_HOST_FIREWALL, nullptr, "the server saw 3 SYNs from the same port"});
  v.push_back({"SYN-ACK retransmitted",
               scenario().attempt(T, 40000, 3000).syn(40000, 0.5).synack(40000, 0.6).synack(40000, 1000.6).in,
               v1::REPLY_LOST, nullptr, "the server sent 2 SYN-ACKs"});
  v.push_back({"late SYN, after the prober gave up",
               scenario().attempt(T, 40000, 1000).syn(40000, 1800).listen("0.0.0.0").in, v1::DROPPED_BY_HOST_FIREWALL,
               nullptr, "after the prober gave up"});
  v.push_back({"TTL gives the hop count", scenario().attempt(T, 40000, 2000).syn(40000, 0.5).listen("0.0.0.0").in,
               v1::DROPPED_BY_HOST_FIREWALL, nullptr,
               "TTL 62: 2 routers between the prober and the server (initial TTL 64)"});
  v.push_back({"attempts disagree: the furthest decides",
               scenario().attempt(T, 40000, 2000).attempt(T, 40002, 2000, 2100).syn(40002, 2100.5).listen("0.0.0.0").in,
               v1::DROPPED_BY_HOST_FIREWALL, nullptr,
               "attempts disagree: 1 DROPPED_IN_TRANSIT, 2 DROPPED_BY_HOST_FIREWALL"});
  {
    auto s = scenario().attempt(C, 40000, 1).syn(40000, 0.5).synack(40000, 0.6);
    v1::TcpOptions sent;
    sent.set_mss(1460);
    sent.set_sack_permitted(true);
    sent.set_timestamps(true);
    sent.set_window_scale(7);
    s.in.sent_options = sent;
    auto clamped = s.in;
    clamped.packets[0].mutable_options()->set_mss(1400);
    v.push_back({"MSS clamped in flight", clamped, v1::OPEN, nullptr, "MSS clamped in flight: sent 1460, arrived 1400",
                 nullptr, "stripped"});
    auto stripped = s.in;
    stripped.packets[0].mutable_options()->set_sack_permitted(false);
    stripped.packets[0].mutable_options()->clear_timestamps();
    v.push_back({"options stripped in flight", stripped, v1::OPEN, nullptr,
                 "TCP options stripped in flight: sackOK, timestamps"});
    v.push_back({"options as sent: no middlebox note", s.in, v1::OPEN, nullptr, nullptr, nullptr, "in flight"});
  }
  {
    // The agent's clock runs 5 s ahead; the offset corrects it.
    auto s = scenario().attempt(C, 40000, 1).syn(40000, 5000.5).synack(40000, 5000.6);
    s.in.agent_clock_offset_us = 5'000'000;
    v.push_back({"agent clock offset corrected", s.in, v1::OPEN, "handshake completed"});
  }
  v.push_back({"failed locally", scenario().attempt(v1::Attempt::FAILED, 0, 0).in, v1::DROPPED_IN_TRANSIT,
               "failed on this machine", nullptr, "ip route get 203.0.113.2"});
  v.push_back({"no attempts", scenario().in, v1::VERDICT_UNSPECIFIED, "not probed"});
  {
    auto s = scenario().attempt(T, 40000, 2000).syn(40000, 0.5).synack(40000, 0.6);
    s.packet(v1::PacketEvent::INBOUND, v1::PacketEvent::RST, 40000, 2500);
    v.push_back(
        {"the client reset the late SYN-ACK", s.in, v1::REPLY_LOST, nullptr, "answered the SYN-ACK with a reset"});
  }
  {
    // An SMTP probe that gives up on STARTTLS closes with unread data: a
    // reset after the handshake (seen on Debian's postfix).
    auto s = scenario().attempt(C, 40000, 1).syn(40000, 0.5).synack(40000, 0.6);
    s.packet(v1::PacketEvent::INBOUND, v1::PacketEvent::ACK, 40000, 0.7);
    s.packet(v1::PacketEvent::INBOUND, v1::PacketEvent::RST, 40000, 30);
    v.push_back({"a reset after the handshake is an abortive close, not a late SYN-ACK's answer", s.in, v1::OPEN,
                 nullptr, nullptr, nullptr, "answered the SYN-ACK"});
  }
  {
    auto s = scenario().attempt(T, 40000, 2000).syn(40000, 0.5);
    s.in.capture_drops = 7;
    v.push_back({"capture drops are noted", s.in, v1::DROPPED_BY_HOST_FIREWALL, nullptr, "dropped 7 packets"});
  }
  v.push_back({"HTTP redirect to HTTPS is noted",
               [] {
                 auto s = scenario(80, "http").attempt(C, 40000, 1).syn(40000, 0.5).synack(40000, 0.6).app(true, "301");
                 (*s.in.app->mutable_fields())["location"] = "https://vps.example/";
                 return s.in;
               }(),
               v1::OPEN, "http: 301", "redirects to HTTPS"});
  return v;
}

}  // namespace

TEST_CASE("verdicts: one case per verdict and the edge cases") {
  for (const auto& c : cases()) {
    INFO("case: " << c.name);
    const auto r = decide_port(c.in);
    INFO("summary: " << r.summary() << "\nnotes:" << joined(r.evidence().notes()) << "\nadvice:" << joined(r.advice()));
    CHECK(v1::Verdict_Name(r.verdict()) == v1::Verdict_Name(c.verdict));
    CHECK(r.port() == c.in.port);
    CHECK(r.probe() == c.in.probe);
    CHECK_FALSE(r.summary().empty());
    CHECK(r.summary().find('\n') == std::string::npos);
    if (c.summary) CHECK(has(r.summary(), c.summary));
    if (c.note) CHECK(any_has(r.evidence().notes(), c.note));
    if (c.advice) CHECK(any_has(r.advice(), c.advice));
    if (c.no_note) CHECK_FALSE(any_has(r.evidence().notes(), c.no_note));
    // Every verdict that is not OPEN says what to do next.
    if (r.verdict() != v1::OPEN && r.verdict() != v1::VERDICT_UNSPECIFIED) CHECK(r.advice_size() > 0);
    CHECK(r.evidence().attempts_size() == static_cast<int>(c.in.attempts.size()));
    CHECK(r.evidence().listeners_size() == static_cast<int>(c.in.listeners.size()));
    CHECK(r.evidence().has_hop() == c.in.hop.has_value());
    if (agent_capturing(c.in)) CHECK(r.evidence().agent_packets_size() == static_cast<int>(c.in.packets.size()));
    for (const auto& s : r.advice()) CHECK(s.find('\n') == std::string::npos);
  }
}

TEST_CASE("client-only advice never says to use the path that just failed") {
  auto ssh_failed = scenario().no_agent(v1::AgentInfo::AUTH_FAILED, "ssh: login refused").attempt(T, 40000, 2000);
  ssh_failed.in.agent.set_path("ssh");
  auto r = decide_port(ssh_failed.in);
  INFO("advice:" << joined(r.advice()));
  CHECK(r.verdict() == v1::FILTERED);
  CHECK_FALSE(any_has(r.advice(), "prober --ssh"));
  CHECK(any_has(r.advice(),
                "could not be used through SSH (the agent line says why); meanwhile: on the server: tcpdump"));

  auto token = scenario().no_agent(v1::AgentInfo::AUTH_FAILED, "wrong token").attempt(R, 40000, 1);
  token.in.agent.set_path("tls");
  r = decide_port(token.in);
  CHECK(r.verdict() == v1::CLOSED);
  CHECK(any_has(r.advice(), "refused the token: use the one in the server's /etc/dropspot/token"));
  CHECK_FALSE(any_has(r.advice(), "run the agent on the server"));

  r = decide_port(scenario().no_agent(v1::AgentInfo::DISABLED, "--no-agent").attempt(T, 40000, 2000).in);
  CHECK(any_has(r.advice(), "run the agent on the server to localise the drop (prober --ssh USER@"));
}

TEST_CASE("verdicts: client-only verdicts never appear when the agent captured") {
  for (const auto& c : cases()) {
    const auto r = decide_port(c.in);
    if (agent_capturing(c.in)) {
      INFO("case: " << c.name);
      CHECK(r.verdict() != v1::FILTERED);
      CHECK(r.verdict() != v1::CLOSED);
    }
  }
}

TEST_CASE("verdicts: the evidence carries corrected agent times, sorted") {
  auto s = scenario().attempt(C, 40000, 1).synack(40000, 5000.6).syn(40000, 5000.5);
  s.in.agent_clock_offset_us = 5'000'000;
  const auto r = decide_port(s.in);
  REQUIRE(r.evidence().agent_packets_size() == 2);
  CHECK(r.evidence().agent_packets(0).kind() == v1::PacketEvent::SYN);
  CHECK(r.evidence().agent_packets(0).time_unix_us() == at_ms(0.5));
  CHECK(r.evidence().agent_packets(1).time_unix_us() == at_ms(0.6));
}

TEST_CASE("verdicts: NAT rewriting the port with several attempts matches by time") {
  // Attempt 1's SYN is lost; attempt 2's arrives with a translated port.
  auto s = scenario().attempt(T, 40000, 1000).attempt(T, 40002, 1000, 1100).syn(61000, 1100.5).listen("0.0.0.0");
  const auto r = decide_port(s.in);
  CHECK(r.verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(any_has(r.evidence().notes(), "you are 198.51.100.2:40002, the server sees 198.51.100.2:61000"));
}

TEST_CASE("verdicts: the control channel's view reveals NAT when no SYN arrived") {
  auto s = scenario().attempt(T, 40000, 2000);
  s.in.prober_address = "10.0.0.5";
  const auto r = decide_port(s.in);
  CHECK(r.verdict() == v1::DROPPED_IN_TRANSIT);
  CHECK(any_has(r.evidence().notes(), "you are 10.0.0.5, the agent sees 198.51.100.2"));
}

TEST_CASE("evidence completeness: decide early or keep waiting") {
  const double rtt = 10;  // grace: max(200, 3 * 10) = 200 ms
  SECTION("no agent capture: nothing to wait for") {
    auto s = scenario().no_agent(v1::AgentInfo::UNREACHABLE, "x").attempt(T, 40000, 2000);
    CHECK(agent_evidence_complete(s.in, at_ms(2000), rtt).complete);
  }
  SECTION("no attempt yet") { CHECK_FALSE(agent_evidence_complete(scenario().in, at_ms(0), rtt).complete); }
  SECTION("connected and the SYN-ACK was seen") {
    auto s = scenario().attempt(C, 40000, 1).syn(40000, 0.5).synack(40000, 0.6);
    CHECK(agent_evidence_complete(s.in, at_ms(1), rtt).complete);
  }
  SECTION("connected, the agent's packets not in yet: wait the grace") {
    auto s = scenario().attempt(C, 40000, 1);
    auto c = agent_evidence_complete(s.in, at_ms(50), rtt);
    CHECK_FALSE(c.complete);
    CHECK(c.recheck_in_ms == Approx(151));
    CHECK(agent_evidence_complete(s.in, at_ms(202), rtt).complete);
  }
  SECTION("refused: complete once the host's reset is seen") {
    auto s = scenario().attempt(R, 40000, 1);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(2), rtt).complete);
    s.syn(40000, 0.5).rst(40000, 0.6);
    CHECK(agent_evidence_complete(s.in, at_ms(2), rtt).complete);
  }
  SECTION("running attempt, no SYN seen: only the timeout can tell") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0);
    auto c = agent_evidence_complete(s.in, at_ms(1500), rtt);
    CHECK_FALSE(c.complete);
    CHECK(c.recheck_in_ms == 0);
  }
  SECTION("running attempt, SYN seen and nothing left: decide after the grace") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).syn(40000, 0.5);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(100), rtt).complete);
    CHECK(agent_evidence_complete(s.in, at_ms(201), rtt).complete);
    // A larger RTT stretches the grace.
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(201), 100).complete);
    CHECK(agent_evidence_complete(s.in, at_ms(301), 100).complete);
    // Decided early, the verdict is the host firewall's.
    s.in.attempts[0].set_outcome(T);
    s.in.attempts[0].set_elapsed_ms(201);
    CHECK(decide_port(s.in).verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  }
  SECTION("running attempt, SYN-ACK left and the prober has not connected: reply lost") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).syn(40000, 0.5).synack(40000, 0.6);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(150), rtt).complete);
    CHECK(agent_evidence_complete(s.in, at_ms(201), rtt).complete);
  }
  SECTION("one lost SYN-ACK with an attempt left: no decision, the next attempt tells") {
    evidence_timing two_attempts;
    two_attempts.attempts_allowed = 2;
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).syn(40000, 0.5).synack(40000, 0.6);
    auto c = agent_evidence_complete(s.in, at_ms(1000), rtt, two_attempts);
    CHECK_FALSE(c.complete);
    CHECK(c.recheck_in_ms == 0);  // the attempt's own timeout ends it
    s.in.attempts[0].set_outcome(T);
    s.in.attempts[0].set_elapsed_ms(100);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(1000), rtt, two_attempts).complete);
    // The second attempt connects: OPEN, the first one's loss noted.
    s.attempt(C, 40002, 1, 100).syn(40002, 100.5).synack(40002, 100.6);
    CHECK(agent_evidence_complete(s.in, at_ms(102), rtt, two_attempts).complete);
    const auto r = decide_port(s.in);
    CHECK(r.verdict() == v1::OPEN);
    CHECK(any_has(r.evidence().notes(), "loss: 1 of 2 attempts failed"));
  }
  SECTION("the SYN-ACK lost on the last attempt allowed: reply lost, decided") {
    evidence_timing two_attempts;
    two_attempts.attempts_allowed = 2;
    auto s = scenario()
                 .attempt(T, 40000, 100)
                 .syn(40000, 0.5)
                 .synack(40000, 0.6)
                 .attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40002, 0, 100)
                 .syn(40002, 100.5)
                 .synack(40002, 100.6);
    CHECK(agent_evidence_complete(s.in, at_ms(301), rtt, two_attempts).complete);
  }
  SECTION("timed out, no SYN: late packets get the grace") {
    auto s = scenario().attempt(T, 40000, 2000);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(2100), rtt).complete);
    CHECK(agent_evidence_complete(s.in, at_ms(2200), rtt).complete);
  }
  SECTION("a failed attempt has nothing to wait for") {
    auto s = scenario().attempt(v1::Attempt::FAILED, 0, 0);
    CHECK(agent_evidence_complete(s.in, at_ms(0), rtt).complete);
  }
  SECTION("running, no SYN seen: a barrier that left margin after the start ends the attempt") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0);
    evidence_timing t;
    t.barrier_margin_ms = 25;
    t.barrier_unix_us = at_ms(20);  // too early: the SYN may still be on its way
    auto c = agent_evidence_complete(s.in, at_ms(120), rtt, t);
    CHECK_FALSE(c.complete);
    CHECK_FALSE(c.end_attempt);
    t.barrier_unix_us = at_ms(25);
    c = agent_evidence_complete(s.in, at_ms(130), rtt, t);
    CHECK_FALSE(c.complete);  // the retry policy decides, not this check
    CHECK(c.end_attempt);
    // The same barrier with the SYN seen: the attempt goes on.
    s.syn(40000, 0.5);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(130), rtt, t).end_attempt);
  }
  SECTION("running, SYN seen, nothing left: a barrier after the SYN's report decides before the grace") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).syn(40000, 0.5);
    evidence_timing t;
    t.barrier_margin_ms = 10;
    t.syn_heard_unix_us = at_ms(5);
    t.barrier_unix_us = at_ms(14);
    CHECK_FALSE(agent_evidence_complete(s.in, at_ms(20), rtt, t).complete);
    t.barrier_unix_us = at_ms(15);
    CHECK(agent_evidence_complete(s.in, at_ms(20), rtt, t).complete);
  }
  SECTION("running, the reply left and did not arrive, attempts left: ended once it had its time") {
    auto s = scenario().attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).syn(40000, 0.5).synack(40000, 0.6);
    evidence_timing t;
    t.attempts_allowed = 2;
    t.reply_heard_unix_us = at_ms(100);                         // the prober heard of the SYN-ACK 100 ms in
    auto c = agent_evidence_complete(s.in, at_ms(120), 80, t);  // waits max(50, 80) ms
    CHECK_FALSE(c.end_attempt);
    CHECK(c.recheck_in_ms == Approx(60));
    c = agent_evidence_complete(s.in, at_ms(180), 80, t);
    CHECK(c.end_attempt);
    CHECK_FALSE(c.complete);
  }
}

TEST_CASE("attempt fates: what each attempt came to, from both ends") {
  const auto T = v1::Attempt::TIMED_OUT;
  auto s = scenario()
               .attempt(T, 40000, 100)  // never seen
               .attempt(T, 40002, 100, 100)
               .syn(40002, 100.5)
               .synack(40002, 100.6)  // its reply lost
               .attempt(T, 40004, 100, 200)
               .syn(40004, 200.5)  // the host said nothing
               .attempt(v1::Attempt::CONNECTED, 40006, 1, 300)
               .syn(40006, 300.5)
               .synack(40006, 300.6)
               .attempt(v1::Attempt::REFUSED, 40008, 1, 400)
               .attempt(v1::Attempt::FAILED, 0, 0, 500)
               .attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40010, 0, 600);
  using F = attempt_fate;
  CHECK(attempt_fates(s.in) ==
        std::vector<F>{F::syn_unseen, F::reply_lost, F::host_silent, F::connected, F::answered, F::failed, F::running});
}

TEST_CASE("mixed fates and no handshake: the path loses packets at random, not a filter") {
  const auto T = v1::Attempt::TIMED_OUT;
  auto s = scenario()
               .attempt(T, 40000, 100)  // its SYN lost
               .attempt(T, 40002, 100, 100)
               .syn(40002, 100.5)
               .synack(40002, 100.6)          // its answer lost
               .attempt(T, 40004, 100, 200);  // its SYN lost
  const auto r = decide_port(s.in);
  CHECK_THAT(r.summary(), Catch::StartsWith("the path loses packets at random: of 3 SYNs, 2 never reached the server "
                                            "and 1 was answered, the answer lost"));
  CHECK(any_has(r.evidence().notes(), "lossy path, not a filter"));
  // The same fate every time is a place, not chance.
  auto same = scenario().attempt(T, 40000, 100).attempt(T, 40002, 100, 100);
  CHECK(decide_port(same.in).verdict() == v1::DROPPED_IN_TRANSIT);
  CHECK_THAT(decide_port(same.in).summary(), !Catch::Contains("at random"));
}

TEST_CASE("more_attempts: a loss on the path is named only when it repeats; random loss gets more tries") {
  using F = attempt_fate;
  attempt_budget b;  // 2 unseen, 6 replies lost, 16 in all when mixed, 4 at a time
  CHECK(more_attempts({}, b) == 1);
  CHECK(more_attempts({F::connected}, b) == 0);
  CHECK(more_attempts({F::answered}, b) == 0);
  CHECK(more_attempts({F::host_silent}, b) == 0);  // the host dropped it: a retry tells nothing more
  CHECK(more_attempts({F::syn_unseen}, b) == 1);
  CHECK(more_attempts({F::syn_unseen, F::syn_unseen}, b) == 0);    // DROPPED_IN_TRANSIT
  CHECK(more_attempts({F::reply_lost}, b) == 5);                   // the rest side by side
  CHECK(more_attempts(std::vector<F>(6, F::reply_lost), b) == 0);  // REPLY_LOST
  CHECK(more_attempts({F::syn_unseen, F::reply_lost}, b) == 4);    // random loss
  CHECK(more_attempts({F::syn_unseen, F::reply_lost, F::syn_unseen, F::syn_unseen, F::reply_lost}, b) == 4);
  std::vector<F> fifteen(14, F::syn_unseen);
  fifteen.push_back(F::reply_lost);
  CHECK(more_attempts(fifteen, b) == 1);  // up to 16 in all
  fifteen.push_back(F::syn_unseen);
  CHECK(more_attempts(fifteen, b) == 0);
  CHECK(more_attempts({F::syn_unseen, F::syn_unseen, F::connected}, b) == 0);
  CHECK(more_attempts({F::failed}, b) == 1);
  CHECK(more_attempts({F::failed, F::failed}, b) == 0);
  b.same_unseen = 4;  // --retries 3
  CHECK(more_attempts({F::syn_unseen}, b) == 3);
  CHECK(more_attempts({F::reply_lost}, b) == 5);
}

namespace {

v1::Report report_of(std::vector<std::pair<std::uint32_t, v1::Verdict>> ports, bool agent = true) {
  v1::Report r;
  r.set_target("vps.example");
  r.set_address(server);
  r.mutable_agent()->set_status(agent ? v1::AgentInfo::CONNECTED : v1::AgentInfo::DISABLED);
  r.mutable_agent()->set_endpoint("203.0.113.2:7411");
  r.mutable_agent()->set_path("tls");
  for (auto [port, verdict] : ports) {
    auto* p = r.add_ports();
    p->set_port(port);
    p->set_verdict(verdict);
  }
  return r;
}

}  // namespace

TEST_CASE("cross-port notes") {
  SECTION("several ports blocked by the host firewall: a default-deny guess only where no rule is named") {
    const auto guess = [](const std::vector<std::string>& notes) {
      return std::count_if(notes.begin(), notes.end(),
                           [](const std::string& n) { return n.find("probably a default-deny") != std::string::npos; });
    };
    auto report = report_of({{80, v1::DROPPED_BY_HOST_FIREWALL}, {8080, v1::DROPPED_BY_HOST_FIREWALL}});
    CHECK(guess(cross_port_notes(report)) == 1);
    report.mutable_ports(0)->mutable_evidence()->add_firewall("ufw default deny incoming");
    CHECK(guess(cross_port_notes(report)) == 1);  // 8080 still unexplained
    report.mutable_ports(1)->mutable_evidence()->add_firewall("ufw deny 8080/tcp");
    CHECK(guess(cross_port_notes(report)) == 0);  // each names its rule: no guess
  }
  SECTION("25 dropped in transit while 587 reaches the server: OP25B") {
    auto notes = cross_port_notes(report_of({{25, v1::DROPPED_IN_TRANSIT}, {587, v1::OPEN}, {465, v1::NO_LISTENER}}));
    CHECK(any_has(notes, "port 25 never reaches the server while 465,587 does"));
    CHECK(any_has(notes, "OP25B"));
    // 25 is explained; no generic "some ports" note for it alone.
    CHECK_FALSE(any_has(notes, "port(s) 25 never reach"));
  }
  SECTION("25 dropped and neither 587 nor 465 tested") {
    auto notes = cross_port_notes(report_of({{25, v1::DROPPED_IN_TRANSIT}, {80, v1::OPEN}}));
    CHECK(any_has(notes, "test 587 and 465 too"));
  }
  SECTION("25 and 587 both dropped: no OP25B signature") {
    auto notes = cross_port_notes(report_of({{25, v1::DROPPED_IN_TRANSIT}, {587, v1::DROPPED_IN_TRANSIT}}));
    CHECK_FALSE(any_has(notes, "signature"));
    CHECK(any_has(notes, "no port reaches the server"));
    CHECK(any_has(notes, "203.0.113.2:7411 (tls)"));
  }
  SECTION("25 intercepted: the ISP's relay") {
    auto notes = cross_port_notes(report_of({{25, v1::INTERCEPTED}, {587, v1::OPEN}}));
    CHECK(any_has(notes, "own mail relay"));
  }
  SECTION("client-only: 25 filtered while 587 connects") {
    auto notes = cross_port_notes(report_of({{25, v1::FILTERED}, {587, v1::OPEN}}, false));
    CHECK(any_has(notes, "port 25 gets no answer while 587 does"));
    CHECK(any_has(notes, "OP25B"));
  }
  SECTION("client-only: every port filtered") {
    auto notes = cross_port_notes(report_of({{80, v1::FILTERED}, {443, v1::FILTERED}}, false));
    CHECK(any_has(notes, "run the agent"));
  }
  SECTION("some ports dropped in transit, others reach the server") {
    auto notes =
        cross_port_notes(report_of({{22, v1::OPEN}, {80, v1::DROPPED_IN_TRANSIT}, {443, v1::DROPPED_IN_TRANSIT}}));
    CHECK(any_has(notes, "port(s) 80,443 never reach the server while 22 do"));
  }
  SECTION("several ports blocked by the host firewall") {
    auto notes = cross_port_notes(
        report_of({{22, v1::OPEN}, {80, v1::DROPPED_BY_HOST_FIREWALL}, {443, v1::REJECTED_BY_HOST_FIREWALL}}));
    CHECK(any_has(notes, "blocks ports 80,443"));
    CHECK(any_has(notes, "vanish at reboot"));
  }
  SECTION("HSTS: 80 open, 443 not") {
    auto notes = cross_port_notes(report_of({{80, v1::OPEN}, {443, v1::NO_LISTENER}}));
    CHECK(any_has(notes, "HSTS"));
  }
  SECTION("connections succeed, the agent saw nothing anywhere") {
    auto notes = cross_port_notes(report_of({{80, v1::INTERCEPTED}, {443, v1::INTERCEPTED}}));
    CHECK(any_has(notes, "the agent saw no SYN on any port"));
  }
  SECTION("all open: nothing to say") {
    CHECK(cross_port_notes(report_of({{22, v1::OPEN}, {80, v1::OPEN}, {443, v1::OPEN}})).empty());
  }
}

TEST_CASE("expectation classes") {
  CHECK(expectation_class(v1::OPEN) == "open");
  for (auto v : {v1::DROPPED_IN_TRANSIT, v1::REJECTED_IN_TRANSIT, v1::DROPPED_BY_HOST_FIREWALL,
                 v1::REJECTED_BY_HOST_FIREWALL, v1::REPLY_LOST, v1::FILTERED})
    CHECK(expectation_class(v) == "blocked");
  for (auto v : {v1::NO_LISTENER, v1::LISTENER_WRONG_ADDRESS, v1::CLOSED}) CHECK(expectation_class(v) == "closed");
  for (auto v : {v1::APP_FAILED, v1::INTERCEPTED, v1::VERDICT_UNSPECIFIED}) CHECK(expectation_class(v).empty());

  CHECK(verdict_meets(v1::OPEN, "open"));
  CHECK(verdict_meets(v1::OPEN, " Open "));
  CHECK_FALSE(verdict_meets(v1::APP_FAILED, "open"));
  CHECK(verdict_meets(v1::FILTERED, "blocked"));
  CHECK_FALSE(verdict_meets(v1::NO_LISTENER, "blocked"));
  CHECK(verdict_meets(v1::NO_LISTENER, "closed"));
  CHECK(verdict_meets(v1::NO_LISTENER, "NO_LISTENER"));
  CHECK(verdict_meets(v1::NO_LISTENER, "no_listener"));
  CHECK_FALSE(verdict_meets(v1::CLOSED, "NO_LISTENER"));
  CHECK(verdict_meets(v1::INTERCEPTED, "INTERCEPTED"));
  CHECK_FALSE(verdict_meets(v1::INTERCEPTED, "open"));
  CHECK_FALSE(verdict_meets(v1::VERDICT_UNSPECIFIED, "VERDICT_UNSPECIFIED"));
  CHECK_FALSE(verdict_meets(v1::OPEN, "nonsense"));

  v1::PortReport p;
  p.set_verdict(v1::DROPPED_IN_TRANSIT);
  apply_expectation(p, "open");
  CHECK(p.expect() == "open");
  CHECK_FALSE(p.as_expected());
  apply_expectation(p, "blocked");
  CHECK(p.as_expected());
}

TEST_CASE("addresses and listeners") {
  CHECK(normalize_address("203.0.113.2") == "203.0.113.2");
  CHECK(normalize_address("::ffff:203.0.113.2") == "203.0.113.2");
  CHECK(normalize_address("[2001:DB8:0:0::2]") == "2001:db8::2");
  CHECK(normalize_address("fe80::1%eth0") == "fe80::1");
  CHECK(normalize_address("Not-An-Address") == "not-an-address");

  auto l = [](const char* address, bool v6_only = false) {
    v1::Listener x;
    x.set_address(address);
    x.set_v6_only(v6_only);
    return x;
  };
  CHECK(listener_accepts(l("0.0.0.0"), "203.0.113.2"));
  CHECK_FALSE(listener_accepts(l("0.0.0.0"), "2001:db8::2"));
  CHECK(listener_accepts(l("::"), "203.0.113.2"));
  CHECK(listener_accepts(l("::"), "2001:db8::2"));
  CHECK_FALSE(listener_accepts(l("::", true), "203.0.113.2"));
  CHECK(listener_accepts(l("*"), "2001:db8::2"));
  CHECK_FALSE(listener_accepts(l("127.0.0.1"), "203.0.113.2"));
  CHECK_FALSE(listener_accepts(l("::1"), "2001:db8::2"));
  CHECK(listener_accepts(l("203.0.113.2"), "203.0.113.2"));
  CHECK(listener_accepts(l("::ffff:203.0.113.2"), "203.0.113.2"));
  CHECK_FALSE(listener_accepts(l("203.0.113.3"), "203.0.113.2"));
  CHECK(listener_accepts(l("2001:db8::2"), "2001:0db8::0002"));
}

TEST_CASE("ICMP error names") {
  CHECK(icmp_error_name(false, 3, 13) == "admin-prohibited");
  CHECK(icmp_error_name(false, 3, 3) == "port-unreachable");
  CHECK(icmp_error_name(false, 3, 10) == "host-prohibited");
  CHECK(icmp_error_name(true, 1, 1) == "admin-prohibited");
  CHECK(icmp_error_name(true, 1, 4) == "port-unreachable");
  CHECK(icmp_error_name(false, 5, 1) == "ICMP type 5 code 1");
  CHECK(icmp_error_name(true, 1, 99) == "ICMPv6 type 1 code 99");
}

TEST_CASE("path notes: said once for the ports that share them, per port where they differ") {
  auto r = report_of({{22, v1::OPEN}, {80, v1::DROPPED_BY_HOST_FIREWALL}, {443, v1::OPEN}, {8080, v1::FILTERED}});
  const std::string ttl = "the SYN arrived with TTL 62: 2 routers between the prober and the server (initial TTL 64)";
  const std::string odd = "the SYN arrived with TTL 60: 4 routers between the prober and the server (initial TTL 64)";
  r.mutable_ports(0)->mutable_evidence()->add_notes(ttl);
  r.mutable_ports(1)->mutable_evidence()->add_notes(ttl);
  r.mutable_ports(1)->mutable_evidence()->add_notes("the server saw 2 SYNs from the same port");
  r.mutable_ports(2)->mutable_evidence()->add_notes(odd);
  r.mutable_ports(3)->mutable_evidence()->add_notes(ttl);
  gather_path_notes(r);
  REQUIRE(r.notes_size() == 1);
  CHECK(r.notes(0) == "ports 22,80,8080: " + ttl);
  CHECK(r.ports(0).evidence().notes_size() == 0);
  CHECK(r.ports(1).evidence().notes(0) == "the server saw 2 SYNs from the same port");  // a port's own fact stays
  CHECK(r.ports(2).evidence().notes(0) == odd);                                         // one port only: stays with it
  CHECK(r.ports(3).evidence().notes_size() == 0);
}

TEST_CASE("udp verdicts: what the host did with the datagram decides") {
  const auto udp_listen = [](scenario& s, const char* address, const char* process) -> scenario& {
    s.listen(address, process);
    s.in.listeners.back().set_protocol(v1::UDP);
    return s;
  };
  struct udp_case {
    const char* name;
    port_input in;
    v1::Verdict verdict;
    const char* summary;
  };
  std::vector<udp_case> v;
  {
    scenario s(53);
    s.udp("dns")
        .attempt(C, 40000, 1.0)
        .datagram_in(40000, 0.4)
        .datagram_out(40000, 0.5)
        .app(true, "NOERROR, 13 answers");
    v.push_back({"a reply", udp_listen(s, "0.0.0.0", "dnsmasq").in, v1::OPEN, "dns: NOERROR, 13 answers"});
  }
  {
    scenario s(53);
    s.udp("dns").attempt(C, 40000, 1.0).datagram_in(40000, 0.4).datagram_out(40000, 0.5).app(false, "SERVFAIL");
    v.push_back({"an error reply", s.in, v1::APP_FAILED, "replied with an error: SERVFAIL"});
  }
  {
    scenario s(51820);
    s.udp("wireguard", false).attempt(T, 40000, 1000).datagram_in(40000, 0.4);
    v.push_back({"silent by design", udp_listen(s, "::", "wg").in, v1::OPEN, "stays silent by design"});
  }
  {
    scenario s(53);
    s.udp("dns").attempt(T, 40000, 1000).datagram_in(40000, 0.4);
    v.push_back({"delivered, no answer", udp_listen(s, "0.0.0.0", "dnsmasq").in, v1::APP_FAILED, "no dns reply came"});
  }
  v.push_back({"port unreachable, nothing bound",
               scenario(5001)
                   .udp()
                   .attempt(U, 40000, 1.0)
                   .icmp_from(server, 3, 3)
                   .datagram_in(40000, 0.4)
                   .icmp_out(40000, 0.5, 3, 3)
                   .in,
               v1::NO_LISTENER, "nothing is bound to UDP port 5001"});
  v.push_back({"nothing left, nothing bound (rate-limited)",
               scenario(5001).udp().attempt(T, 40000, 1000).datagram_in(40000, 0.4).rule("").in, v1::NO_LISTENER,
               "rate-limited"});
  v.push_back({"dropped by a rule",
               scenario(5002)
                   .udp()
                   .attempt(T, 40000, 1000)
                   .datagram_in(40000, 0.4)
                   .rule("table inet filter chain input handle 4: udp dport 5002 drop")
                   .in,
               v1::DROPPED_BY_HOST_FIREWALL, "udp dport 5002 drop"});
  {
    scenario s(5003);
    s.udp().attempt(U, 40000, 1.0).icmp_from(server, 3, 3).datagram_in(40000, 0.4).icmp_out(40000, 0.5, 3, 3);
    v.push_back({"port unreachable while bound: a reject rule", udp_listen(s, "0.0.0.0", "socat").in,
                 v1::REJECTED_BY_HOST_FIREWALL, "although socat"});
  }
  v.push_back({"admin-prohibited from the host",
               scenario(5003)
                   .udp()
                   .attempt(U, 40000, 1.0)
                   .icmp_from(server, 3, 13)
                   .datagram_in(40000, 0.4)
                   .icmp_out(40000, 0.5, 3, 13)
                   .in,
               v1::REJECTED_BY_HOST_FIREWALL, "rejected it"});
  {
    scenario s(5005);
    s.udp().attempt(U, 40000, 1.0).icmp_from(server, 3, 3).datagram_in(40000, 0.4).icmp_out(40000, 0.5, 3, 3);
    v.push_back({"bound to loopback", udp_listen(s, "127.0.0.1", "socat").in, v1::LISTENER_WRONG_ADDRESS,
                 "127.0.0.1:5005 only"});
  }
  v.push_back({"never arrived", scenario(5004).udp().attempt(T, 40000, 1000).attempt(T, 40001, 1000, 5).in,
               v1::DROPPED_IN_TRANSIT, "never reached the server"});
  v.push_back({"a router's reject", scenario(5004).udp().attempt(U, 40000, 1.0).icmp_from("198.51.100.1", 3, 13).in,
               v1::REJECTED_IN_TRANSIT, "from 198.51.100.1, before the server"});
  v.push_back({"the reply lost",
               scenario(5007).udp().attempt(T, 40000, 1000).datagram_in(40000, 0.4).datagram_out(40000, 0.5).in,
               v1::REPLY_LOST, "the reply never reached you"});
  v.push_back({"an answer the server never sent", scenario(53).udp("dns").attempt(C, 40000, 1.0).in, v1::INTERCEPTED,
               "never sent"});
  v.push_back({"client only: a reply",
               scenario(5006).udp().no_agent(v1::AgentInfo::DISABLED, "--no-agent").attempt(C, 40000, 1.0).in, v1::OPEN,
               "replied"});
  v.push_back({"client only: port unreachable",
               scenario(5001)
                   .udp()
                   .no_agent(v1::AgentInfo::DISABLED, "--no-agent")
                   .attempt(U, 40000, 1.0)
                   .icmp_from(server, 3, 3)
                   .in,
               v1::CLOSED, "port unreachable"});
  v.push_back({"client only: silence",
               scenario(51820).udp().no_agent(v1::AgentInfo::DISABLED, "--no-agent").attempt(T, 40000, 1000).in,
               v1::FILTERED, "open or filtered"});
  for (auto& c : v) {
    INFO(c.name);
    // rule("") stands for "the rulesets were read, no rule blocks"
    std::erase(c.in.firewall, std::string());
    const auto r = decide_port(c.in);
    CHECK(r.protocol() == v1::UDP);
    CHECK(v1::Verdict_Name(r.verdict()) == v1::Verdict_Name(c.verdict));
    INFO("summary: " << r.summary());
    CHECK(has(r.summary(), c.summary));
  }
}

TEST_CASE("udp verdicts: the retry policy reads datagrams as it reads SYNs") {
  // Seen, nothing left: the host decided; unseen: a lost datagram (retried); the reply left: lost on the way back.
  auto silent = scenario(51820).udp("wireguard", false).attempt(T, 40000, 1000).datagram_in(40000, 0.4).in;
  CHECK(attempt_fates(silent) == std::vector<attempt_fate>{attempt_fate::host_silent});
  auto unseen = scenario(5004).udp().attempt(T, 40000, 1000).in;
  CHECK(attempt_fates(unseen) == std::vector<attempt_fate>{attempt_fate::syn_unseen});
  auto lost = scenario(5007).udp().attempt(T, 40000, 1000).datagram_in(40000, 0.4).datagram_out(40000, 0.5).in;
  CHECK(attempt_fates(lost) == std::vector<attempt_fate>{attempt_fate::reply_lost});
  CHECK(more_attempts(attempt_fates(unseen), attempt_budget{}) > 0);
  CHECK(more_attempts(attempt_fates(silent), attempt_budget{}) == 0);

  // A running attempt whose datagram arrived at a bound socket: a barrier with
  // nothing leaving decides a kernel's silence, not a program's (it may be
  // looking the answer up); without a socket for it, the barrier decides.
  auto running = scenario(53).udp("dns").attempt(v1::Attempt::OUTCOME_UNSPECIFIED, 40000, 0).datagram_in(40000, 0.4).in;
  evidence_timing timing;
  timing.syn_heard_unix_us = at_ms(1);
  timing.barrier_unix_us = at_ms(30);
  CHECK(agent_evidence_complete(running, at_ms(40), 1.0, timing).complete);
  running.awaiting_service = true;
  const auto waiting = agent_evidence_complete(running, at_ms(40), 1.0, timing);
  CHECK_FALSE(waiting.complete);
  CHECK_FALSE(waiting.end_attempt);
}

TEST_CASE("path notes and port inferences keep TCP and UDP ports of one number apart") {
  auto r = report_of({{53, v1::OPEN}, {25, v1::DROPPED_IN_TRANSIT}, {587, v1::OPEN}});
  auto* udp = r.add_ports();
  udp->set_port(53);
  udp->set_protocol(v1::UDP);
  udp->set_verdict(v1::OPEN);
  auto* udp25 = r.add_ports();  // a UDP 25 that reaches the server says nothing about OP25B
  udp25->set_port(25);
  udp25->set_protocol(v1::UDP);
  udp25->set_verdict(v1::NO_LISTENER);
  const std::string ttl = "the SYN arrived with TTL 62: 2 routers between the prober and the server (initial TTL 64)";
  const std::string dgram =
      "the datagram arrived with TTL 62: 2 routers between the prober and the server (initial TTL 64)";
  r.mutable_ports(0)->mutable_evidence()->add_notes(ttl);
  r.mutable_ports(2)->mutable_evidence()->add_notes(ttl);
  r.mutable_ports(3)->mutable_evidence()->add_notes(dgram);
  r.mutable_ports(4)->mutable_evidence()->add_notes(dgram);
  gather_path_notes(r);
  REQUIRE(r.notes_size() == 2);
  CHECK(r.notes(0) == "ports 53,587: " + ttl);
  CHECK(r.notes(1) == "ports 25/udp,53/udp: " + dgram);
  CHECK(any_has(cross_port_notes(r), "OP25B"));  // TCP 25 dropped while 587 arrives, whatever UDP 25 did
}

namespace {

v1::Report address_report(const std::string& address,
                          std::initializer_list<std::pair<std::uint32_t, v1::Verdict>> ports) {
  v1::Report r;
  r.set_target("www.example");
  r.set_address(address);
  for (const auto& [port, verdict] : ports) {
    auto* p = r.add_ports();
    p->set_port(port);
    p->set_verdict(verdict);
  }
  return r;
}

}  // namespace

TEST_CASE("a name's addresses compared: one line per port they disagree on, what to check for the failing family") {
  const auto v4 = address_report("203.0.113.2", {{22, v1::OPEN}, {80, v1::OPEN}, {443, v1::NO_LISTENER}});
  const auto v6 =
      address_report("2001:db8:2::2", {{22, v1::OPEN}, {80, v1::DROPPED_IN_TRANSIT}, {443, v1::NO_LISTENER}});
  const auto notes = address_notes({v4, v6});
  REQUIRE(notes.size() == 1);  // 22 and 443 fare alike over both
  CHECK(notes[0] ==
        "port 80 works over IPv4 (203.0.113.2) and is dropped in transit over IPv6 (2001:db8:2::2): clients that "
        "prefer IPv6 (mail servers, ssh, curl, monitoring) will fail; browsers fall back to IPv4 and hide it; check "
        "the provider's IPv6 filter (security group) and the AAAA record (that it is this server's)");
  // IPv6 works, IPv4 does not: the service listens on [::] only.
  const auto listen6 = address_notes({address_report("203.0.113.2", {{80, v1::LISTENER_WRONG_ADDRESS}}),
                                      address_report("2001:db8:2::2", {{80, v1::OPEN}})});
  REQUIRE(listen6.size() == 1);
  CHECK(listen6[0].find("clients without IPv6 (most of them) will fail") != std::string::npos);
  CHECK(listen6[0].find("listens on 0.0.0.0 (nginx: 'listen 80;')") != std::string::npos);
  // The host firewall over IPv6 only: its rules; an AAAA at another host: the record.
  CHECK(address_notes({v4, address_report("2001:db8:2::2", {{80, v1::DROPPED_BY_HOST_FIREWALL}})})[0].find(
            "check ip6tables / nft ip6 and inet rules") != std::string::npos);
  CHECK(address_notes({v4, address_report("2001:db8:2::9", {{80, v1::INTERCEPTED}})})[0].find(
            "check the AAAA record (it may point at another host") != std::string::npos);
  // Alike everywhere, one address, or an address not tested: nothing to compare.
  CHECK(address_notes({v4, v4}).empty());
  CHECK(address_notes({v6}).empty());
  v1::Report untested;
  untested.set_error("--target: cannot resolve");
  CHECK(address_notes({v4, untested}).empty());
}
