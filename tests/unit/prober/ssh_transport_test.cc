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
  // Our client missing is not the agent missing on the server.
  auto no_client = classify_ssh_failure(
      127, "cannot run the ssh client '/opt/ssh': No such file or directory (command not found)\n");
  CHECK(no_client.message == "cannot run the ssh client '/opt/ssh': No such file or directory (command not found)");
  CHECK(no_client.advice.find("openssh-client") != std::string::npos);
  CHECK(no_client.advice.find("OpenSSH Client optional feature") != std::string::npos);
  auto windows_denied = classify_ssh_failure(255, "alice@vps: Permission denied (publickey,password).\r\n");
  CHECK(windows_denied.what == kind::auth_failed);
  CHECK(windows_denied.message == "ssh: login refused (alice@vps: Permission denied (publickey,password).)");
  auto other = classify_ssh_failure(3, "something\nelse \x1b[2J\n");
  CHECK(other.message == "ssh ended (status 3): else \\x1b[2J");  // the last line, escaped
}

namespace {

/// The C runtime's reading of a command line (the rules CommandLineToArgvW
/// and the MSVC/MinGW startup code follow), for the round trip below: blanks
/// part words outside quotes; 2n backslashes and a quote give n backslashes
/// and open or close quoting; 2n+1 backslashes and a quote give n and a
/// literal quote; other backslashes are literal.
argv read_windows_command_line(std::string_view line) {
  argv words;
  std::string word;
  bool in_word = false;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size();) {
    const char c = line[i];
    if (!quoted && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      std::size_t n = 0;
      while (i < line.size() && line[i] == '\\') ++n, ++i;
      if (i < line.size() && line[i] == '"') {
        word.append(n / 2, '\\');
        if (n % 2) {
          word += '"';
          ++i;
        }
      } else {
        word.append(n, '\\');
      }
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
      ++i;
      continue;
    }
    word += c;
    ++i;
  }
  if (in_word) words.push_back(word);
  return words;
}

}  // namespace

TEST_CASE("windows command line: the words users put in key paths, jump hosts and the remote command") {
  CHECK(windows_command_line({"ssh", "-p", "2222"}) == "ssh -p 2222");
  CHECK(windows_command_line({"C:\\Program Files\\OpenSSH\\ssh.exe", "-i", "C:\\Users\\Al Ice\\.ssh\\id_ed25519"}) ==
        "\"C:\\Program Files\\OpenSSH\\ssh.exe\" -i \"C:\\Users\\Al Ice\\.ssh\\id_ed25519\"");
  // Backslashes stay single unless a quote follows them.
  CHECK(windows_command_line({"C:\\keys\\id"}) == "C:\\keys\\id");
  CHECK(windows_command_line({"C:\\my keys\\"}) == "\"C:\\my keys\\\\\"");
  CHECK(windows_command_line({"a\"b"}) == "\"a\\\"b\"");
  CHECK(windows_command_line({"a\\\"b"}) == "\"a\\\\\\\"b\"");
  CHECK(windows_command_line({""}) == "\"\"");
  CHECK(windows_command_line({"sudo -n agent --stdio --peer \"${SSH_CONNECTION%% *}\""}) ==
        "\"sudo -n agent --stdio --peer \\\"${SSH_CONNECTION%% *}\\\"\"");

  const argv tricky{"ssh",
                    "-i",
                    "C:\\Users\\Zoë O'Brien\\.ssh\\id_ed25519",
                    "-J",
                    "admin@jump.example:2222,ops@[2001:db8::7]",
                    "-o",
                    "ProxyCommand=\"C:\\Program Files\\Git\\usr\\bin\\connect.exe\" -H proxy:8080 %h %p",
                    "",
                    "trailing\\",
                    "two\\\\",
                    "\\\\server\\share\\key file",
                    "tab\there",
                    "\"",
                    "\\\"",
                    "--",
                    "alice@vps.example",
                    "sudo -n agent --stdio --peer \"${SSH_CONNECTION%% *}\""};
  CHECK(read_windows_command_line(windows_command_line(tricky)) == tricky);
  for (const auto& word : tricky) {
    const argv one{"ssh", word};
    CHECK(read_windows_command_line(windows_command_line(one)) == one);
  }
}

TEST_CASE("windows ssh program: PATH's folders, then Windows' own OpenSSH client, never the current folder") {
  CHECK(ssh_program_candidates("ssh", "C:\\Windows\\system32;\"C:\\Program Files\\Git\\usr\\bin\";;C:\\tools\\",
                               "C:\\Windows") ==
        argv{"C:\\Windows\\system32\\ssh.exe", "C:\\Windows\\system32\\ssh",
             "C:\\Program Files\\Git\\usr\\bin\\ssh.exe", "C:\\Program Files\\Git\\usr\\bin\\ssh", "C:\\tools\\ssh.exe",
             "C:\\tools\\ssh", "C:\\Windows\\System32\\OpenSSH\\ssh.exe", "C:\\Windows\\System32\\OpenSSH\\ssh"});
  // A name with a folder is that file (with .exe when it has no extension).
  CHECK(ssh_program_candidates("D:\\portable\\ssh", "C:\\x", "C:\\Windows") ==
        argv{"D:\\portable\\ssh.exe", "D:\\portable\\ssh"});
  CHECK(ssh_program_candidates(".\\ssh.exe", "C:\\x", "C:\\Windows") == argv{".\\ssh.exe"});
  CHECK(ssh_program_candidates("C:\\my.tools\\ssh", "", "") == argv{"C:\\my.tools\\ssh.exe", "C:\\my.tools\\ssh"});
  CHECK(ssh_program_candidates("plink.exe", "", "C:\\Windows") == argv{"C:\\Windows\\System32\\OpenSSH\\plink.exe"});
  CHECK(ssh_program_candidates("ssh", "", "").empty());
}
