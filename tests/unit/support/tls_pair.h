#pragma once
// Test helper: a connected pair of TLS streams on loopback, in-process.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <memory>
#include <stdexcept>

#include "common/message_port.h"
#include "common/tls.h"

namespace dropspot::testing {

struct tls_pair {
  std::shared_ptr<tls_port> client;
  std::shared_ptr<tls_port> server;
};

inline tls_pair make_tls_pair(asio::io_context& io, asio::ssl::context& server_ctx, asio::ssl::context& client_ctx) {
  using asio::ip::tcp;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client_socket(io);
  client_socket.connect(acceptor.local_endpoint());
  tcp::socket server_socket = acceptor.accept();
  tls_pair pair{std::make_shared<tls_port>(tls_stream(std::move(client_socket), client_ctx)),
                std::make_shared<tls_port>(tls_stream(std::move(server_socket), server_ctx))};
  std::error_code client_ec, server_ec;
  int done = 0;
  pair.client->stream().async_handshake(asio::ssl::stream_base::client, [&](std::error_code ec) {
    client_ec = ec;
    ++done;
  });
  pair.server->stream().async_handshake(asio::ssl::stream_base::server, [&](std::error_code ec) {
    server_ec = ec;
    ++done;
  });
  io.restart();
  while (done < 2) io.run_one();
  if (client_ec || server_ec) throw std::runtime_error("TLS handshake failed in test");
  return pair;
}

}  // namespace dropspot::testing
