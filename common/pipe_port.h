#pragma once
// The control channel over a pair of pipes: the agent's stdin and stdout
// under `agent --stdio`, or the prober's pipes to an ssh child (POSIX pipes;
// on Windows, overlapped named pipes, which is what Asio's stream_handle
// reads and writes through the I/O completion port).
// Authentication on this path is the SSH login itself: no channel binding.
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <algorithm>
#include <string>
#include <utility>
#ifdef _WIN32
#include <asio/windows/stream_handle.hpp>
#else
#include <asio/posix/stream_descriptor.hpp>
#endif

#include "common/message_port.h"

namespace dropspot {

#ifdef _WIN32
using pipe_end = asio::windows::stream_handle;
#else
using pipe_end = asio::posix::stream_descriptor;
#endif
/// A file descriptor (POSIX) or a HANDLE opened for overlapped I/O (Windows).
using native_pipe = pipe_end::native_handle_type;

/// Reads `end` until it closes (or fails), keeping its first `limit` bytes in
/// `out`: a child's stderr, kept for what it says when the child fails.
inline asio::awaitable<void> read_until_closed(pipe_end& end, std::string& out, std::size_t limit) {
  char buf[4096];
  for (;;) {
    auto [ec, n] = co_await end.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    if (out.size() < limit) out.append(buf, std::min(n, limit - out.size()));
  }
}

/// A duplex stream over two pipe ends: reads one, writes the other.
class pipe_stream {
 public:
  using executor_type = asio::any_io_executor;

  /// Takes ownership of both ends.
  pipe_stream(const executor_type& executor, native_pipe read_end, native_pipe write_end)
      : in_(executor, read_end), out_(executor, write_end) {}

  executor_type get_executor() { return in_.get_executor(); }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return in_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return out_.async_write_some(buffers, std::forward<Token>(token));
  }

  void cancel() {
    std::error_code ignored;
    in_.cancel(ignored);
    out_.cancel(ignored);
  }
  /// Closes the writing side only: the peer reads end-of-file.
  void close_write() {
    std::error_code ignored;
    out_.close(ignored);
  }
  void close() {
    std::error_code ignored;
    in_.close(ignored);
    out_.close(ignored);
  }

 private:
  pipe_end in_;
  pipe_end out_;
};

inline void cancel_io(pipe_stream& stream) { stream.cancel(); }

/// A message_port over pipes. `path` is what the report calls it ("stdio", "ssh").
class pipe_port : public message_port {
 public:
  pipe_port(const asio::any_io_executor& executor, native_pipe read_end, native_pipe write_end, const char* path)
      : stream_(executor, read_end, write_end), channel_(stream_), path_(path) {}
  asio::awaitable<std::error_code> receive(v1::Envelope& out, duration deadline) override {
    return channel_.receive(out, deadline);
  }
  asio::awaitable<std::error_code> send(const v1::Envelope& message) override { return channel_.send(message); }
  asio::awaitable<void> close() override {
    stream_.close();
    co_return;
  }
  std::optional<std::array<std::uint8_t, exporter_size>> channel_binding() override { return std::nullopt; }
  const char* path() const override { return path_; }
  pipe_stream& stream() { return stream_; }

 private:
  pipe_stream stream_;
  message_channel<pipe_stream> channel_;
  const char* path_;
};

}  // namespace dropspot
