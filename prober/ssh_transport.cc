#include "prober/ssh_transport.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>

#include "common/endpoint.h"
#include "common/pipe_port.h"
#include "common/text.h"

namespace dropspot::prober {

namespace {

using namespace std::chrono_literals;

/// Splits a command line on blanks; single or double quotes group words.
result<std::vector<std::string>> split_command(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote_char = 0;
  for (char c : text) {
    if (quote_char) {
      if (c == quote_char) {
        quote_char = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote_char = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote_char) return result<std::vector<std::string>>::failure("unbalanced quote in " + quote(text));
  if (in_word) words.push_back(std::move(word));
  return words;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

/// The last non-empty line of ssh's stderr, escaped, for the report.
std::string last_line(const std::string& text) {
  std::string_view t = trim(text);
  auto nl = t.rfind('\n');
  return escape(trim(nl == std::string_view::npos ? t : t.substr(nl + 1)).substr(0, 200));
}

}  // namespace

result<std::vector<std::string>> ssh_argv(const ssh_settings& s) {
  using R = result<std::vector<std::string>>;
  auto argv = split_command(s.ssh_command.empty() ? "ssh" : s.ssh_command);
  if (!argv) return R::failure("--ssh-command: " + argv.error());
  if (argv->empty()) return R::failure("--ssh-command is empty");
  std::string user;
  std::string_view host_port = s.destination;
  if (auto at = host_port.rfind('@'); at != std::string_view::npos) {
    user = std::string(host_port.substr(0, at));
    host_port = host_port.substr(at + 1);
  }
  auto ep = parse_endpoint(host_port);
  if (!ep) return R::failure("--ssh: " + ep.error());
  auto words = std::move(argv).value();
  words.insert(words.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=" + std::to_string(s.connect_timeout_s)});
  if (ep->port != 0) words.insert(words.end(), {"-p", std::to_string(ep->port)});
  words.push_back("--");
  words.push_back(user.empty() ? ep->host : user + "@" + ep->host);
  // The remote shell expands SSH_CONNECTION before sudo scrubs the environment.
  words.push_back(s.remote_agent + " --peer \"${SSH_CONNECTION%% *}\"");
  return words;
}

ssh_failure classify_ssh_failure(int exit_status, const std::string& err) {
  ssh_failure f;
  const std::string line = last_line(err);
  using kind = ssh_failure::kind;
  if (contains(err, "Host key verification failed") || contains(err, "REMOTE HOST IDENTIFICATION HAS CHANGED")) {
    f = {kind::error, "ssh: the server's host key is unknown or changed (" + line + ")",
         "connect once with plain ssh to check and accept the host key"};
  } else if (contains(err, "Permission denied") || contains(err, "Too many authentication failures")) {
    f = {kind::auth_failed, "ssh: login refused (" + line + ")",
         "check the user and key: ssh works non-interactively only with a key or an agent (--ssh-command 'ssh -i KEY')"};
  } else if (contains(err, "a password is required") || contains(err, "a terminal is required") ||
             contains(err, "no tty present")) {
    f = {kind::auth_failed, "sudo on the server asks for a password (" + line + ")",
         "allow the agent without a password: a sudoers line like 'USER ALL=(root) NOPASSWD: /usr/bin/agent --stdio *' "
         "(docs/agent.md)"};
  } else if (contains(err, "command not found") || contains(err, "No such file or directory") ||
             exit_status == 127) {
    f = {kind::error, "the agent is not installed on the server (" + line + ")",
         "install the dropspot agent there (docs/agent.md) or point --remote-agent at it"};
  } else if (contains(err, "Connection refused") || contains(err, "timed out") || contains(err, "No route to host") ||
             contains(err, "Could not resolve") || contains(err, "Network is unreachable")) {
    f = {kind::unreachable, "ssh: cannot reach the server (" + line + ")",
         "check that ssh to the server works at all; the port probes below show what the path lets through"};
  } else {
    f = {kind::error,
         "ssh ended (status " + std::to_string(exit_status) + ")" + (line.empty() ? "" : ": " + line),
         "run the same ssh command by hand to see what it says"};
  }
  return f;
}

class ssh_port final : public pipe_port {
 public:
  ssh_port(const asio::any_io_executor& executor, int read_fd, int write_fd, int err_fd, pid_t pid)
      : pipe_port(executor, read_fd, write_fd, "ssh"), err_(executor, err_fd), pid_(pid) {}
  ~ssh_port() override { reap(true); }

  asio::awaitable<void> close() override {
    stream().close();
    co_await wait_exit(2s);
  }

  /// Reads stderr (bounded) until ssh closes it.
  asio::awaitable<void> collect_stderr() {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await err_.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      if (stderr_.size() < 64 * 1024) stderr_.append(buf, n);
    }
  }

  /// Waits for the child to exit, at most `limit`, then kills it.
  asio::awaitable<void> wait_exit(std::chrono::milliseconds limit) {
    auto executor = co_await asio::this_coro::executor;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!exited_ && std::chrono::steady_clock::now() < end) {
      if (reap(false)) break;
      asio::steady_timer pause(executor, 20ms);
      co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    reap(true);
  }

  const std::string& stderr_text() const { return stderr_; }
  int exit_status() const { return status_; }

 private:
  /// Collects the child's exit; with force, kills it first if it still runs.
  bool reap(bool force) {
    if (exited_ || pid_ <= 0) return true;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0 && force) {
      ::kill(pid_, SIGTERM);
      r = ::waitpid(pid_, &status, 0);
    }
    if (r == pid_) {
      exited_ = true;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return exited_;
  }

  asio::posix::stream_descriptor err_;
  std::string stderr_;
  pid_t pid_;
  bool exited_ = false;
  int status_ = -1;
};

std::shared_ptr<ssh_port> start_ssh(const asio::any_io_executor& executor, const ssh_settings& settings,
                                    std::string& error) {
  auto argv = ssh_argv(settings);
  if (!argv) {
    error = argv.error();
    return nullptr;
  }
  int to_child[2], from_child[2], err_pipe[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    error = "cannot create pipes for ssh";
    return nullptr;
  }
  std::vector<char*> args;
  for (auto& a : argv.value()) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = "cannot start ssh";
    return nullptr;
  }
  if (pid == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execvp(args[0], args.data());
    const std::string msg = std::string(args[0]) + ": command not found (exec failed)\n";
    (void)!::write(STDERR_FILENO, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(err_pipe[1]);
  return std::make_shared<ssh_port>(executor, from_child[0], to_child[1], err_pipe[0], pid);
}

asio::awaitable<ssh_failure> explain_ssh_failure(ssh_port& port) {
  port.stream().close();
  co_await port.wait_exit(3s);
  // Give the stderr reader a moment to drain what ssh wrote last.
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause(executor, 50ms);
  co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return classify_ssh_failure(port.exit_status(), port.stderr_text());
}

std::shared_ptr<message_port> as_message_port(const std::shared_ptr<ssh_port>& port) { return port; }

/// Starts the stderr reader of a fresh port (used by control_client).
asio::awaitable<void> collect_ssh_stderr(std::shared_ptr<ssh_port> port) { co_await port->collect_stderr(); }

}  // namespace dropspot::prober
