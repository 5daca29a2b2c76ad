#pragma once
// A message channel over any asio stream: frames in and out, a deadline on
// every read, writes queued so that several coroutines may send.
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/buffer.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/ssl/error.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <system_error>

#include "common/errors.h"
#include "common/framing.h"
#include "common/protocol.h"

namespace dropspot {

/// Cancels every pending operation on a stream. Overloaded per stream type
/// next to the stream (ssl::stream: its socket; stdio: both descriptors).
template <class Stream>
void cancel_io(Stream& stream) {
  stream.lowest_layer().cancel();
}

template <class Stream>
class message_channel {
 public:
  using clock = std::chrono::steady_clock;

  explicit message_channel(Stream& stream)
      : stream_(stream),
        timer_(stream.get_executor()),
        written_signal_(stream.get_executor(), clock::time_point::max()),
        deadline_(std::make_shared<deadline_state>()) {
    deadline_->stream = &stream;
  }
  ~message_channel() {
    deadline_->stream = nullptr;  // a timer handler already queued must not touch us
    timer_.cancel();
  }
  message_channel(const message_channel&) = delete;
  message_channel& operator=(const message_channel&) = delete;

  /// Reads the next message, waiting at most `deadline`. Errors:
  /// errc::timeout, errc::closed, frame errors, errc::bad_message, or the
  /// stream's own error.
  asio::awaitable<std::error_code> receive(v1::Envelope& out, clock::duration deadline) {
    std::string payload;
    for (;;) {
      switch (decoder_.next(payload)) {
        case frame_decoder::status::frame:
          if (!parse_envelope(payload, out)) co_return errc::bad_message;
          co_return std::error_code{};
        case frame_decoder::status::error: co_return decoder_.error();
        case frame_decoder::status::need_more: break;
      }
      const unsigned generation = ++deadline_->generation;
      deadline_->timed_out = false;
      timer_.expires_after(deadline);
      timer_.async_wait([state = deadline_, generation](std::error_code ec) {
        if (!ec && state->stream != nullptr && generation == state->generation) {
          state->timed_out = true;
          cancel_io(*state->stream);
        }
      });
      auto [ec, n] = co_await stream_.async_read_some(asio::buffer(read_buffer_),
                                                      asio::experimental::as_tuple(asio::use_awaitable));
      ++deadline_->generation;
      timer_.cancel();
      if (deadline_->timed_out) co_return errc::timeout;
      if (ec) {
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset)
          co_return errc::closed;
        co_return ec;
      }
      decoder_.feed(read_buffer_, n);
    }
  }

  /// Queues a message; resolves when it has been written (and so has every
  /// message queued before it), or on the first write error. Whoever finds
  /// the queue idle writes it; the others wait for their own frame, so that a
  /// caller may close the stream as soon as its last send resolves.
  asio::awaitable<std::error_code> send(const v1::Envelope& message) {
    std::string frame;
    std::string payload;
    if (!message.SerializeToString(&payload)) co_return errc::bad_message;
    if (auto ec = encode_frame(payload, frame)) co_return ec;
    queue_.push_back(std::move(frame));
    const std::uint64_t mine = ++queued_;
    if (writing_) {
      while (written_ < mine && !write_error_)
        co_await written_signal_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      co_return write_error_;
    }
    writing_ = true;
    while (!queue_.empty() && !write_error_) {
      std::string front = std::move(queue_.front());
      queue_.pop_front();
      auto [ec, n] =
          co_await asio::async_write(stream_, asio::buffer(front), asio::experimental::as_tuple(asio::use_awaitable));
      if (ec) write_error_ = ec;
      ++written_;
      written_signal_.cancel();  // wakes the waiting senders; each checks its own frame
    }
    writing_ = false;
    co_return write_error_;
  }

  Stream& stream() { return stream_; }

 private:
  /// Shared with the deadline timer's handler, which may run after we are gone.
  struct deadline_state {
    Stream* stream = nullptr;
    unsigned generation = 0;
    bool timed_out = false;
  };

  Stream& stream_;
  asio::steady_timer timer_;
  asio::steady_timer written_signal_;  ///< never expires; cancelled after each write
  std::shared_ptr<deadline_state> deadline_;
  frame_decoder decoder_;
  char read_buffer_[16 * 1024];
  std::deque<std::string> queue_;
  std::uint64_t queued_ = 0;   ///< frames ever queued
  std::uint64_t written_ = 0;  ///< frames ever written (or failed)
  bool writing_ = false;
  std::error_code write_error_;
};

}  // namespace dropspot
