// Linux side of prober/connect_socket.h: connect() called directly on a
// non-blocking socket, its end waited for in connect_poller's epoll set.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <asio/async_result.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/ip/unicast.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/query.hpp>
#include <cerrno>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/awaitable.h"
#include "prober/connect_socket.h"

namespace dropspot::prober {

namespace {

/// errno in Asio's system category (its own: std::system_category's codes do not compare
/// equal to asio::error::connection_refused and the like).
std::error_code last_error() { return {errno, asio::error::get_system_category()}; }

/// The probes' connects of one io_context, waited for in one epoll set of
/// their own (level-triggered, one shot: a socket reports once, then stays
/// in the set, silent, until it is closed). Asio's reactor watches the set's
/// descriptor; its readiness drains every event at once (epoll_wait without
/// waiting). A wait's handler is posted, never called from inside the drain.
class connect_poller final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;  // NOLINT(readability-identifier-naming): Asio's name

  explicit connect_poller(asio::execution_context& context) : service(context) {}

  /// The poller of executor's io_context, made on first use.
  static connect_poller& of(const asio::any_io_executor& executor) {
    auto& poller = asio::use_service<connect_poller>(asio::query(executor, asio::execution::context));
    if (!poller.executor_) poller.executor_ = executor;
    return poller;
  }

  /// Calls handler(error_code) once fd is writable or has an error pending
  /// (its connect ended: read SO_ERROR), or with operation_aborted after
  /// cancel(fd), or with the error of adding fd to the set.
  template <class Token>
  auto async_wait(int fd, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [this, fd](auto handler) { add(fd, std::make_unique<waiter_for<decltype(handler)>>(std::move(handler))); },
        token);
  }

  /// Ends fd's wait (operation_aborted); nothing when none is pending.
  void cancel(int fd) {
    auto it = waiters_.find(fd);
    if (it == waiters_.end()) return;
    auto w = std::move(it->second);
    waiters_.erase(it);
    w->complete(executor_, asio::error::operation_aborted);
    disarm_if_idle();
  }

 private:
  struct waiter {
    virtual ~waiter() = default;
    virtual void complete(const asio::any_io_executor& executor, std::error_code ec) = 0;
  };
  template <class Handler>
  struct waiter_for final : waiter {
    explicit waiter_for(Handler h) : handler(std::move(h)) {}
    void complete(const asio::any_io_executor& executor, std::error_code ec) override {
      auto to = asio::get_associated_executor(handler, executor);
      asio::post(to, [h = std::move(handler), ec]() mutable { std::move(h)(ec); });
    }
    Handler handler;
  };

  void shutdown() override {
    // The handlers own suspended coroutines: destroyed, never resumed.
    auto pending = std::move(waiters_);
    waiters_.clear();
    pending.clear();
    watch_.reset();
  }

  void add(int fd, std::unique_ptr<waiter> w) {
    std::error_code failed;
    if (!watch_) failed = open_set();
    if (!failed) {
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLONESHOT;
      ev.data.fd = fd;
      if (::epoll_ctl(watch_->native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) failed = last_error();
    }
    if (failed) {
      w->complete(executor_, failed);
      return;
    }
    waiters_[fd] = std::move(w);
    arm();
  }

  std::error_code open_set() {
    const int set = ::epoll_create1(EPOLL_CLOEXEC);
    if (set < 0) return last_error();
    watch_.emplace(executor_, set);
    return {};
  }

  /// Waits for the set's readiness while a connect is pending (and only
  /// then: a wait left pending would keep io_context::run from returning).
  /// Asio's registration is edge-triggered: the drain empties the set's ready
  /// list before the next wait, so an event after it is a new edge.
  void arm() {
    if (armed_ || waiters_.empty() || !watch_) return;
    armed_ = true;
    watch_->async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
      armed_ = false;
      if (ec && ec != asio::error::operation_aborted) {
        // The set itself failed (never seen): every wait ends with its error.
        auto pending = std::move(waiters_);
        waiters_.clear();
        for (auto& [fd, w] : pending) w->complete(executor_, ec);
        return;
      }
      if (!ec) drain();
      arm();  // (also after disarm_if_idle's cancel, for a wait added since)
    });
  }

  void disarm_if_idle() {
    if (armed_ && waiters_.empty()) watch_->cancel();
  }

  void drain() {
    std::array<epoll_event, 128> events{};
    for (;;) {
      const int n = ::epoll_wait(watch_->native_handle(), events.data(), static_cast<int>(events.size()), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      for (int i = 0; i < n; ++i) {
        auto it = waiters_.find(events[static_cast<std::size_t>(i)].data.fd);
        if (it == waiters_.end()) continue;  // cancelled: its late event
        auto w = std::move(it->second);
        waiters_.erase(it);
        w->complete(executor_, {});
      }
      if (n < static_cast<int>(events.size())) return;
    }
  }

  asio::any_io_executor executor_;
  std::optional<asio::posix::stream_descriptor> watch_;
  bool armed_ = false;
  std::unordered_map<int, std::unique_ptr<waiter>> waiters_;
};

asio::execution_context::id connect_poller::id;

}  // namespace

struct connect_socket::state {
  explicit state(asio::any_io_executor ex) : executor(std::move(ex)) {}
  asio::any_io_executor executor;
  int fd = -1;
  asio::ip::tcp protocol = asio::ip::tcp::v4();
  std::error_code start_error;
  bool cancelled = false;
  bool waiting = false;
};

connect_socket::connect_socket(const asio::any_io_executor& executor) : st_(std::make_unique<state>(executor)) {}

connect_socket::~connect_socket() {
  if (st_->fd >= 0) ::close(st_->fd);
}

std::optional<std::string> connect_socket::open(const asio::ip::tcp::endpoint& target, int ttl, int mss,
                                                const std::optional<asio::ip::address>& source, bool routed) {
  const bool v6 = target.address().is_v6();
  st_->protocol = target.protocol();
  st_->fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (st_->fd < 0) return "cannot open a socket: " + last_error().message();
  // Without it there are no ICMP details, but the probe still works.
  (void)platform::prepare_probe_socket(st_->fd, v6);
  if (ttl > 0) {
    const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    const int name = v6 ? IPV6_UNICAST_HOPS : IP_TTL;
    if (::setsockopt(st_->fd, level, name, &ttl, sizeof ttl) != 0)
      return "cannot set the TTL: " + last_error().message();
  }
  if (mss > 0) {
    if (auto failed = platform::set_max_segment(st_->fd, mss))
      return "cannot set the MSS to " + std::to_string(mss) + ": " + failed.message();
  }
  // connect() binds an unbound socket to the routed address itself.
  if (!source || routed) return std::nullopt;
  const asio::ip::tcp::endpoint local(*source, 0);
  if (::bind(st_->fd, local.data(), static_cast<socklen_t>(local.size())) == 0) return std::nullopt;
  // The address may have gone away: connect() picks the whole source.
  return std::nullopt;
}

void connect_socket::start(const asio::ip::tcp::endpoint& target, v1::Attempt& a) {
  if (::connect(st_->fd, target.data(), static_cast<socklen_t>(target.size())) != 0 && errno != EINPROGRESS)
    st_->start_error = last_error();
  asio::ip::tcp::endpoint local;
  socklen_t size = sizeof(sockaddr_storage);
  if (::getsockname(st_->fd, local.data(), &size) == 0) {
    local.resize(size);
    if (!local.address().is_unspecified()) a.set_local_address(local.address().to_string());
    a.set_local_port(local.port());
  }
}

asio::awaitable<std::error_code> connect_socket::finish(asio::ip::tcp::endpoint /*target*/) {
  if (st_->start_error) co_return st_->start_error;
  if (st_->cancelled) co_return std::error_code(asio::error::operation_aborted);
  auto& poller = connect_poller::of(st_->executor);
  st_->waiting = true;
  auto [ec] = co_await poller.async_wait(st_->fd, as_tuple_awaitable);
  st_->waiting = false;
  if (ec) co_return ec;
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(st_->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) co_return last_error();
  co_return std::error_code(error, asio::error::get_system_category());
}

void connect_socket::cancel() {
  if (st_->cancelled) return;
  st_->cancelled = true;
  if (st_->waiting) connect_poller::of(st_->executor).cancel(st_->fd);
}

void connect_socket::final_source(v1::Attempt& /*a*/) const {}  // connect() in start() fixed it

platform::native_socket connect_socket::native_handle() const { return st_->fd; }

asio::ip::tcp::socket connect_socket::release() {
  asio::ip::tcp::socket socket(st_->executor);
  std::error_code ec;
  socket.assign(st_->protocol, st_->fd, ec);
  if (ec) ::close(st_->fd);
  st_->fd = -1;
  return socket;
}

}  // namespace dropspot::prober
