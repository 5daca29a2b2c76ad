// on_escape: what a spawned coroutine throws is reported, never dropped.
#include "common/spawn.h"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <stdexcept>
#include <vector>

using namespace dropspot;

TEST_CASE("on_escape: an exception that ends a spawned coroutine is reported with what it says") {
  asio::io_context io;
  std::vector<std::string> reported;
  const auto report = [&](const std::string& what) { reported.push_back(what); };
  asio::co_spawn(
      io,
      []() -> asio::awaitable<void> {
        throw std::runtime_error("frame too large");
        co_return;
      },
      on_escape("sending observations", report));
  asio::co_spawn(
      io, []() -> asio::awaitable<void> { co_return; }, on_escape("quiet", report));
  asio::co_spawn(
      io,
      []() -> asio::awaitable<void> {
        throw 42;
        co_return;
      },
      on_escape("odd", report));
  io.run();
  CHECK(reported == std::vector<std::string>{"sending observations: frame too large", "odd: an unknown exception"});
}
