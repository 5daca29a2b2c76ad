// The mail probes: SMTP (25 and 587 with STARTTLS, 465 with TLS first),
// IMAP (143, 993) and POP3 (110, 995). Each reads the greeting, asks what
// the server offers, upgrades to TLS where offered, asks again (logins are
// offered over TLS only) and says goodbye.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/text.h"
#include "prober/app/link.h"
#include "prober/app/parse.h"

namespace dropspot::prober::app {

namespace {

constexpr std::size_t max_smtp_reply = 64 * 1024;
constexpr std::size_t max_mail_reply = 64 * 1024;

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

/// The server offered STARTTLS (POP3: STLS) and refused it: the probe fails.
void tls_refused(v1::AppResult& r, const char* verb, const std::string& why, bool cert_failed) {
  (*r.mutable_fields())["starttls"] = "refused: " + why;
  r.set_ok(false);
  if (!cert_failed) r.set_detail(std::string(verb) + " offered but refused: " + why);
}

/// The server said yes to STARTTLS/STLS: TLS over the link (verified unless
/// opportunistic), "starttls" ok or failed, the detail extended. False when
/// there is no TLS connection: the probe ends.
asio::awaitable<bool> upgrade_to_tls(link_ptr l, v1::AppResult& r, const char* verb, bool opportunistic,
                                     std::string& tls_summary, std::string& detail) {
  l->buffer.clear();  // nothing sent before TLS counts after it
  auto& f = *r.mutable_fields();
  const bool ok = co_await start_tls(l, r, "", tls_summary, opportunistic);
  f["starttls"] = ok ? "ok" : "failed";
  if (!ok || !r.ok()) r.set_detail(std::string(verb) + ": " + r.detail());
  if (ok) detail += std::string("; ") + verb + " " + tls_summary;
  co_return ok;
}

/// IMAP or POP3 without STARTTLS on its plain port: said in the detail and a note.
void no_tls_offered(const link_ptr& l, v1::AppResult& r, const char* protocol, const char* verb, std::string& detail) {
  (*r.mutable_fields())["starttls"] = "not offered";
  detail += std::string("; no ") + verb + " offered";
  add_note(r, std::string(protocol) + " on port " + std::to_string(l->settings.port) + " offers no " + verb +
                  ": mail clients send passwords in clear text or refuse to log in");
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

}  // namespace

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
      tls_refused(r, "STARTTLS", answer.status != parse_status::done ? answer.error : smtp_reply_text(answer.value),
                  cert_failed);
      co_return;
    }
    // Port 25 is server to server: an unverifiable certificate is normal there.
    if (!co_await upgrade_to_tls(l, r, "STARTTLS", l->settings.port == 25, tls_summary, detail)) co_return;
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
      no_tls_offered(l, r, "IMAP", "STARTTLS", detail);
    } else {
      auto answer = co_await imap_command(l, tag, "STARTTLS");
      if (answer.status != parse_status::done || answer.value.status != "OK") {
        tls_refused(
            r, "STARTTLS",
            answer.status != parse_status::done ? answer.error : escape(answer.value.status + " " + answer.value.text),
            cert_failed);
        co_return;
      }
      if (!co_await upgrade_to_tls(l, r, "STARTTLS", false, tls_summary, detail)) co_return;
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
      no_tls_offered(l, r, "POP3", "STLS", detail);
    } else {
      auto answer = co_await pop3_command(l, "STLS", false);
      if (answer.status != parse_status::done || !answer.value.ok) {
        tls_refused(r, "STLS", answer.status != parse_status::done ? answer.error : escape("-ERR " + answer.value.text),
                    cert_failed);
        co_return;
      }
      if (!co_await upgrade_to_tls(l, r, "STLS", false, tls_summary, detail)) co_return;
      capa = co_await pop3_capa(l);  // RFC 2595 4: capabilities change after TLS
      f["capabilities_tls"] = capa.empty() ? "none (no CAPA)" : escape(joined(capa, ", "));
    }
  }
  f["login"] = pop3_logins(capa);
  (void)co_await pop3_command(l, "QUIT", false);
  if (r.ok()) r.set_detail(detail);
}

}  // namespace dropspot::prober::app
