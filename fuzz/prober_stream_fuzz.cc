// The prober's side of a session: what it makes of the agent's stream of
// messages (observations, pongs, summary, errors, anything else), through a
// scripted port, then the orderly finish.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "prober/control_client.h"
#include "scripted_port.h"

using namespace dropspot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  asio::io_context io;  // first: the session's timer must go before its io_context
  prober::agent_session session;
  session.port = std::make_shared<fuzz::scripted_port>(std::span(data, size), true);
  prober::agent_stream stream;
  std::size_t packets = 0;
  stream.on_packet = [&](const v1::PacketEvent& p) {
    if (p.port() == 0 || p.port() > 65535) std::abort();
    ++packets;
  };

  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await prober::receive_observations(session, stream);
        co_await prober::finish_agent_session(session, stream, std::chrono::milliseconds(1));
      },
      [&](std::exception_ptr e) {
        if (e) std::abort();
        finished = true;
      });
  io.run();
  if (!finished || !stream.finished) std::abort();
  std::size_t kept = 0;
  for (const auto& [p, events] : stream.packets) kept += events.size();
  if (kept != packets) std::abort();
  return 0;
}
