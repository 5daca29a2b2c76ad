#include "prober/app/probes.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>

#include "common/text.h"
#include "prober/app/parse.h"
#include "prober/platform.h"

namespace dropspot::prober::app {

namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t max_http_head = 64 * 1024;
constexpr std::size_t max_smtp_reply = 64 * 1024;
constexpr std::size_t max_ssh = 8 * 1024;
constexpr std::size_t max_banner = 4 * 1024;
constexpr std::size_t max_mail_reply = 64 * 1024;
/// An answer slower than this is said, with its likely cause.
constexpr millis slow_answer{1000};

/// One probe's connection: the socket, TLS over it once started, the bytes
/// received and not parsed yet, and the deadlines. Shared with the watchdog
/// timer's handler, which closes the socket when a deadline passes, so any
/// pending read or handshake ends at once.
struct link {
  link(tcp::socket s, app_settings st)
      : socket(std::move(s)),
        timer(socket.get_executor()),
        settings(std::move(st)),
        start(clock::now()),
        end(start + settings.total_timeout) {}

  tcp::socket socket;
  asio::steady_timer timer;
  app_settings settings;
  clock::time_point start;                      ///< the probe's start: the connection is made
  clock::time_point end;                        ///< the whole probe's deadline
  std::optional<clock::time_point> first_byte;  ///< when the service's first byte came (TLS records aside)
  std::unique_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;  ///< after the context: destroyed first
  std::string buffer;                                    ///< received, not consumed
  unsigned generation = 0;                               ///< the watchdog's arming; stale handlers do nothing
  bool expired = false;                                  ///< the last operation hit its deadline
  bool closed_by_peer = false;                           ///< the last read met the end of the stream
  bool total_hit = false;                                ///< the deadline that passed was the whole probe's
  millis waited{0};                                      ///< the last operation's deadline
  std::string error;                                     ///< the last failure in the OS's or OpenSSL's words
};
using link_ptr = std::shared_ptr<link>;

void arm(const link_ptr& l, millis step) {
  const auto now = clock::now();
  l->expired = false;
  l->total_hit = now + step >= l->end;
  l->waited = l->total_hit ? l->settings.total_timeout : step;
  l->timer.expires_at(std::min(now + step, l->end));
  const auto generation = ++l->generation;
  l->timer.async_wait([l, generation](std::error_code ec) {
    if (ec || generation != l->generation) return;
    l->expired = true;
    std::error_code ignored;
    l->socket.close(ignored);
  });
}

void disarm(const link_ptr& l) {
  ++l->generation;
  l->timer.cancel();
}

/// Why nothing (complete) came: "no SMTP greeting within 2s", ...
std::string silence(const link_ptr& l, const std::string& what) {
  std::string got;
  if (!l->buffer.empty()) got = " (got " + quote(l->buffer.substr(0, 40)) + (l->buffer.size() > 40 ? "...)" : ")");
  if (l->expired)
    return (l->buffer.empty() ? "no " : "no complete ") + what + " within " + format_duration(l->waited) +
           (l->total_hit ? " (the probe's time limit)" : "") + got;
  if (l->closed_by_peer) return "the server closed the connection before a complete " + what + got;
  return what + ": " + l->error + got;
}

/// Reads what arrives next into l->buffer, at most cap bytes in all. False on
/// a deadline, the end of the stream or an error (flags and error set).
asio::awaitable<bool> read_more(link_ptr l, std::size_t cap, millis step) {
  l->closed_by_peer = false;
  if (l->buffer.size() >= cap) {
    l->error = "more than " + std::to_string(cap) + " bytes";
    co_return false;
  }
  std::array<char, 4096> chunk{};
  const auto want = std::min(chunk.size(), cap - l->buffer.size());
  arm(l, step);
  std::error_code ec;
  std::size_t n = 0;
  if (l->tls)
    std::tie(ec, n) = co_await l->tls->async_read_some(asio::buffer(chunk.data(), want), as_tuple_awaitable);
  else
    std::tie(ec, n) = co_await l->socket.async_read_some(asio::buffer(chunk.data(), want), as_tuple_awaitable);
  disarm(l);
  if (n > 0 && !l->first_byte) l->first_byte = clock::now();
  l->buffer.append(chunk.data(), n);
  if (!ec) co_return true;
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) l->closed_by_peer = true;
  l->error = ec.message();
  co_return false;
}

asio::awaitable<bool> send(link_ptr l, std::string data) {
  arm(l, l->settings.step_timeout);
  std::error_code ec;
  if (l->tls)
    std::tie(ec, std::ignore) = co_await asio::async_write(*l->tls, asio::buffer(data), as_tuple_awaitable);
  else
    std::tie(ec, std::ignore) = co_await asio::async_write(l->socket, asio::buffer(data), as_tuple_awaitable);
  disarm(l);
  if (ec) l->error = l->expired ? "no progress within " + format_duration(l->waited) : ec.message();
  co_return !ec;
}

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

void consume(const link_ptr& l, std::size_t n) { l->buffer.erase(0, std::min(n, l->buffer.size())); }

millis since(clock::time_point from) { return std::chrono::duration_cast<millis>(clock::now() - from); }

/// Appends a sentence to the result's "note" field (what the report adds to
/// the port's notes).
void add_note(v1::AppResult& r, const std::string& note) {
  auto& f = (*r.mutable_fields())["note"];
  f += (f.empty() ? "" : "; ") + note;
}

/// The greeting of a mail or login service took `took`: its time in the
/// fields and, when slow, a note with the usual cause. A greeting whose first
/// line came at once and whose end came late is held on purpose (postscreen,
/// a greet pause); one that came late as a whole waits for the server's
/// lookups of the client.
void greeting_timing(const link_ptr& l, v1::AppResult& r, const std::string& what) {
  const auto took = since(l->start);
  auto& f = *r.mutable_fields();
  f["greeting_ms"] = std::to_string(took.count());
  if (took < slow_answer) return;
  const auto first = l->first_byte ? std::chrono::duration_cast<millis>(*l->first_byte - l->start) : took;
  if (r.kind() == "smtp" || r.kind() == "smtps") {
    if (took - first >= slow_answer)
      add_note(r, "the " + what + " took " + format_duration(took) + ": its first line came after " +
                      format_duration(first) + " and the rest later, as postscreen (postscreen_greet_wait) or a " +
                      "greet pause holds it to catch spam bots; mail servers wait for it (RFC 5321 gives 5 minutes)");
    else
      add_note(r, "the " + what + " took " + format_duration(took) +
                      ": mail servers look up the client's address in DNS before they greet; a slow resolver on " +
                      "the server delays every connection (check /etc/resolv.conf there)");
  } else {
    add_note(r, "the " + what + " took " + format_duration(took) +
                    ": the server looks up the client (reverse DNS) or is short of CPU; clients wait, but slowly");
  }
}

/// Why a greeting did not come, with what a slow one may mean.
std::string greeting_silence(const link_ptr& l, const std::string& error) {
  if (!l->expired) return error;
  return error + " (servers may hold a greeting on purpose, postscreen for 6s; --app-timeout waits longer)";
}

std::string bare_host(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string s(data != nullptr && n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string());
  BIO_free(bio);
  return escape(s);
}

/// The subject's (or issuer's) common name, or the whole name when it has none.
std::string short_subject(const v1::AppResult& r, const char* field = "cert_subject") {
  const auto it = r.fields().find(field);
  if (it == r.fields().end()) return "no certificate";
  const auto& s = it->second;
  const auto cn = s.find("CN=");
  if (cn == std::string::npos) return s;
  const auto comma = s.find(',', cn);
  return s.substr(cn, comma == std::string::npos ? std::string::npos : comma - cn);
}

/// TLS on the link, as a client: SNI and the name checked from the target,
/// ALPN offered, the chain verified against the system store and --ca-file.
/// Fills the tls_* and cert_* fields and summary ("TLSv1.3, CN=..., expires
/// in 80 days"). False when there is no TLS connection (detail and ok=false
/// set); a certificate that fails verification keeps the connection (true)
/// but sets ok=false unless --insecure or `opportunistic` (STARTTLS between
/// mail servers on port 25, where the sender does not verify: RFC 3207 and
/// Postfix's default smtp_tls_security_level=may), which only notes it.
asio::awaitable<bool> start_tls(link_ptr l, v1::AppResult& r, std::string alpn, std::string& summary,
                                bool opportunistic = false) {
  const auto& s = l->settings;
  auto& f = *r.mutable_fields();
  l->tls_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  auto& ctx = *l->tls_context;
  std::error_code ec;
  ctx.set_default_verify_paths(ec);
  (void)platform::add_system_roots(SSL_CTX_get_cert_store(ctx.native_handle()));
  if (!s.ca_file.empty()) {
    ctx.load_verify_file(s.ca_file, ec);
    if (ec) {
      r.set_ok(false);
      r.set_detail("cannot read --ca-file " + escape(s.ca_file) + ": " + ec.message());
      co_return false;
    }
  }
  ctx.set_verify_mode(asio::ssl::verify_none);  // judged after the handshake, to report what was seen
  l->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(l->socket, ctx);
  SSL* ssl = l->tls->native_handle();
  const auto host = bare_host(s.host);
  std::error_code not_ip;
  (void)asio::ip::make_address(host, not_ip);
  if (!not_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else if (!host.empty()) {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, host.c_str());
    f["sni"] = escape(host);
  }
  if (!alpn.empty()) {
    std::string wire(1, static_cast<char>(alpn.size()));
    wire += alpn;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
  arm(l, s.step_timeout);
  std::tie(ec) = co_await l->tls->async_handshake(asio::ssl::stream_base::client, as_tuple_awaitable);
  disarm(l);
  if (ec) {
    r.set_ok(false);
    if (l->expired)
      r.set_detail("no TLS handshake within " + format_duration(l->waited));
    else if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
      r.set_detail("TLS handshake failed: the server closed the connection");
    else
      r.set_detail("TLS handshake failed: " + escape(ec.message()));
    co_return false;
  }
  f["tls_version"] = SSL_get_version(ssl);
  f["tls_cipher"] = SSL_get_cipher_name(ssl);
  const unsigned char* selected = nullptr;
  unsigned selected_size = 0;
  SSL_get0_alpn_selected(ssl, &selected, &selected_size);
  if (!alpn.empty())
    f["alpn"] =
        selected_size > 0 ? escape(std::string(reinterpret_cast<const char*>(selected), selected_size)) : "none";
  long days = 0;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert != nullptr) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    days = certificate_fields(cert, now, r);
    X509_free(cert);
  }
  summary = f["tls_version"] + ", " + short_subject(r);
  if (cert != nullptr) summary += " (issuer " + short_subject(r, "cert_issuer") + ")";
  if (cert != nullptr) summary += days >= 0 ? ", expires in " + std::to_string(days) + " days" : ", expired";
  const long verify = SSL_get_verify_result(ssl);
  if (cert == nullptr) {
    f["verify"] = "no certificate";
  } else if (verify == X509_V_OK) {
    f["verify"] = "ok";
  } else {
    const std::string why = X509_verify_cert_error_string(verify);
    if (s.insecure) {
      f["verify"] = "failed: " + why + " (ignored: --insecure)";
      summary += ", unverified (--insecure)";
    } else if (opportunistic) {
      f["verify"] = "failed: " + why + " (mail servers deliver over it on port 25; mail clients would refuse it)";
      summary += ", unverified: " + why + " (fine between mail servers)";
    } else {
      f["verify"] = "failed: " + why;
      r.set_ok(false);
      r.set_detail("certificate verification failed: " + why + " (" + short_subject(r) + ")");
    }
  }
  if (cert != nullptr && days >= 0 && days < 14) {
    f["warning"] = "the certificate expires in " + std::to_string(days) + " days";
    summary += " (renew it soon)";
  }
  co_return true;
}

// ---------------------------------------------------------------- the probes

asio::awaitable<void> probe_banner(link_ptr l, v1::AppResult& r, bool required) {
  const auto wait = required ? l->settings.step_timeout : l->settings.passive_wait;
  (void)co_await read_more(l, max_banner, wait);
  if (!l->buffer.empty()) {
    const auto text = banner_text(l->buffer);
    (*r.mutable_fields())["banner"] = text;
    r.set_detail("says '" + text + "'");
  } else if (required) {
    r.set_ok(false);
    r.set_detail(l->closed_by_peer ? "the server closed the connection without a banner"
                                   : silence(l, "banner") + ": the service accepted the connection and said nothing");
  } else if (l->closed_by_peer) {
    r.set_detail("the server closed the connection at once, without a word");
  }
}

asio::awaitable<void> probe_ssh(link_ptr l, v1::AppResult& r) {
  auto p =
      co_await read_answer<ssh_ident>(l, parse_ssh_ident, max_ssh, l->settings.step_timeout, "SSH identification line");
  if (p.status != parse_status::done) {
    r.set_ok(false);
    r.set_detail(greeting_silence(l, p.error));
    co_return;
  }
  greeting_timing(l, r, "SSH identification");
  auto& f = *r.mutable_fields();
  f["ssh_version"] = escape(p.value.line);
  f["ssh_software"] = escape(p.value.software);
  r.set_detail(escape(p.value.line));
  if (p.value.protocol != "2.0" && p.value.protocol != "1.99") {
    r.set_ok(false);
    r.set_detail(escape(p.value.line) + ": SSH protocol " + escape(p.value.protocol) +
                 " only, which current clients do not speak");
  }
}

asio::awaitable<void> probe_http(link_ptr l, v1::AppResult& r, bool tls) {
  std::string tls_summary;
  if (tls && !co_await start_tls(l, r, "http/1.1", tls_summary)) co_return;
  const auto prefix = tls_summary.empty() ? std::string() : tls_summary + "; ";
  if (!co_await send(l, http_request(bare_host(l->settings.host), l->settings.port, tls))) {
    r.set_ok(false);
    r.set_detail(prefix + "cannot send the HTTP request: " + l->error);
    co_return;
  }
  const auto sent = clock::now();
  auto p =
      co_await read_answer<http_response>(l, parse_http_head, max_http_head, l->settings.step_timeout, "HTTP response");
  if (p.status != parse_status::done) {
    const bool cert_failed = !r.ok();
    r.set_ok(false);
    if (!cert_failed) r.set_detail(prefix + p.error);
    co_return;
  }
  const auto took = since(sent);
  (*r.mutable_fields())["response_ms"] = std::to_string(took.count());
  if (took >= slow_answer)
    add_note(r, "the HTTP response took " + format_duration(took) + " after the request (the connection" +
                    (tls ? " and TLS" : "") + " took " +
                    format_duration(std::chrono::duration_cast<millis>(sent - l->start)) +
                    "): the application behind the web server is slow (a proxied backend, PHP, a database)");
  const auto http = http_result(p.value);
  for (const auto& [k, v] : http.fields()) (*r.mutable_fields())[k] = v;
  if (!r.ok()) co_return;  // the certificate failure stays the headline
  r.set_ok(http.ok());
  r.set_detail(http.detail() + (tls_summary.empty() ? std::string() : "; " + tls_summary));
}

asio::awaitable<parsed<smtp_reply>> smtp_command(link_ptr l, std::string command, std::string what) {
  if (!command.empty() && !co_await send(l, command + "\r\n")) {
    parsed<smtp_reply> p;
    p.status = parse_status::bad;
    p.error = "cannot send " + what + ": " + l->error;
    co_return p;
  }
  auto p = co_await read_answer<smtp_reply>(l, parse_smtp_reply, max_smtp_reply, l->settings.step_timeout, what);
  if (p.status == parse_status::done) consume(l, p.value.size);
  co_return p;
}

std::string helo_name(const link_ptr& l) {
  std::error_code ec;
  const auto local = l->socket.local_endpoint(ec);
  if (ec) return "dropspot.invalid";
  const auto a = local.address();
  if (a.is_v6() && !a.to_v6().is_v4_mapped()) return "[IPv6:" + a.to_string() + "]";
  return "[" + (a.is_v6() ? asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string() : a.to_string()) +
         "]";
}

/// The AUTH mechanisms an EHLO reply offers ("PLAIN LOGIN"), empty when none.
std::string smtp_auth(const smtp_reply& ehlo) {
  for (const auto& c : ehlo_capabilities(ehlo)) {
    const auto space = c.find(' ');
    if (lower(std::string_view(c).substr(0, space)) == "auth" && space != std::string::npos)
      return escape(trim(std::string_view(c).substr(space + 1)));
  }
  return {};
}

/// A submission port (587, 465) exists for mail clients to log in and send:
/// without AUTH over TLS they cannot.
void submission_auth(const link_ptr& l, v1::AppResult& r, const std::string& auth, bool over_tls) {
  auto& f = *r.mutable_fields();
  f["auth"] = auth.empty() ? "none" : auth;
  const auto port = l->settings.port;
  if (port != 587 && port != 465) return;
  if (auth.empty())
    add_note(r, std::string("no AUTH offered") + (over_tls ? " over TLS" : "") + " on the submission port " +
                    std::to_string(port) +
                    ": mail clients cannot log in to send (postfix: smtpd_sasl_auth_enable=yes and a SASL "
                    "backend such as dovecot's auth socket)");
}

asio::awaitable<void> probe_smtp(link_ptr l, v1::AppResult& r, bool implicit_tls) {
  auto& f = *r.mutable_fields();
  std::string tls_summary;
  if (implicit_tls && !co_await start_tls(l, r, "", tls_summary)) co_return;
  const bool cert_failed = !r.ok();
  auto greeting = co_await smtp_command(l, "", "SMTP greeting");
  if (greeting.status != parse_status::done) {
    r.set_ok(false);
    if (!cert_failed) r.set_detail(greeting_silence(l, greeting.error));
    co_return;
  }
  greeting_timing(l, r, "SMTP greeting");
  const auto greeting_text = smtp_reply_text(greeting.value);
  f["greeting"] = greeting_text;
  auto fail = [&](std::string why) {
    r.set_ok(false);
    if (!cert_failed) r.set_detail(std::move(why));
  };
  if (greeting.value.code != 220) {
    fail("greeting " + greeting_text +
         (greeting.value.code >= 500 ? ": the server refuses service" : ": the server refuses for now"));
    (void)co_await smtp_command(l, "QUIT", "QUIT reply");
    co_return;
  }
  std::string detail = greeting_text;
  if (!tls_summary.empty()) detail += "; " + tls_summary;
  auto ehlo = co_await smtp_command(l, "EHLO " + helo_name(l), "EHLO reply");
  if (ehlo.status != parse_status::done) {
    fail("greeting " + greeting_text + ", then " + ehlo.error);
    co_return;
  }
  std::string caps;
  for (const auto& c : ehlo_capabilities(ehlo.value)) caps += (caps.empty() ? "" : ", ") + escape(c);
  f["ehlo"] = ehlo.value.code == 250 ? caps : smtp_reply_text(ehlo.value);
  if (implicit_tls) {
    submission_auth(l, r, smtp_auth(ehlo.value), true);
  } else if (ehlo.value.code != 250 || !has_capability(ehlo.value, "STARTTLS")) {
    f["starttls"] = "not offered";
    detail += "; no STARTTLS offered";
    submission_auth(l, r, smtp_auth(ehlo.value), false);
  } else {
    auto answer = co_await smtp_command(l, "STARTTLS", "STARTTLS reply");
    if (answer.status != parse_status::done || answer.value.code != 220) {
      const auto why = answer.status != parse_status::done ? answer.error : smtp_reply_text(answer.value);
      f["starttls"] = "refused: " + why;
      fail("STARTTLS offered but refused: " + why);
      co_return;
    }
    l->buffer.clear();  // nothing sent before TLS counts after it
    // Port 25 is server to server: an unverifiable certificate is normal there.
    if (!co_await start_tls(l, r, "", tls_summary, l->settings.port == 25)) {
      f["starttls"] = "failed";
      r.set_detail("STARTTLS: " + r.detail());
      co_return;
    }
    f["starttls"] = "ok";
    if (!r.ok()) r.set_detail("STARTTLS: " + r.detail());
    detail += "; STARTTLS " + tls_summary;
    // RFC 3207 4.2: the client forgets what it knew and says EHLO again; a
    // server offers AUTH only now, once passwords are safe.
    auto again = co_await smtp_command(l, "EHLO " + helo_name(l), "EHLO reply over TLS");
    if (again.status != parse_status::done || again.value.code != 250) {
      const auto why = again.status != parse_status::done ? again.error : smtp_reply_text(again.value);
      f["ehlo_tls"] = "failed: " + why;
      fail("STARTTLS worked, then EHLO over TLS failed: " + why);
      co_return;
    }
    std::string tls_caps;
    for (const auto& c : ehlo_capabilities(again.value)) tls_caps += (tls_caps.empty() ? "" : ", ") + escape(c);
    f["ehlo_tls"] = tls_caps;
    submission_auth(l, r, smtp_auth(again.value), true);
  }
  // A polite end; its outcome changes nothing.
  auto quit = co_await smtp_command(l, "QUIT", "QUIT reply");
  if (quit.status == parse_status::done) f["quit"] = smtp_reply_text(quit.value);
  if (r.ok()) r.set_detail(detail);
}

// ---------------------------------------------------------------- IMAP and POP3

/// One IMAP command: "aN COMMAND", its untagged lines and completion.
asio::awaitable<parsed<imap_response>> imap_command(link_ptr l, unsigned& tag_number, std::string command) {
  const auto tag = "a" + std::to_string(++tag_number);
  if (!co_await send(l, tag + " " + command + "\r\n")) {
    parsed<imap_response> p;
    p.status = parse_status::bad;
    p.error = "cannot send " + command + ": " + l->error;
    co_return p;
  }
  const auto parse = [tag](std::string_view data, std::size_t cap) { return parse_imap_response(data, tag, cap); };
  auto p =
      co_await read_answer<imap_response>(l, parse, max_mail_reply, l->settings.step_timeout, command + " response");
  if (p.status == parse_status::done) consume(l, p.value.size);
  co_return p;
}

std::string joined(const std::vector<std::string>& words, const char* separator = " ") {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : separator) + w;
  return s;
}

/// The login methods a capability list offers: AUTH=PLAIN ... -> "PLAIN ...";
/// LOGINDISABLED said.
std::string imap_logins(const std::vector<std::string>& caps) {
  std::vector<std::string> mechanisms;
  bool disabled = false;
  for (const auto& c : caps) {
    if (starts_with_icase(c, "AUTH=")) mechanisms.push_back(c.substr(5));
    if (lower(c) == "logindisabled") disabled = true;
  }
  auto s = mechanisms.empty() ? std::string("none") : joined(mechanisms);
  if (disabled) s += " (LOGIN disabled)";
  return s;
}

/// CAPABILITY: the list, or nullopt with `error` set.
asio::awaitable<std::optional<std::vector<std::string>>> imap_ask_capabilities(link_ptr l, unsigned& tag,
                                                                               std::string& error) {
  auto answer = co_await imap_command(l, tag, "CAPABILITY");
  if (answer.status == parse_status::done && answer.value.status == "OK") co_return imap_capabilities(answer.value);
  error = "CAPABILITY failed: " +
          (answer.status != parse_status::done ? answer.error : escape(answer.value.status + " " + answer.value.text));
  co_return std::nullopt;
}

bool has_word(const std::vector<std::string>& words, std::string_view word) {
  return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return lower(w) == lower(word); });
}

asio::awaitable<void> probe_imap(link_ptr l, v1::AppResult& r, bool implicit_tls) {
  auto& f = *r.mutable_fields();
  std::string tls_summary;
  if (implicit_tls && !co_await start_tls(l, r, "", tls_summary)) co_return;
  const bool cert_failed = !r.ok();
  auto fail = [&](std::string why) {
    r.set_ok(false);
    if (!cert_failed) r.set_detail(std::move(why));
  };
  auto greeting = co_await read_answer<imap_response>(l, parse_imap_greeting, max_mail_reply, l->settings.step_timeout,
                                                      "IMAP greeting");
  if (greeting.status != parse_status::done) {
    fail(greeting_silence(l, greeting.error));
    co_return;
  }
  consume(l, greeting.value.size);
  greeting_timing(l, r, "IMAP greeting");
  const auto greeting_text = escape(("* " + greeting.value.status + " " + greeting.value.text).substr(0, 200));
  f["greeting"] = greeting_text;
  if (greeting.value.status == "BYE") {
    fail("greeting " + greeting_text + ": the server refuses the connection");
    co_return;
  }
  unsigned tag = 0;
  auto caps = imap_capabilities(greeting.value);
  std::string error;
  if (caps.empty()) {
    auto asked = co_await imap_ask_capabilities(l, tag, error);
    if (!asked) {
      fail(error);
      co_return;
    }
    caps = std::move(*asked);
  }
  f["capabilities"] = joined(caps);
  std::string detail = greeting_text;
  if (!tls_summary.empty()) detail += "; " + tls_summary;
  if (!implicit_tls) {
    if (!has_word(caps, "STARTTLS")) {
      f["starttls"] = "not offered";
      detail += "; no STARTTLS offered";
      add_note(r, "IMAP on port " + std::to_string(l->settings.port) +
                      " offers no STARTTLS: mail clients send passwords in clear text or refuse to log in");
    } else {
      auto answer = co_await imap_command(l, tag, "STARTTLS");
      if (answer.status != parse_status::done || answer.value.status != "OK") {
        const auto why =
            answer.status != parse_status::done ? answer.error : escape(answer.value.status + " " + answer.value.text);
        f["starttls"] = "refused: " + why;
        fail("STARTTLS offered but refused: " + why);
        co_return;
      }
      l->buffer.clear();
      if (!co_await start_tls(l, r, "", tls_summary)) {
        f["starttls"] = "failed";
        r.set_detail("STARTTLS: " + r.detail());
        co_return;
      }
      f["starttls"] = "ok";
      if (!r.ok()) r.set_detail("STARTTLS: " + r.detail());
      detail += "; STARTTLS " + tls_summary;
      // RFC 9051 6.2.1: capabilities change after TLS (logins appear).
      auto asked = co_await imap_ask_capabilities(l, tag, error);
      if (!asked) {
        fail(error);
        co_return;
      }
      caps = std::move(*asked);
      f["capabilities_tls"] = joined(caps);
    }
  }
  f["login"] = imap_logins(caps);
  (void)co_await imap_command(l, tag, "LOGOUT");
  if (r.ok()) r.set_detail(detail);
}

/// One POP3 command and its reply (multi-line for CAPA).
asio::awaitable<parsed<pop3_reply>> pop3_command(link_ptr l, std::string command, bool multiline) {
  if (!co_await send(l, command + "\r\n")) {
    parsed<pop3_reply> p;
    p.status = parse_status::bad;
    p.error = "cannot send " + command + ": " + l->error;
    co_return p;
  }
  const auto parse = [multiline](std::string_view data, std::size_t cap) {
    return parse_pop3_reply(data, multiline, cap);
  };
  auto p = co_await read_answer<pop3_reply>(l, parse, max_mail_reply, l->settings.step_timeout, command + " reply");
  if (p.status == parse_status::done) consume(l, p.value.size);
  co_return p;
}

/// CAPA's lines; none when the server has no CAPA (RFC 2449 is optional:
/// -ERR is an old server, not a failure).
asio::awaitable<std::vector<std::string>> pop3_capa(link_ptr l) {
  auto answer = co_await pop3_command(l, "CAPA", true);
  if (answer.status == parse_status::done && answer.value.ok) co_return answer.value.lines;
  co_return std::vector<std::string>{};
}

/// The login methods a CAPA reply offers: "SASL PLAIN LOGIN" and "USER".
std::string pop3_logins(const std::vector<std::string>& capa) {
  std::vector<std::string> ways;
  for (const auto& c : capa) {
    if (starts_with_icase(c, "SASL ")) ways.push_back(escape(trim(std::string_view(c).substr(5))));
    if (lower(trim(c)) == "user") ways.emplace_back("USER");
  }
  return ways.empty() ? std::string("none") : joined(ways);
}

asio::awaitable<void> probe_pop3(link_ptr l, v1::AppResult& r, bool implicit_tls) {
  auto& f = *r.mutable_fields();
  std::string tls_summary;
  if (implicit_tls && !co_await start_tls(l, r, "", tls_summary)) co_return;
  const bool cert_failed = !r.ok();
  auto fail = [&](std::string why) {
    r.set_ok(false);
    if (!cert_failed) r.set_detail(std::move(why));
  };
  const auto parse_greeting = [](std::string_view data, std::size_t cap) { return parse_pop3_reply(data, false, cap); };
  auto greeting =
      co_await read_answer<pop3_reply>(l, parse_greeting, max_mail_reply, l->settings.step_timeout, "POP3 greeting");
  if (greeting.status != parse_status::done) {
    fail(greeting_silence(l, greeting.error));
    co_return;
  }
  consume(l, greeting.value.size);
  greeting_timing(l, r, "POP3 greeting");
  const auto greeting_text = escape(((greeting.value.ok ? "+OK " : "-ERR ") + greeting.value.text).substr(0, 200));
  f["greeting"] = greeting_text;
  if (!greeting.value.ok) {
    fail("greeting " + greeting_text + ": the server refuses the connection");
    co_return;
  }
  auto capa = co_await pop3_capa(l);
  f["capabilities"] = capa.empty() ? "none (no CAPA)" : escape(joined(capa, ", "));
  std::string detail = greeting_text;
  if (!tls_summary.empty()) detail += "; " + tls_summary;
  if (!implicit_tls) {
    if (!has_word(capa, "STLS")) {
      f["starttls"] = "not offered";
      detail += "; no STLS offered";
      add_note(r, "POP3 on port " + std::to_string(l->settings.port) +
                      " offers no STLS: mail clients send passwords in clear text or refuse to log in");
    } else {
      auto answer = co_await pop3_command(l, "STLS", false);
      if (answer.status != parse_status::done || !answer.value.ok) {
        const auto why = answer.status != parse_status::done ? answer.error : escape("-ERR " + answer.value.text);
        f["starttls"] = "refused: " + why;
        fail("STLS offered but refused: " + why);
        co_return;
      }
      l->buffer.clear();
      if (!co_await start_tls(l, r, "", tls_summary)) {
        f["starttls"] = "failed";
        r.set_detail("STLS: " + r.detail());
        co_return;
      }
      f["starttls"] = "ok";
      if (!r.ok()) r.set_detail("STLS: " + r.detail());
      detail += "; STLS " + tls_summary;
      capa = co_await pop3_capa(l);  // RFC 2595 4: capabilities change after TLS
      f["capabilities_tls"] = capa.empty() ? "none (no CAPA)" : escape(joined(capa, ", "));
    }
  }
  f["login"] = pop3_logins(capa);
  (void)co_await pop3_command(l, "QUIT", false);
  if (r.ok()) r.set_detail(detail);
}

}  // namespace

long certificate_fields(X509* cert, std::int64_t now_unix, v1::AppResult& into) {
  auto& f = *into.mutable_fields();
  f["cert_subject"] = name_text(X509_get_subject_name(cert));
  f["cert_issuer"] = name_text(X509_get_issuer_name(cert));
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  long days = 0;
  struct tm tm_after {};
  if (not_after != nullptr && ASN1_TIME_to_tm(not_after, &tm_after) == 1) {
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm_after);
    f["cert_not_after"] = text;
    ASN1_TIME* now = ASN1_TIME_set(nullptr, static_cast<time_t>(now_unix));
    int day = 0, sec = 0;
    if (now != nullptr && ASN1_TIME_diff(&day, &sec, now, not_after) == 1) days = day - (sec < 0 ? 1 : 0);
    ASN1_TIME_free(now);
    f["cert_days_left"] = std::to_string(days);
  }
  // The names it is valid for, to see a wrong-name certificate at a glance.
  std::string names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && i < 20; ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      std::string one;
      if (name->type == GEN_DNS) {
        const auto* s = name->d.dNSName;
        one = std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (name->type == GEN_IPADD) {
        const auto* s = name->d.iPAddress;
        const auto* bytes = ASN1_STRING_get0_data(s);
        if (ASN1_STRING_length(s) == 4) {
          asio::ip::address_v4::bytes_type b{};
          std::copy(bytes, bytes + 4, b.begin());
          one = asio::ip::address_v4(b).to_string();
        } else if (ASN1_STRING_length(s) == 16) {
          asio::ip::address_v6::bytes_type b{};
          std::copy(bytes, bytes + 16, b.begin());
          one = asio::ip::address_v6(b).to_string();
        }
      }
      if (!one.empty()) names += (names.empty() ? "" : ", ") + escape(one);
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) f["cert_names"] = names;
  return days;
}

asio::awaitable<v1::AppResult> run_app_probe(tcp::socket socket, app_settings settings) {
  auto l = std::make_shared<link>(std::move(socket), std::move(settings));
  const auto& kind = l->settings.kind;
  v1::AppResult r;
  r.set_kind(kind);
  r.set_ok(true);
  try {
    if (kind == "ssh")
      co_await probe_ssh(l, r);
    else if (kind == "http" || kind == "https")
      co_await probe_http(l, r, kind == "https");
    else if (kind == "smtp" || kind == "smtps")
      co_await probe_smtp(l, r, kind == "smtps");
    else if (kind == "imap" || kind == "imaps")
      co_await probe_imap(l, r, kind == "imaps");
    else if (kind == "pop3" || kind == "pop3s")
      co_await probe_pop3(l, r, kind == "pop3s");
    else
      co_await probe_banner(l, r, kind == "banner");
  } catch (const std::exception& e) {
    r.set_ok(false);
    r.set_detail(std::string("the probe failed: ") + e.what());
  }
  disarm(l);
  std::error_code ignored;
  l->socket.close(ignored);
  co_return r;
}

}  // namespace dropspot::prober::app
