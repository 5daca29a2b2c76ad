// The pure half of --ssh: the ssh command line, and what its failures mean.
#include "prober/ssh_transport.h"

#include <catch2/catch.hpp>

using namespace dropspot;
using namespace dropspot::prober;

namespace {

ssh_settings settings(std::string destination, std::string command = "", std::string remote = "sudo -n agent --stdio") {
  ssh_settings s;
  s.destination = std::move(destination);
  s.ssh_command = std::move(command);
  s.remote_agent = std::move(remote);
  return s;
}

using argv = std::vector<std::string>;

}  // namespace

TEST_CASE("ssh argv: never prompts, bounds the connect, passes the login's address as --peer") {
  auto a = ssh_argv(settings("alice@vps.example"));
  REQUIRE(a);
  CHECK(*a == argv{"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", "alice@vps.example",
                   "sudo -n agent --stdio --peer \"${SSH_CONNECTION%% *}\""});
}

TEST_CASE("ssh argv: a port, an IPv6 address, and an ssh command with quoted words") {
  auto a = ssh_argv(settings("bob@[2001:db8::2]:2222", "ssh -i '/home/me/my key' -J jump"));
  REQUIRE(a);
  CHECK(*a == argv{"ssh", "-i", "/home/me/my key", "-J", "jump", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p",
                   "2222", "--", "bob@2001:db8::2", "sudo -n agent --stdio --peer \"${SSH_CONNECTION%% *}\""});
  auto no_user = ssh_argv(settings("203.0.113.2"));
  REQUIRE(no_user);
  CHECK(no_user->at(no_user->size() - 2) == "203.0.113.2");
}

TEST_CASE("ssh argv: bad input is an error that names the option") {
  auto unbalanced = ssh_argv(settings("vps", "ssh -i 'key"));
  REQUIRE_FALSE(unbalanced);
  CHECK(unbalanced.error().find("--ssh-command: unbalanced quote") == 0);
  auto empty = ssh_argv(settings("vps", "   "));
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == "--ssh-command is empty");
  auto bad_port = ssh_argv(settings("vps:99999"));
  REQUIRE_FALSE(bad_port);
  CHECK(bad_port.error().find("--ssh: ") == 0);
}

TEST_CASE("ssh failures: each cause in words, with the next step") {
  using kind = ssh_failure::kind;
  auto denied = classify_ssh_failure(255, "alice@vps: Permission denied (publickey).\n");
  CHECK(denied.what == kind::auth_failed);
  CHECK(denied.message == "ssh: login refused (alice@vps: Permission denied (publickey).)");
  auto sudo = classify_ssh_failure(1, "sudo: a password is required\n");
  CHECK(sudo.what == kind::auth_failed);
  CHECK(sudo.advice.find("NOPASSWD: /usr/bin/agent --stdio --peer *") != std::string::npos);  // docs/agent.md's line
  CHECK(classify_ssh_failure(127, "bash: agent: command not found").message.find("not installed") != std::string::npos);
  CHECK(classify_ssh_failure(255, "ssh: connect to host vps port 22: Connection refused").what == kind::unreachable);
  CHECK(classify_ssh_failure(255, "Host key verification failed.").what == kind::error);
  auto other = classify_ssh_failure(3, "something\nelse \x1b[2J\n");
  CHECK(other.message == "ssh ended (status 3): else \\x1b[2J");  // the last line, escaped
}
