#include "prober/app/probes.h"

#include <algorithm>
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

constexpr std::size_t max_http_head = 64 * 1024;
constexpr std::size_t max_ssh = 8 * 1024;
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

}  // namespace

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
