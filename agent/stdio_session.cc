#include "agent/stdio_session.h"

#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <csignal>
#include <iostream>

#include "agent/caller.h"
#include "agent/distro.h"
#include "agent/host_files.h"
#include "agent/host_services.h"
#include "agent/log.h"
#include "agent/session.h"
#include "common/auth.h"
#include "common/pipe_port.h"
#include "common/spawn.h"

namespace dropspot::agent {

int run_stdio(const options& opts) {
  // Whose session this is comes from the process tree, not from the caller.
  auto peer = choose_stdio_peer(opts.peer, std::getenv("SSH_CONNECTION"), identify_caller(read_caller_snapshot()));
  if (!peer) {
    std::cerr << "agent: " << peer.error() << "\n";
    return 2;
  }

  session_config config;
  config.require_token = false;
  if (auto token = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN")); token) config.token = token->token;
  config.allow_ports = opts.allow_ports;
  config.max_session = opts.max_session;
  config.max_ports = opts.max_ports;
  config.peer_origin = peer->origin;
  config.hostname = this_host_name();
  config.os_name = read_os_release(opts.host_root).pretty_name;

  // A closed pipe is an error code, not a signal that kills us.
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  session_services services = host_services(io.get_executor(), opts);

  // Our own copies of stdin/stdout; the originals stay for nothing else to use.
  const int in_fd = ::dup(STDIN_FILENO);
  const int out_fd = ::dup(STDOUT_FILENO);
  if (in_fd < 0 || out_fd < 0) {
    std::cerr << "agent: cannot use stdin/stdout\n";
    return 1;
  }
  auto port = std::make_shared<pipe_port>(io.get_executor(), in_fd, out_fd, "stdio");
  session_outcome outcome = session_outcome::closed;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        outcome = co_await run_session(port, peer->address, peer->ssh_port, config, services);
        co_await port->close();
      },
      on_escape("stdio session ended by an internal error", [](const std::string& what) { log_line(what); }));
  io.run();
  log_line("stdio session with " + peer->address.to_string() + " (" + peer->origin + "): " + to_string(outcome));
  return outcome == session_outcome::completed ? 0 : 1;
}

}  // namespace dropspot::agent
