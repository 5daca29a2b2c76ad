#pragma once
// Connect probes, portable (Asio coroutines, no raw sockets, no libpcap):
//   connect_probe  one TCP connect attempt with a deadline, its source port
//                  known as the SYN leaves, even when nothing answers
//                  (the socket's platform part: prober/connect_socket.h);
//   probe_runner   every port at once under a concurrency bound, with retries
//                  for ports that got no answer and a way to stop waiting for
//                  a port the agent's evidence already decided;
//   find_last_hop  TTL-limited connects: the last router that still answered
//                  on the way to a port whose SYNs die in transit.
// Operating-system extras (ICMP details, TCP_INFO) come through
// prober/platform.h, or, where the OS keeps ICMP errors from TCP sockets
// (Windows), through a raw socket's icmp_watch (prober/icmp_watch.h).
// Everything here runs on one thread: use a single-threaded io_context (or
// one strand) for the coroutines and for probe_runner::decide().
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "common/duration.h"
#include "common/ports.h"
#include "dropspot.pb.h"
#include "prober/platform.h"

namespace dropspot::prober {

class icmp_watch;

/// The note a cancelled attempt carries when probe_runner::decide() ended it.
inline constexpr const char* decided_note = "decided from the agent's evidence";

/// Ends an attempt's wait from outside. Once cancelled it stays cancelled:
/// attempts waiting on it end at once as TIMED_OUT with the note in
/// Attempt.error, and later attempts given it do not send anything.
class attempt_canceller {
 public:
  explicit attempt_canceller(const asio::any_io_executor& executor);

  void cancel(std::string note = decided_note);
  bool cancelled() const { return cancelled_; }
  const std::string& note() const { return note_; }

  /// Completes (with operation_aborted) when cancel() is called.
  asio::awaitable<std::tuple<std::error_code>> wait();
  /// Calls handler(error_code) when cancel() is called, or when the canceller
  /// is destroyed first (connect_probe's plain handler: no coroutine).
  template <class Handler>
  void on_cancel(Handler&& handler) {
    if (cancelled_) {
      asio::post(timer_.get_executor(), [h = std::forward<Handler>(handler)]() mutable {
        h(std::error_code(asio::error::operation_aborted));
      });
      return;
    }
    timer_.async_wait(std::forward<Handler>(handler));
  }

 private:
  asio::steady_timer timer_;  ///< never expires; cancel() wakes its waiters
  bool cancelled_ = false;
  std::string note_;
};

struct connect_options {
  millis timeout{2000};
  /// Source address to bind; unset: the one the routing table picks for the
  /// target (see route_source_address), or the unspecified address if none.
  std::optional<asio::ip::address> local_address;
  /// local_address is the one route_source_address gave for the target: where
  /// connect() binds the socket itself (Linux), it is left to do so (the same
  /// address, two system calls fewer: prober/connect_socket.h).
  bool routed_source = false;
  /// IP TTL / IPv6 hop limit of the SYN; 0 keeps the system default.
  int ttl = 0;
  /// TCP only: the MSS the SYN advertises and the connection keeps to both
  /// ways (platform::set_max_segment); 0 keeps the route's. The path-MTU
  /// search's packet size. An OS that refuses it makes the attempt FAILED.
  int mss = 0;
  /// Keep the socket of a CONNECTED attempt (application probes speak on it);
  /// when false it is closed before connect_probe returns.
  bool keep_socket = true;
  /// Called as the SYN leaves (Linux: just after connect() sent it; elsewhere
  /// just before, the socket bound), with the attempt so far (start_unix_us,
  /// local_address, local_port; no outcome), before anything that answers it
  /// is read. Not called when the attempt fails or is cancelled before sending.
  std::function<void(const v1::Attempt&)> on_start;
  /// TCP only: where set and open, ICMP errors quoting the SYN come from its
  /// raw socket (the OS hands the probe's socket none): one ends the wait at
  /// once, UNREACHABLE with icmp_from/type/code, as IP_RECVERR does on Linux.
  icmp_watch* icmp = nullptr;
};

struct connect_result {
  /// outcome, start_unix_us, elapsed_ms, local_address/local_port (known
  /// before the SYN leaves), icmp_from/type/code, error (the OS's words, or
  /// the canceller's note, or "no answer within 2s").
  v1::Attempt attempt;
  std::optional<asio::ip::tcp::socket> socket;  ///< CONNECTED and keep_socket only
  std::optional<platform::tcp_facts> tcp;       ///< CONNECTED, where the OS tells
  bool cancelled = false;                       ///< the canceller ended it (TIMED_OUT)
  std::string sent;                             ///< udp_probe: the datagram sent
  std::string reply;                            ///< udp_probe: the datagram that came back
};

/// One TCP connect to target. Never throws for network failures: they are the
/// outcome. CONNECTED: handshake done. REFUSED: a TCP RST. UNREACHABLE: an
/// ICMP error (icmp_* set where the platform tells them), or the OS said host
/// or network unreachable. TIMED_OUT: nothing before the deadline, or the
/// canceller fired. FAILED: a local error (no socket, bind failed, a local
/// firewall refused to send).
asio::awaitable<connect_result> connect_probe(asio::ip::tcp::endpoint target, connect_options options = {},
                                              attempt_canceller* canceller = nullptr);

/// One UDP probe: `payload` to target from a fresh source port (the socket
/// connected, so only the target's datagrams count), then the first reply,
/// an ICMP error or nothing. CONNECTED: a reply (in result.reply).
/// UNREACHABLE: an ICMP error: port-unreachable from the target, or from a
/// hop (icmp_* set where the platform tells them). TIMED_OUT: silence until
/// the deadline or the canceller. FAILED: a local error.
asio::awaitable<connect_result> udp_probe(asio::ip::udp::endpoint target, std::string payload,
                                          connect_options options = {}, attempt_canceller* canceller = nullptr);

/// Pure: the outcome of a connect that completed with ec (not a timeout or a
/// cancellation). icmp_received: the platform read an ICMP error for it.
/// Linux reports port-unreachable as ECONNREFUSED and admin-prohibited as
/// EHOSTUNREACH (IPv4) or EACCES (IPv6): with an ICMP error all are UNREACHABLE.
v1::Attempt::Outcome classify_connect(const std::error_code& ec, bool icmp_received);

/// The source address the routing table picks to reach target (a UDP
/// connect: no packet is sent). Empty when there is no route.
std::optional<asio::ip::address> route_source_address(const asio::any_io_executor& executor,
                                                      const asio::ip::address& target);

/// Pure: whether a port whose last attempt is a should be tried again (it got
/// no answer: TIMED_OUT without a cancellation, or FAILED).
bool needs_retry(const v1::Attempt& a, bool cancelled);

// ---------------------------------------------------------------- runner

struct runner_settings {
  millis timeout{2000};           ///< per attempt
  int retries = 1;                ///< extra attempts for ports without an answer
  std::size_t concurrency = 256;  ///< attempts in flight at most
  bool keep_sockets = true;       ///< hand CONNECTED sockets to the handler
  millis udp_timeout{2000};       ///< per UDP attempt: a program answers, not the kernel
  /// What a UDP port's datagram carries (ports keyed as UDP: common/ports.h);
  /// unset: empty datagrams.
  std::function<std::string(port_key)> udp_payload;
  icmp_watch* icmp = nullptr;  ///< for the TCP attempts (connect_options::icmp)
};

/// Every attempt for one port, in order.
struct port_probe {
  port_key port = 0;
  std::vector<v1::Attempt> attempts;  ///< empty only if decided before its first attempt
  bool decided = false;               ///< decide() cut it short
};

/// Called once per finished attempt, as it finishes. last: no further attempt
/// follows for this port (a port decided while it waits for its next round
/// gets no further call). The handler may move result.socket out to keep the
/// connection; whatever it leaves there is closed when it returns.
using attempt_handler = std::function<void(port_key port, connect_result& result, bool last)>;

/// Called when an attempt's SYN is about to leave (see connect_options::on_start),
/// so the caller can match the agent's packets to it while it is in flight.
using start_handler = std::function<void(port_key port, const v1::Attempt& attempt)>;

/// How many attempts to start next for a port, side by side, given its
/// ended attempts (in order); 0 ends the port. Called after every batch.
using retry_policy = std::function<std::size_t(port_key port, const std::vector<v1::Attempt>& so_far)>;

/// Pure: the policy without the agent: one attempt at a time, again while the
/// last got no answer (needs_retry), `retries` more at most.
std::size_t classic_retries(const std::vector<v1::Attempt>& so_far, int retries);

/// Probes ports of one address (TCP and UDP: ports are port_keys), every port at once under the concurrency
/// bound; each port in batches of attempts as the retry policy says (by
/// default classic_retries: one at a time). An answer (connected, refused,
/// unreachable) in a batch ends its siblings.
class probe_runner {
 public:
  probe_runner(asio::any_io_executor executor, asio::ip::address target, runner_settings settings);

  /// Sets the handler called as each attempt starts (before run()).
  void on_start(start_handler handler) { on_start_ = std::move(handler); }
  /// Sets the retry policy (before run()).
  void on_retry(retry_policy policy) { policy_ = std::move(policy); }

  /// The port is decided (e.g. by the agent's evidence): its attempts in
  /// flight end now as TIMED_OUT with the note, and no further attempt
  /// starts. Callable before or during run(), from the runner's thread.
  void decide(port_key port, std::string note = decided_note);
  bool decided(port_key port) const;

  /// Ends one attempt in flight (the one from local_port) as TIMED_OUT with
  /// the note; the retry policy then decides what follows. No effect when
  /// no such attempt runs.
  void end_attempt(port_key port, std::uint32_t local_port, std::string note);

  /// Probes every port; results in the order of ports. Call once at a time.
  asio::awaitable<std::vector<port_probe>> run(std::vector<port_key> ports, attempt_handler on_attempt = {});

 private:
  struct port_state {
    bool decided = false;
    std::string note;
    /// Attempts in flight by source port (0 until the socket is bound).
    std::vector<std::pair<std::uint32_t, attempt_canceller*>> running;
  };

  asio::awaitable<void> probe_port(port_probe& p, const attempt_handler& on_attempt);

  asio::any_io_executor executor_;
  asio::ip::address target_;
  runner_settings settings_;
  std::optional<asio::ip::address> local_address_;
  std::map<port_key, port_state> ports_;
  start_handler on_start_;
  retry_policy policy_;
};

// ---------------------------------------------------------------- hop search

struct hop_settings {
  int max_hops = 30;
  millis timeout{1000};  ///< per TTL (all TTLs are probed at once)
  int retries = 1;       ///< extra SYNs per TTL, sent beside the first (a lost packet or ICMP error)
  millis spacing{10};    ///< between the starts of successive TTLs
  std::optional<asio::ip::address> local_address;
  /// Called with each SYN's source port just before it leaves (so that the
  /// caller can tell the search's SYNs from the probes' at the agent).
  std::function<void(std::uint32_t local_port)> on_start;
  /// The ICMP errors where the OS does not hand them to TCP sockets
  /// (connect_options::icmp): open, it makes the search available there.
  icmp_watch* icmp = nullptr;
};

struct hop_trace {
  v1::HopLocation location;
  /// by_ttl[i]: the connect with TTL i+1 that got an answer (else a silent
  /// one), up to the final answer if there was one, else up to max_hops.
  std::vector<v1::Attempt> by_ttl;
};

/// Finds the last hop that still answers on the way to address:port, by
/// connects with TTL 1..max_hops, started `spacing` apart and running in
/// parallel, so a round lasts about timeout + max_hops * spacing. Once a TTL
/// gets a final answer (the target's, or a router's rejection) the higher
/// TTLs are cancelled: only those sent within one round trip reach that far.
/// Then up to `retries` rounds again for the TTLs below it that stayed silent.
/// Meant for ports whose SYNs die in transit: at a reachable port the agent
/// sees a few extra SYNs (each completed handshake is closed at once). Where
/// hop_search_available() is false and no open icmp watch is given, returns
/// at once with the platform note.
asio::awaitable<hop_trace> find_last_hop(asio::ip::address address, std::uint16_t port, hop_settings settings = {});

/// Pure: true for an UNREACHABLE attempt whose ICMP is time-exceeded (ICMP
/// type 11 over IPv4, ICMPv6 type 3 over IPv6).
bool is_time_exceeded(const v1::Attempt& a, bool v6);

/// Pure: reads the per-TTL attempts (by_ttl[i] has TTL i+1). path_length: the
/// first TTL the target answered at (handshake, RST, or an ICMP error from
/// the target's own address). last_hop: the highest TTL below it whose
/// router sent time-exceeded. The note says what that means, in words.
v1::HopLocation locate_last_hop(const std::vector<v1::Attempt>& by_ttl, const asio::ip::address& target);

}  // namespace dropspot::prober
