#pragma once
// The connection an application probe speaks over (prober/app/probes.h) and
// the steps every probe shares: reads with deadlines and size caps, sends,
// TLS as a client with the certificate judged, how long an answer took.
// Internal to prober/app: probes.cc (banner, SSH, HTTP) and mail.cc (SMTP,
// IMAP, POP3) use it.
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/awaitable.h"
#include "common/duration.h"
#include "dropspot.pb.h"
#include "prober/app/parse.h"
#include "prober/app/probes.h"
#include "prober/platform.h"

namespace dropspot::prober::app {

using clock = std::chrono::steady_clock;

/// An answer slower than this is said, with its likely cause.
inline constexpr millis slow_answer{1000};

/// One probe's connection: the socket, TLS over it once started, the bytes
/// received and not parsed yet, and the deadlines. Shared with the watchdog
/// timer's handler, which closes the socket when a deadline passes, so any
/// pending read or handshake ends at once.
struct link {
  link(asio::ip::tcp::socket s, app_settings st)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        settings(std::move(st)),
        start(settings.connected_at.value_or(clock::now())),
        end(start + settings.total_timeout) {}

  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  app_settings settings;
  clock::time_point start;                      ///< when the connection was made
  clock::time_point end;                        ///< the whole probe's deadline
  std::optional<clock::time_point> first_byte;  ///< when the service's first byte came (TLS records aside)
  std::unique_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;  ///< after the context: destroyed first
  std::string buffer;                                              ///< received, not consumed
  unsigned generation = 0;                                         ///< the watchdog's arming; stale handlers do nothing
  bool expired = false;                                            ///< the last operation hit its deadline
  bool closed_by_peer = false;                                     ///< the last read met the end of the stream
  bool total_hit = false;                                          ///< the deadline that passed was the whole probe's
  millis waited{0};                                                ///< the last operation's deadline
  std::string error;                                               ///< the last failure in the OS's or OpenSSL's words
  clock::time_point last_activity = clock::now();  ///< the last byte sent or received: the stall watch's clock
  std::size_t received = 0;                        ///< bytes read in all
  bool complete = false;                           ///< the answer came whole (probe_trace::complete)
  std::optional<platform::path_state> state;       ///< read as a deadline closed the socket
  std::size_t hello_padding = 0;                   ///< bytes of padding in our ClientHello
};
using link_ptr = std::shared_ptr<link>;

/// The kernel's view of the connection's path (platform::read_path_state),
/// or what it was when a deadline closed the socket.
std::optional<platform::path_state> path_state_of(const link_ptr& l);

/// The watchdog: closes the socket when `step` (or the whole probe's
/// deadline) passes; disarm() before the next step.
void arm(const link_ptr& l, millis step);
void disarm(const link_ptr& l);

/// Why nothing (complete) came: "no SMTP greeting within 2s", ...
std::string silence(const link_ptr& l, const std::string& what);

/// Reads what arrives next into l->buffer, at most cap bytes in all. False on
/// a deadline, the end of the stream or an error (flags and error set).
asio::awaitable<bool> read_more(link_ptr l, std::size_t cap, millis step);

/// Writes data (over TLS once started); false with l->error set.
asio::awaitable<bool> send(link_ptr l, std::string data);

/// Reads until parse says done or bad; a deadline, the end of the stream or
/// an error make it bad with the reason in words. Done answers stay in the
/// buffer: the caller consumes them.
template <class T, class Parse>
asio::awaitable<parsed<T>> read_answer(link_ptr l, Parse parse, std::size_t cap, millis step, std::string what) {
  for (;;) {
    auto p = parse(l->buffer, cap);
    if (p.status != parse_status::need_more) co_return p;
    // One byte past the cap, so the parser sees the cap exceeded.
    if (!co_await read_more(l, cap + 1, step)) {
      p = parse(l->buffer, cap);
      if (p.status != parse_status::need_more) co_return p;
      p.status = parse_status::bad;
      p.error = silence(l, what);
      co_return p;
    }
  }
}

/// The stall watch (app_settings::on_stall): true once the search it asked
/// found a black hole (the probe ends with it); otherwise it waits until the
/// probe's own work ends and cancels it.
asio::awaitable<bool> watch_stall(link_ptr l);

void consume(const link_ptr& l, std::size_t n);
millis since(clock::time_point from);

/// Appends a sentence to the result's "note" field (what the report adds to
/// the port's notes).
void add_note(v1::AppResult& r, const std::string& note);

/// The greeting of a mail or login service came now: its time in the fields
/// (greeting_ms) and, when slow, a note with the usual cause. A greeting
/// whose first line came at once and whose end came late is held on purpose
/// (postscreen, a greet pause); one that came late as a whole waits for the
/// server's lookups of the client.
void greeting_timing(const link_ptr& l, v1::AppResult& r, const std::string& what);

/// Why a greeting did not come, with what a slow one may mean.
std::string greeting_silence(const link_ptr& l, const std::string& error);

/// The target without IPv6 brackets: Host header, SNI, the name checked.
std::string bare_host(std::string host);

/// TLS on the link, as a client: SNI and the name checked from the target,
/// ALPN offered, the chain verified against the system store and --ca-file.
/// Fills the tls_* and cert_* fields and summary ("TLSv1.3, CN=..., expires
/// in 80 days"). False when there is no TLS connection (detail and ok=false
/// set); a certificate that fails verification keeps the connection (true)
/// but sets ok=false unless --insecure or `opportunistic` (STARTTLS between
/// mail servers on port 25, where the sender does not verify: RFC 3207 and
/// Postfix's default smtp_tls_security_level=may), which only notes it.
asio::awaitable<bool> start_tls(link_ptr l, v1::AppResult& r, std::string alpn, std::string& summary,
                                bool opportunistic = false);

// The mail probes (mail.cc); implicit_tls: TLS first (465, 993, 995).
asio::awaitable<void> probe_smtp(link_ptr l, v1::AppResult& r, bool implicit_tls);
asio::awaitable<void> probe_imap(link_ptr l, v1::AppResult& r, bool implicit_tls);
asio::awaitable<void> probe_pop3(link_ptr l, v1::AppResult& r, bool implicit_tls);

}  // namespace dropspot::prober::app
