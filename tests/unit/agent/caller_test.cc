// `agent --stdio` under a sudo rule: the option gate, who the caller is (from
// made-up process trees), and which peer the agent may diagnose for it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "agent/caller.h"
#include "agent/options.h"

using namespace dropspot::agent;

namespace {

asio::ip::address addr(const char* text) { return asio::ip::make_address(text); }

proc_tcp_socket tcp(const char* local, std::uint16_t local_port, const char* remote, std::uint16_t remote_port,
                    std::uint8_t state, std::uint64_t inode) {
  return {addr(local), local_port, addr(remote), remote_port, state, inode};
}

// alice logged in over SSH from 198.51.100.2:40022 and ran `sudo agent --stdio`:
// agent <- sudo (real uid alice) <- bash <- sshd: alice@notty <- sshd: alice [priv] <- sshd listener.
// Her unprivileged sshd child also holds a port forward's connection (inode 77):
// an established socket to an address she chose, which must never count.
caller_snapshot alice_over_ssh() {
  caller_snapshot s;
  s.ancestors = {
      {4100, 1000, "sudo", {}}, {4090, 1000, "bash", {}},   {4080, 1000, "sshd", {50, 77}},
      {4070, 0, "sshd", {50}},  {600, 0, "sshd", {10, 11}}, {1, 0, "systemd", {}},
  };
  s.tcp = {
      tcp("0.0.0.0", 22, "0.0.0.0", 0, tcp_listen, 10),
      tcp("::", 22, "::", 0, tcp_listen, 11),
      tcp("::ffff:203.0.113.2", 22, "::ffff:198.51.100.2", 40022, tcp_established, 50),
      tcp("203.0.113.2", 51000, "192.0.2.66", 443, tcp_established, 77),
  };
  return s;
}

}  // namespace

TEST_CASE("caller: /proc/<pid>/status gives the parent and the real uid") {
  auto status = parse_process_status(
      "Name:\tsudo\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4100\nPid:\t4100\nPPid:\t4090\n"
      "TracerPid:\t0\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n");
  REQUIRE(status);
  CHECK(status->ppid == 4090);
  CHECK(status->real_uid == 1000);  // the real uid, not the effective 0 of a setuid sudo
  CHECK_FALSE(parse_process_status(""));
  CHECK_FALSE(parse_process_status("PPid:\t1\n"));
  CHECK_FALSE(parse_process_status("PPid:\tx\nUid:\t0 0 0 0\n"));
  CHECK_FALSE(parse_process_status("PPid:\t1\nUid:\t-1 0 0 0\n"));
  CHECK_FALSE(parse_process_status("PPid:\t1\nUid:\t99999999999 0 0 0\n"));
}

TEST_CASE("caller: /proc/net/tcp lines in every state, with the remote end") {
  auto sockets = parse_proc_net_tcp_sockets(
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 027100CB:0016 026433C6:9C86 01 00000000:00000000 02:00000A1B 00000000     0        0 50 4\n"
      "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10 1\n"
      "   2: 027100CB:0016 026433C6:9C86 0G 00000000:00000000 02:00000A1B 00000000     0        0 51 4\n"
      "   3: 027100CB:0016 026433C6 01 00000000:00000000 02:00000A1B 00000000     0        0 52 4\n");
  REQUIRE(sockets.size() == 2);
  CHECK(sockets[0].local == addr("203.0.113.2"));
  CHECK(sockets[0].local_port == 22);
  CHECK(sockets[0].remote == addr("198.51.100.2"));
  CHECK(sockets[0].remote_port == 40070);
  CHECK(sockets[0].state == tcp_established);
  CHECK(sockets[0].inode == 50);
  CHECK(sockets[1].state == tcp_listen);
}

TEST_CASE("caller: a user's sudo over SSH is on that user's behalf, with the login's own connection") {
  auto who = identify_caller(alice_over_ssh());
  REQUIRE(who.on_behalf_of);
  CHECK(*who.on_behalf_of == 1000);
  REQUIRE(who.ssh);
  CHECK(who.ssh->address == addr("198.51.100.2"));  // v4-mapped given as IPv4
  CHECK(who.ssh->port == 40022);
}

TEST_CASE("caller: sockets of the user's own processes are not the login's connection") {
  // Without the root-owned monitor, only alice's sshd child holds sockets: her
  // port forward (77) and even the login's (50) are ignored.
  auto s = alice_over_ssh();
  s.ancestors.erase(s.ancestors.begin() + 3);
  auto who = identify_caller(s);
  CHECK(who.on_behalf_of == 1000u);
  CHECK_FALSE(who.ssh);
  // A root-owned process that is not sshd does not count either.
  s = alice_over_ssh();
  s.ancestors[3].command = "python3";
  CHECK_FALSE(identify_caller(s).ssh);
}

TEST_CASE("caller: root all the way up, over SSH or not") {
  auto s = alice_over_ssh();
  for (auto& a : s.ancestors) a.real_uid = 0;
  auto who = identify_caller(s);
  CHECK_FALSE(who.on_behalf_of);
  REQUIRE(who.ssh);
  CHECK(who.ssh->address == addr("198.51.100.2"));
  caller_snapshot local;
  local.ancestors = {{300, 0, "bash", {}}, {1, 0, "systemd", {}}};
  who = identify_caller(local);
  CHECK_FALSE(who.on_behalf_of);
  CHECK_FALSE(who.ssh);
}

TEST_CASE("caller: on a user's behalf only the user's own SSH address is diagnosed") {
  const caller alice = identify_caller(alice_over_ssh());
  // What the prober sends: --peer "${SSH_CONNECTION%% *}" (sudo scrubs SSH_CONNECTION itself).
  auto peer = choose_stdio_peer("198.51.100.2", nullptr, alice);
  REQUIRE(peer);
  CHECK(peer->address == addr("198.51.100.2"));
  CHECK(peer->ssh_port == 40022);
  CHECK(peer->origin == "the SSH login of uid 1000");
  CHECK(choose_stdio_peer("::ffff:198.51.100.2", nullptr, alice));
  // No --peer: the login's address.
  peer = choose_stdio_peer("", nullptr, alice);
  REQUIRE(peer);
  CHECK(peer->address == addr("198.51.100.2"));
  // Another address, even with a forged SSH_CONNECTION: refused.
  auto other = choose_stdio_peer("192.0.2.66", "192.0.2.66 1 203.0.113.2 22", alice);
  REQUIRE_FALSE(other);
  CHECK(other.error().find("192.0.2.66 is not the address of the SSH connection of uid 1000 (198.51.100.2)") !=
        std::string::npos);
  // Outside an SSH login (local sudo): nothing to diagnose.
  caller local = alice;
  local.ssh.reset();
  auto refused = choose_stdio_peer("198.51.100.2", "198.51.100.2 40022 203.0.113.2 22", local);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().find("outside an SSH login") != std::string::npos);
  // Names are never resolved.
  auto name = choose_stdio_peer("evil.example", nullptr, alice);
  REQUIRE_FALSE(name);
  CHECK(name.error() == "--peer: 'evil.example' is not an address");
}

TEST_CASE("caller: root may name any peer; SSH_CONNECTION is the fallback") {
  const caller root{};
  auto peer = choose_stdio_peer("192.0.2.66", nullptr, root);
  REQUIRE(peer);
  CHECK(peer->address == addr("192.0.2.66"));
  CHECK(peer->origin == "--peer");
  CHECK(peer->ssh_port == 0);
  peer = choose_stdio_peer("", "2001:db8:1::2 51234 2001:db8:2::2 22", root);
  REQUIRE(peer);
  CHECK(peer->address == addr("2001:db8:1::2"));
  CHECK(peer->ssh_port == 51234);
  CHECK(peer->origin == "SSH_CONNECTION");
  peer = choose_stdio_peer("  ::ffff:198.51.100.2 ", "198.51.100.2 5 1 22", root);
  REQUIRE(peer);
  CHECK(peer->address == addr("198.51.100.2"));
  CHECK(peer->ssh_port == 5);
  // Root over SSH: the login's port is known from the socket too.
  caller root_ssh{std::nullopt, ssh_client{addr("198.51.100.2"), 40022}};
  peer = choose_stdio_peer("198.51.100.2", nullptr, root_ssh);
  REQUIRE(peer);
  CHECK(peer->ssh_port == 40022);
  CHECK_FALSE(choose_stdio_peer("", nullptr, root));
  CHECK_FALSE(choose_stdio_peer("", "bogus 1 2 3", root));
  CHECK_FALSE(choose_stdio_peer("", "   ", root));
}

TEST_CASE("stdio gate: only what narrows one session goes with --stdio") {
  raw_options raw;
  raw.stdio = true;
  CHECK_FALSE(refuse_stdio_options({"--stdio"}, raw));
  CHECK_FALSE(refuse_stdio_options({"--stdio", "--peer", "--allow-ports", "--max-ports", "--max-session"}, raw));
  for (const char* refused :
       {"--pcap-dir", "--state-dir", "--token-file", "--host-root", "--saved-rules", "--listen", "--interface",
        "--user", "--max-sessions", "--max-per-source", "--auth-timeout", "check", "token"}) {
    INFO(refused);
    auto message = refuse_stdio_options({"--stdio", "--peer", refused}, raw);
    REQUIRE(message);
    CHECK(message->starts_with(std::string(refused) + " does not go with --stdio"));
  }
  raw.max_ports = 100;
  raw.max_session = "30s";
  CHECK_FALSE(refuse_stdio_options({"--stdio", "--max-ports", "--max-session"}, raw));
  raw.max_ports = 4097;
  CHECK(refuse_stdio_options({"--stdio", "--max-ports"}, raw) ==
        "--max-ports with --stdio can only lower the limit: at most 4096");
  raw.max_ports = 4096;
  raw.max_session = "5m1s";
  CHECK(refuse_stdio_options({"--stdio", "--max-session"}, raw) ==
        "--max-session with --stdio can only shorten the session: at most 5m");
}

TEST_CASE("agent options: --metrics takes an address and a port, and is off by default") {
  raw_options raw;
  CHECK_FALSE(validate_options(raw).value().metrics.has_value());
  raw.metrics = "127.0.0.1:9412";
  const auto o = validate_options(raw).value();
  REQUIRE(o.metrics);
  CHECK(o.metrics->port == 9412);
  for (const char* bad : {"localhost:9412", "127.0.0.1", "127.0.0.1:99999", "[::1"}) {
    raw.metrics = bad;
    CHECK_FALSE(validate_options(raw).ok());
  }
  CHECK(refuse_stdio_options({"--stdio", "--metrics"}, raw));  // --stdio binds nothing
}
