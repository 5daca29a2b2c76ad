#pragma once
// Coroutines spawned as work goes, awaited together: the run's application
// probes and hop searches (prober/run.cc), the path-MTU search's attempts
// (prober/mtu_search.cc). Its state is shared with the tasks, so a waiter
// that is cancelled and leaves does not pull it from under them.
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <utility>

namespace dropspot::prober {

/// Coroutines spawned as the run goes, awaited together at the end.
class task_group {
 public:
  explicit task_group(const asio::any_io_executor& executor)
      : executor_(executor),
        all_done_(std::make_shared<asio::steady_timer>(executor, std::chrono::steady_clock::time_point::max())) {}

  void spawn(asio::awaitable<void> task) {
    ++*running_;
    asio::co_spawn(executor_, std::move(task),
                   [running = running_, done = all_done_, failure = failure_](std::exception_ptr e) {
                     if (e && !*failure) *failure = e;
                     if (--*running == 0) done->cancel();
                   });
  }

  /// Returns when every task has ended; rethrows the first exception one
  /// of them ended by.
  asio::awaitable<void> wait() {
    if (*running_ > 0) co_await all_done_->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (*failure_) std::rethrow_exception(std::exchange(*failure_, nullptr));
  }

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<std::size_t> running_ = std::make_shared<std::size_t>(0);
  std::shared_ptr<asio::steady_timer> all_done_;
  std::shared_ptr<std::exception_ptr> failure_ = std::make_shared<std::exception_ptr>();
};

}  // namespace dropspot::prober
