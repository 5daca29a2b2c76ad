#include "prober/app/link.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <asio/ip/address.hpp>
#include <asio/write.hpp>
#include <tuple>

#include "common/text.h"
#include "prober/platform.h"

namespace dropspot::prober::app {

namespace {

using asio::ip::tcp;

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

/// A GREASE extension (RFC 8701: servers ignore it, whatever it holds) that
/// makes our ClientHello fill a full-size packet, as post-quantum key shares
/// make browsers' do: the way to the server is tested with the handshake.
constexpr unsigned grease_extension = 0x0a0a;
constexpr std::size_t max_hello_padding = 4096;

int add_hello_padding(SSL*, unsigned int, unsigned int, const unsigned char** out, std::size_t* outlen, X509*,
                      std::size_t, int*, void* add_arg) {
  static const std::array<unsigned char, max_hello_padding> zeros{};
  *out = zeros.data();
  *outlen = std::min(*static_cast<const std::size_t*>(add_arg), zeros.size());
  return 1;
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
    l->state = path_state_of(l);
    std::error_code ignored;
    l->socket.close(ignored);
  });
}

void disarm(const link_ptr& l) {
  ++l->generation;
  l->timer.cancel();
}

std::string silence(const link_ptr& l, const std::string& what) {
  std::string got;
  if (!l->buffer.empty()) got = " (got " + quote(l->buffer.substr(0, 40)) + (l->buffer.size() > 40 ? "...)" : ")");
  if (l->expired)
    return (l->buffer.empty() ? "no " : "no complete ") + what + " within " + format_duration(l->waited) +
           (l->total_hit ? " (the probe's time limit)" : "") + got;
  if (l->closed_by_peer) return "the server closed the connection before a complete " + what + got;
  return what + ": " + l->error + got;
}

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
  if (n > 0) l->last_activity = clock::now();
  l->received += n;
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
  l->last_activity = clock::now();
  if (ec) l->error = l->expired ? "no progress within " + format_duration(l->waited) : ec.message();
  co_return !ec;
}

std::optional<platform::path_state> path_state_of(const link_ptr& l) {
  if (!l->socket.is_open()) return l->state;
  std::error_code ec;
  const auto peer = l->socket.remote_endpoint(ec);
  if (ec) return l->state;
  return platform::read_path_state(l->socket.native_handle(), peer.address().is_v6());
}

asio::awaitable<bool> watch_stall(link_ptr l) {
  asio::steady_timer timer(l->socket.get_executor());
  for (;;) {
    const auto due = l->last_activity + l->settings.stall_after;
    if (clock::now() < due) {
      timer.expires_at(due);
      co_await timer.async_wait(as_tuple_awaitable);
      continue;
    }
    stall_report report;
    if (auto state = path_state_of(l)) {
      report.acked_known = true;
      report.request_unacked = state->unacked > 0;
      report.path_mtu = state->path_mtu;
    }
    if (co_await l->settings.on_stall(report)) {
      // The probe ends now: closing the socket ends its pending read or
      // write at once (a cancellation alone may not reach it).
      l->state = path_state_of(l);
      std::error_code ignored;
      l->socket.close(ignored);
      co_return true;
    }
    break;
  }
  // Not a black hole: the probe's own deadlines decide; this ends when it does.
  timer.expires_at(clock::time_point::max());
  co_await timer.async_wait(as_tuple_awaitable);
  co_return false;
}

void consume(const link_ptr& l, std::size_t n) { l->buffer.erase(0, std::min(n, l->buffer.size())); }

millis since(clock::time_point from) { return std::chrono::duration_cast<millis>(clock::now() - from); }

void add_note(v1::AppResult& r, const std::string& note) {
  auto& f = (*r.mutable_fields())["note"];
  f += (f.empty() ? "" : "; ") + note;
}

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

std::string greeting_silence(const link_ptr& l, const std::string& error) {
  if (!l->expired) return error;
  return error + " (servers may hold a greeting on purpose, postscreen for 6s; --app-timeout waits longer)";
}

std::string bare_host(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

asio::awaitable<bool> start_tls(link_ptr l, v1::AppResult& r, std::string alpn, std::string& summary,
                                bool opportunistic) {
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
  // Half the padded request's size: a ClientHello of about one full packet.
  l->hello_padding = s.request_size / 2;
  if (l->hello_padding > 0)
    SSL_CTX_add_custom_ext(ctx.native_handle(), grease_extension, SSL_EXT_CLIENT_HELLO, add_hello_padding, nullptr,
                           &l->hello_padding, nullptr, nullptr);
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
  l->last_activity = clock::now();
  std::tie(ec) = co_await l->tls->async_handshake(asio::ssl::stream_base::client, as_tuple_awaitable);
  disarm(l);
  l->last_activity = clock::now();
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

}  // namespace dropspot::prober::app
