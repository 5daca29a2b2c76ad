#include "agent/stdio_session.h"

#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <csignal>
#include <iostream>

#include "agent/host_services.h"
#include "agent/log.h"
#include "agent/session.h"
#include "common/auth.h"
#include "common/endpoint.h"
#include "common/pipe_port.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot::agent {

result<std::string> stdio_peer_address(const std::string& peer_option, const char* ssh_connection) {
  using R = result<std::string>;
  std::string_view candidate = trim(peer_option);
  std::string origin = "--peer";
  if (candidate.empty() && ssh_connection != nullptr) {
    std::string_view text = trim(ssh_connection);
    candidate = text.substr(0, text.find(' '));
    origin = "SSH_CONNECTION";
  }
  if (candidate.empty())
    return R::failure("--stdio needs the prober's address: --peer ADDR, or run it from an SSH session "
                      "(SSH_CONNECTION)");
  if (!is_ip_literal(candidate)) return R::failure(origin + ": " + quote(candidate) + " is not an address");
  return std::string(candidate);
}

std::uint16_t ssh_client_port(const char* ssh_connection) {
  if (ssh_connection == nullptr) return 0;
  auto fields = split(trim(ssh_connection), ' ');
  if (fields.size() < 2) return 0;
  auto port = parse_port(fields[1]);
  return port ? *port : 0;
}

int run_stdio(const options& opts) {
  auto peer_text = stdio_peer_address(opts.peer, std::getenv("SSH_CONNECTION"));
  if (!peer_text) {
    std::cerr << "agent: " << peer_text.error() << "\n";
    return 2;
  }
  auto peer = asio::ip::make_address(*peer_text);
  if (peer.is_v6() && peer.to_v6().is_v4_mapped()) peer = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6());

  session_config config;
  config.require_token = false;
  if (auto token = load_token(opts.token_file, std::getenv("DROPSPOT_TOKEN")); token) config.token = token->token;
  config.allow_ports = opts.allow_ports;
  config.max_session = opts.max_session;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) config.hostname = host;

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
        outcome = co_await run_session(port, peer, ssh_client_port(std::getenv("SSH_CONNECTION")), config, services);
        co_await port->close();
      },
      [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log_line(std::string("stdio session ended by an internal error: ") + ex.what());
        }
      });
  io.run();
  log_line("stdio session with " + peer.to_string() + ": " + to_string(outcome));
  return outcome == session_outcome::completed ? 0 : 1;
}

}  // namespace dropspot::agent
