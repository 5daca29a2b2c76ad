#pragma once
// Application probes on a connected socket (the one the connect probe kept):
//   tcp     read what the service says first, if anything (never fails)
//   banner  the service must say something first (silence: failed)
//   ssh     the identification line, nothing more
//   http    GET / with the target's name as Host
//   https   TLS (SNI, version, cipher, ALPN, chain and hostname verified,
//           days to expiry), then GET / over it
//   smtp    greeting, EHLO, STARTTLS when offered, EHLO again (the AUTH
//           mechanisms offered over TLS), QUIT
//   smtps   TLS first (465), then as smtp without STARTTLS
//   imap    greeting, CAPABILITY, STARTTLS when offered, CAPABILITY again, LOGOUT
//   imaps   TLS first (993), then as imap without STARTTLS
//   pop3    greeting, CAPA, STLS when offered, CAPA again, QUIT
//   pop3s   TLS first (995), then as pop3 without STLS
// TLS is verified (chain, name, dates) everywhere but on SMTP port 25, where
// mail servers deliver over any certificate: there it is noted, not failed.
// Every read has a deadline (step_timeout, and the whole probe total_timeout)
// and a size cap; the socket is closed when a deadline passes, so no peer can
// hang a probe. A slow answer that comes in time is a pass, with the time it
// took and its likely cause in the fields. Results are v1::AppResult:
// ok=false makes the port APP_FAILED.
// Portable: Asio and OpenSSL only.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/duration.h"
#include "dropspot.pb.h"

typedef struct x509_st X509;

namespace dropspot::prober::app {

/// What the stall watch knows when a probe's answer stopped coming.
struct stall_report {
  bool request_unacked = false;  ///< part of what we sent was never acknowledged (the way to the server)
  bool acked_known = false;      ///< the OS told (else request_unacked says nothing)
  std::uint32_t path_mtu = 0;    ///< the path MTU our kernel holds for the server now (0: unknown)
};

/// How a probe went, beyond its result: what the path-MTU search
/// (prober/mtu_search.h) reads from each of its attempts, and the path facts
/// the kernel learnt on the way.
struct probe_trace {
  bool complete = false;       ///< the answer came whole (an HTTP response: its head and body, to the cap)
  bool request_acked = false;  ///< all we sent was acknowledged (known where the OS tells: see acked_known)
  bool acked_known = false;
  std::uint32_t path_mtu = 0;   ///< the path MTU towards the server the kernel held at the end (0: unknown)
  std::uint32_t rcv_mss = 0;    ///< the largest segment payload that came (0: unknown)
  bool closed_by_peer = false;  ///< the server closed the connection before the answer was whole
};

struct app_settings {
  std::string kind = "tcp";  ///< tcp|banner|ssh|http|https|smtp|smtps|imap|imaps|pop3|pop3s
  std::string host;          ///< the target as the user wrote it: Host header, SNI, name checked
  std::uint16_t port = 0;
  millis step_timeout{30000};   ///< one answer (a greeting, a response), or the TLS handshake: --app-timeout
  millis total_timeout{60000};  ///< the whole probe
  millis passive_wait{1000};    ///< how long the tcp kind listens for a banner
  /// When the connection was made (a server greets from then on); unset: the
  /// probe's start. Greeting times count from here, not from when a busy
  /// prober got round to the probe.
  std::optional<std::chrono::steady_clock::time_point> connected_at;
  bool insecure = false;  ///< --insecure: a certificate that fails verification passes, noted
  std::string ca_file;    ///< --ca-file: trusted besides the system store
  /// The HTTP request padded (a header of its own) to at least this many
  /// bytes, and the TLS ClientHello by half as many (a GREASE extension), so
  /// that they fill full-size packets: the way to the server is tested with
  /// bulk data too. 0: unpadded.
  std::size_t request_size = 0;
  /// The stall watch (http, https): when nothing has come or gone for this
  /// long while an answer is due (the TLS handshake, the HTTP response),
  /// on_stall is asked (the path-MTU search); when it says true, full-size
  /// packets vanish on the path and the probe ends at once, else it goes on
  /// to its own deadlines. Unset on_stall: no watch.
  millis stall_after{2000};
  std::function<asio::awaitable<bool>(stall_report)> on_stall;
};

/// Runs the probe settings.kind on socket and closes it. Never throws for
/// what the peer does; fills kind, ok, detail and fields, and trace if given.
asio::awaitable<v1::AppResult> run_app_probe(asio::ip::tcp::socket socket, app_settings settings,
                                             probe_trace* trace = nullptr);

/// Certificate facts for the report (fields cert_subject, cert_issuer,
/// cert_not_after, cert_days_left); returns the days left (negative when
/// expired). now_unix is the current time in seconds. Pure on the certificate.
long certificate_fields(X509* cert, std::int64_t now_unix, v1::AppResult& into);

}  // namespace dropspot::prober::app
