#include "prober/app/probes.h"

#include <algorithm>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/address.hpp>
#include <chrono>
#include <exception>
#include <memory>

#include "common/text.h"
#include "prober/app/link.h"
#include "prober/app/parse.h"

namespace dropspot::prober::app {

namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

constexpr std::size_t max_http_head = 64 * 1024;
constexpr std::size_t max_http_body = 64 * 1024;  // enough to fill a path with full-size packets
constexpr std::size_t max_ssh = 8 * 1024;
constexpr std::size_t max_ssh_packet = 35000;  // RFC 4253 6.1: what every implementation must take
constexpr std::size_t max_banner = 4 * 1024;

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

/// The SSH exchange: the server's identification, ours and our KEXINIT
/// (padded to fill a packet when asked), then the server's KEXINIT: the key
/// exchange's first bulk data (some 1 KB, more with post-quantum methods).
asio::awaitable<void> ssh_exchange(link_ptr l, v1::AppResult& r) {
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
    co_return;
  }
  consume(l, p.value.size);
  if (!co_await send(l, ssh_client_hello(l->settings.request_size / 2))) {
    r.set_ok(false);
    r.set_detail(escape(p.value.line) + "; cannot send our identification: " + l->error);
    co_return;
  }
  auto kex = co_await read_answer<ssh_kexinit>(l, parse_ssh_kexinit, max_ssh_packet, l->settings.step_timeout,
                                               "key exchange (KEXINIT)");
  if (kex.status != parse_status::done) {
    r.set_ok(false);
    r.set_detail(escape(p.value.line) + ", but " + kex.error);
    co_return;
  }
  l->complete = true;
  const auto first = [](const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < 3; ++i) s += (i ? "," : "") + names[i];
    return s + (names.size() > 3 ? ",..." : "");
  };
  f["ssh_kex"] = first(kex.value.kex);
  f["ssh_host_keys"] = first(kex.value.host_key);
  f["ssh_kexinit_bytes"] = std::to_string(kex.value.size);
}

/// Runs an exchange under the stall watch when one is set (app_settings::
/// on_stall); true when the watch ended it: full-size packets do not pass.
template <class Exchange>
asio::awaitable<bool> watched(link_ptr l, Exchange exchange) {
  if (!l->settings.on_stall) {
    co_await exchange();
    co_return false;
  }
  auto outcome = co_await (exchange() || watch_stall(l));
  co_return outcome.index() == 1 && std::get<1>(outcome);
}

std::string stalled_detail(const link_ptr& l, const std::string& what) {
  return what + " stopped after " + std::to_string(l->received) +
         " bytes: full-size packets do not pass the path (see the path MTU)";
}

asio::awaitable<void> probe_ssh(link_ptr l, v1::AppResult& r) {
  if (co_await watched(l, [&] { return ssh_exchange(l, r); })) {
    r.set_ok(false);
    r.set_detail(stalled_detail(l, "the SSH key exchange"));
  }
}

/// The HTTP exchange: TLS if asked, the request, the head, then the body up
/// to max_http_body (bulk data: what a black hole on the path stops).
asio::awaitable<void> http_exchange(link_ptr l, v1::AppResult& r, bool tls) {
  std::string tls_summary;
  if (tls && !co_await start_tls(l, r, "http/1.1", tls_summary)) co_return;
  const auto prefix = tls_summary.empty() ? std::string() : tls_summary + "; ";
  const auto request = http_request(bare_host(l->settings.host), l->settings.port, tls, l->settings.request_size);
  if (!co_await send(l, request)) {
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
  // The body, as a browser would read it: a stall here with the head in is
  // what a path-MTU black hole looks like (the watch's search tells).
  const auto head = p.value.head_size;
  const auto want = http_body_want(p.value, max_http_body);
  const auto body = [&] { return l->buffer.size() - std::min(head, l->buffer.size()); };
  while (!want || body() < *want) {
    if (!co_await read_more(l, head + (want ? *want : max_http_body), l->settings.step_timeout)) {
      if (l->closed_by_peer && !want) break;  // the end of a body without a length
      if (!want && body() >= max_http_body) break;
      const bool cert_failed = !r.ok();
      r.set_ok(false);
      if (!cert_failed)
        r.set_detail(
            prefix + http.detail() + ", but the body " +
            (l->closed_by_peer ? "ended early: the server closed the connection" : "stopped: " + silence(l, "body")) +
            " after " + std::to_string(body()) + (want ? " of " + std::to_string(*want) : "") + " bytes");
      co_return;
    }
  }
  l->complete = true;
  (*r.mutable_fields())["body_bytes"] = std::to_string(std::min(body(), want.value_or(body())));
  if (!r.ok()) co_return;  // the certificate failure stays the headline
  r.set_ok(http.ok());
  r.set_detail(http.detail() + (tls_summary.empty() ? std::string() : "; " + tls_summary));
}

asio::awaitable<void> probe_http(link_ptr l, v1::AppResult& r, bool tls) {
  if (co_await watched(l, [&] { return http_exchange(l, r, tls); })) {
    r.set_ok(false);
    r.set_detail(
        stalled_detail(l, tls && !r.fields().count("tls_version") ? "the TLS handshake" : "the HTTP response"));
  }
}

}  // namespace

asio::awaitable<v1::AppResult> run_app_probe(tcp::socket socket, app_settings settings, probe_trace* trace) {
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
  if (trace) {
    trace->complete = l->complete;
    trace->closed_by_peer = l->closed_by_peer && !l->complete;
    if (auto state = path_state_of(l)) {
      trace->acked_known = true;
      trace->request_acked = state->unacked == 0;
      trace->path_mtu = state->path_mtu;
      trace->rcv_mss = state->rcv_mss;
    }
  }
  std::error_code ignored;
  l->socket.close(ignored);
  co_return r;
}

}  // namespace dropspot::prober::app
