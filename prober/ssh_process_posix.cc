// The ssh child on POSIX systems: fork/exec with three pipes, the control
// channel over two of them (common/pipe_port.h), ssh's stderr kept for
// classify_ssh_failure.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/pipe_port.h"
#include "prober/ssh_transport.h"

namespace dropspot::prober {

using namespace std::chrono_literals;

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
  asio::awaitable<void> collect_stderr() { co_await read_until_closed(err_, stderr_, 64 * 1024); }

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

  pipe_end err_;
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
    const std::string msg = "cannot run the ssh client '" + std::string(args[0]) + "': " + std::strerror(errno) + "\n";
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
