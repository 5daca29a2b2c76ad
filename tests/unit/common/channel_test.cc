// message_channel::send: each send resolves only once its own frame is
// written, even when another coroutine holds the write queue. The agent
// closes the stream right after its last send (the summary); a send that
// resolved early let the close cut the summary off (seen in CI).
#include "common/channel.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <csignal>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/pipe_port.h"

using namespace dropspot;

namespace {

/// Everything readable from `fd` now, without blocking.
std::string drain(int fd) {
  std::string out;
  char buffer[64 * 1024];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return out;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

TEST_CASE("message_channel: a send queued behind another resolves only after its own frame is written") {
  int to_peer[2];
  int from_peer[2];
  REQUIRE(::pipe(to_peer) == 0);
  REQUIRE(::pipe(from_peer) == 0);
  REQUIRE(::fcntl(to_peer[0], F_SETFL, O_NONBLOCK) == 0);

  asio::io_context io;
  pipe_stream stream(io.get_executor(), from_peer[0], to_peer[1]);
  message_channel<pipe_stream> channel(stream);

  // Larger than a pipe's buffer (64 KiB): its write waits for the reader.
  const auto big = make_error(v1::Error::INTERNAL, std::string(512 * 1024, 'x'));
  const auto last = make_error(v1::Error::TIMEOUT, "summary");
  std::vector<std::string> resolved;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ec = co_await channel.send(big);
        resolved.push_back(ec ? "big: " + ec.message() : "big");
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ec = co_await channel.send(last);
        resolved.push_back(ec ? "last: " + ec.message() : "last");
      },
      asio::detached);
  io.poll();
  CHECK(resolved.empty());  // neither frame is out: the pipe is full

  frame_decoder decoder;
  std::vector<std::string> messages;
  for (int turns = 0; turns < 1000 && resolved.size() < 2; ++turns) {
    decoder.feed(drain(to_peer[0]));
    io.poll();
  }
  decoder.feed(drain(to_peer[0]));
  std::string payload;
  while (decoder.next(payload) == frame_decoder::status::frame) {
    v1::Envelope e;
    REQUIRE(parse_envelope(payload, e));
    messages.push_back(e.error().message().size() > 20 ? "big" : e.error().message());
  }
  CHECK(resolved == std::vector<std::string>{"big", "last"});
  CHECK(messages == std::vector<std::string>{"big", "summary"});
  ::close(to_peer[0]);
  ::close(from_peer[1]);
}

TEST_CASE("message_channel: a write error reaches every send waiting in the queue") {
  std::signal(SIGPIPE, SIG_IGN);  // as the agent and the prober do: EPIPE, not death
  int to_peer[2];
  int from_peer[2];
  REQUIRE(::pipe(to_peer) == 0);
  REQUIRE(::pipe(from_peer) == 0);

  asio::io_context io;
  pipe_stream stream(io.get_executor(), from_peer[0], to_peer[1]);
  message_channel<pipe_stream> channel(stream);
  const auto big = make_error(v1::Error::INTERNAL, std::string(512 * 1024, 'x'));
  std::vector<bool> failed;
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ec = co_await channel.send(big);
          failed.push_back(static_cast<bool>(ec));
        },
        asio::detached);
  io.poll();
  CHECK(failed.empty());
  ::close(to_peer[0]);  // the reader goes away: the blocked write fails (EPIPE)
  for (int turns = 0; turns < 1000 && failed.size() < 3; ++turns) io.run_one_for(std::chrono::milliseconds(10));
  CHECK(failed == std::vector<bool>{true, true, true});
  ::close(from_peer[1]);
}
