#include "prober/app/parse.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/bytes.h"
#include "common/text.h"

namespace dropspot::prober::app {

namespace {

constexpr std::size_t max_smtp_line = 4096;
constexpr std::size_t max_ssh_line = 255;    // RFC 4253 4.2, CR LF included
constexpr std::size_t max_mail_line = 8192;  // IMAP and POP3 lines (RFC 7162 3.2.1 suggests 8192)

/// The next line of data from pos: its text without the line end, and where
/// the following line starts; nullopt when no line end has arrived yet.
struct line_view {
  std::string_view text;
  std::size_t next = 0;
};
std::optional<line_view> next_line(std::string_view data, std::size_t pos) {
  const auto lf = data.find('\n', pos);
  if (lf == std::string_view::npos) return std::nullopt;
  auto text = data.substr(pos, lf - pos);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return line_view{text, lf + 1};
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
}

template <class T>
parsed<T> bad(std::string error) {
  parsed<T> p;
  p.status = parse_status::bad;
  p.error = std::move(error);
  return p;
}

std::string first_bytes(std::string_view data) { return quote(data.substr(0, 40)); }

}  // namespace

// ---------------------------------------------------------------- HTTP

std::optional<std::string> http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

parsed<http_response> parse_http_head(std::string_view data, std::size_t max_head) {
  parsed<http_response> out;
  // Decide early on garbage: the first bytes must be able to start "HTTP/".
  const std::string_view magic = "HTTP/";
  const auto n = std::min(data.size(), magic.size());
  if (data.substr(0, n) != magic.substr(0, n)) return bad<http_response>("not an HTTP response: " + first_bytes(data));
  const auto window = data.substr(0, std::min(data.size(), max_head));

  auto status = next_line(window, 0);
  if (!status) {
    if (data.size() >= max_head)
      return bad<http_response>("no end of the status line in the first " + std::to_string(max_head) + " bytes");
    return out;
  }
  // HTTP/1.1 200 OK
  const auto line = status->text;
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos || sp < 6 || line.size() < sp + 4 || !is_digit(line[sp + 1]) ||
      !is_digit(line[sp + 2]) || !is_digit(line[sp + 3]) || (line.size() > sp + 4 && line[sp + 4] != ' '))
    return bad<http_response>("malformed status line " + quote(line.substr(0, 80)));
  auto& r = out.value;
  r.version = std::string(line.substr(0, sp));
  r.status = (line[sp + 1] - '0') * 100 + (line[sp + 2] - '0') * 10 + (line[sp + 3] - '0');
  if (r.status < 100 || r.status > 599)  // RFC 9110 15: 1xx..5xx
    return bad<http_response>("malformed status line " + quote(line.substr(0, 80)));
  if (line.size() > sp + 5) r.reason = std::string(trim(line.substr(sp + 5)));

  std::size_t pos = status->next;
  for (;;) {
    auto field = next_line(window, pos);
    if (!field) {
      if (data.size() >= max_head)
        return bad<http_response>("no end of the response head in the first " + std::to_string(max_head) + " bytes");
      return parsed<http_response>{};
    }
    pos = field->next;
    if (field->text.empty()) break;
    const auto colon = field->text.find(':');
    const auto name = colon == std::string_view::npos ? std::string_view() : field->text.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char))
      return bad<http_response>("malformed header line " + quote(field->text.substr(0, 80)));
    r.headers.emplace_back(lower(name), std::string(trim(field->text.substr(colon + 1))));
  }
  r.head_size = pos;
  out.status = parse_status::done;
  return out;
}

std::string http_request(std::string_view host, std::uint16_t port, bool tls, std::size_t size) {
  std::string h(host);
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  std::string request = "GET / HTTP/1.1\r\nHost: " + h + "\r\nUser-Agent: dropspot-prober\r\nAccept: */*\r\n";
  const std::string padding = "X-Dropspot-Padding: ";
  constexpr std::size_t max_size = 8000;  // under every server's header limit (nginx: 8k a line)
  const std::size_t tail = std::string_view("Connection: close\r\n\r\n").size();
  const std::size_t want = std::min(size, max_size);
  if (want > request.size() + tail + padding.size() + 2) {
    request += padding;
    request.append(want - request.size() - tail - 2, 'x');
    request += "\r\n";
  }
  return request + "Connection: close\r\n\r\n";
}

std::optional<std::size_t> http_body_want(const http_response& response, std::size_t cap) {
  // No body: HEAD is never sent; 1xx, 204 and 304 carry none (RFC 9112 6.3).
  if (response.status < 200 || response.status == 204 || response.status == 304) return 0;
  if (auto te = response.header("transfer-encoding"); te && !te->empty()) return std::nullopt;  // chunked: to the close
  if (auto cl = response.header("content-length")) {
    std::size_t n = 0;
    const auto* first = cl->data();
    const auto [end, ec] = std::from_chars(first, first + cl->size(), n);
    if (ec == std::errc() && end == first + cl->size()) return std::min(n, cap);
  }
  return std::nullopt;
}

v1::AppResult http_result(const http_response& response) {
  v1::AppResult r;
  auto& f = *r.mutable_fields();
  f["status"] = std::to_string(response.status);
  if (!response.reason.empty()) f["reason"] = escape(response.reason);
  std::string detail = "HTTP " + std::to_string(response.status);
  if (!response.reason.empty()) detail += " " + escape(response.reason);
  if (auto server = response.header("server")) {
    f["server"] = escape(*server);
    detail += ", Server " + escape(*server);
  }
  if (auto location = response.header("location")) {
    f["location"] = escape(*location);
    if (response.status >= 300 && response.status < 400) detail += ", redirects to " + escape(*location);
  }
  if (auto hsts = response.header("strict-transport-security")) {
    f["hsts"] = escape(*hsts);
    detail += ", HSTS";
  }
  r.set_ok(response.status < 500);
  if (response.status >= 500)
    detail += ": the server fails (its error log says why)";
  else if (response.status >= 400)
    detail += " (the server answers, but refuses /: check the site's configuration)";
  r.set_detail(detail);
  return r;
}

// ---------------------------------------------------------------- SMTP

parsed<smtp_reply> parse_smtp_reply(std::string_view data, std::size_t max_size) {
  parsed<smtp_reply> out;
  auto& r = out.value;
  std::size_t pos = 0;
  for (;;) {
    auto line = next_line(data, pos);
    if (!line) {
      const auto pending = data.size() - pos;
      if (pending > max_smtp_line) return bad<smtp_reply>("an SMTP reply line longer than 4096 bytes");
      if (data.size() > max_size)
        return bad<smtp_reply>("no end of the SMTP reply in the first " + std::to_string(max_size) + " bytes");
      // Judge a partial first line already, so garbage is bad at once.
      const auto part = data.substr(pos);
      for (std::size_t i = 0; i < std::min<std::size_t>(part.size(), 3); ++i)
        if (!is_digit(part[i])) return bad<smtp_reply>("not an SMTP reply: " + first_bytes(part));
      if (part.size() > 3 && part[3] != '-' && part[3] != ' ' && part[3] != '\r')
        return bad<smtp_reply>("not an SMTP reply: " + first_bytes(part));
      return out;
    }
    if (line->next - pos > max_smtp_line) return bad<smtp_reply>("an SMTP reply line longer than 4096 bytes");
    if (line->next > max_size)
      return bad<smtp_reply>("no end of the SMTP reply in the first " + std::to_string(max_size) + " bytes");
    const auto t = line->text;
    if (t.size() < 3 || !is_digit(t[0]) || !is_digit(t[1]) || !is_digit(t[2]) ||
        (t.size() > 3 && t[3] != '-' && t[3] != ' '))
      return bad<smtp_reply>("not an SMTP reply: " + first_bytes(t));
    const int code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
    if (code < 200 || code > 599) return bad<smtp_reply>("SMTP reply code out of range: " + first_bytes(t));
    if (r.code != 0 && code != r.code)
      return bad<smtp_reply>("SMTP reply lines with different codes (" + std::to_string(r.code) + ", " +
                             std::to_string(code) + ")");
    r.code = code;
    r.lines.emplace_back(t.size() > 4 ? t.substr(4) : std::string_view());
    pos = line->next;
    if (t.size() == 3 || t[3] == ' ') {
      r.size = pos;
      out.status = parse_status::done;
      return out;
    }
  }
}

std::vector<std::string> ehlo_capabilities(const smtp_reply& ehlo) {
  std::vector<std::string> caps;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) caps.emplace_back(trim(ehlo.lines[i]));
  return caps;
}

bool has_capability(const smtp_reply& ehlo, std::string_view keyword) {
  for (const auto& c : ehlo_capabilities(ehlo)) {
    const auto word = std::string_view(c).substr(0, c.find(' '));
    if (lower(word) == lower(keyword)) return true;
  }
  return false;
}

std::string smtp_reply_text(const smtp_reply& reply) {
  std::string s = std::to_string(reply.code);
  if (!reply.lines.empty() && !reply.lines.front().empty()) s += " " + escape(reply.lines.front());
  if (reply.lines.size() > 1) s += " (+" + std::to_string(reply.lines.size() - 1) + " lines)";
  return s;
}

// ---------------------------------------------------------------- IMAP

namespace {

/// Reads lines from pos for the IMAP/POP3 parsers: nullopt with need_more or
/// bad set in out when no complete line can be had.
template <class T>
std::optional<line_view> mail_line(std::string_view data, std::size_t pos, std::size_t max_size, const char* what,
                                   parsed<T>& out) {
  auto line = next_line(data, pos);
  const auto length = line ? line->next - pos : data.size() - pos;
  if (length > max_mail_line) {
    out = bad<T>(std::string("an ") + what + " line longer than 8192 bytes");
    return std::nullopt;
  }
  if ((line ? line->next : data.size()) > max_size) {
    out =
        bad<T>(std::string("no end of the ") + what + " response in the first " + std::to_string(max_size) + " bytes");
    return std::nullopt;
  }
  return line;
}

/// "OK [CODE] text" after the tag or "* ": the status word, upper-cased, and the rest.
std::pair<std::string, std::string> imap_status(std::string_view rest) {
  const auto space = rest.find(' ');
  std::string status = upper(rest.substr(0, space));
  std::string text = space == std::string_view::npos ? std::string() : std::string(trim(rest.substr(space + 1)));
  return {std::move(status), std::move(text)};
}

}  // namespace

parsed<imap_response> parse_imap_greeting(std::string_view data, std::size_t max_size) {
  parsed<imap_response> out;
  const std::string_view prefix = "* ";
  if (data.substr(0, prefix.size()) != prefix.substr(0, std::min(prefix.size(), data.size())))
    return bad<imap_response>("not an IMAP greeting: " + first_bytes(data));
  auto line = mail_line(data, 0, max_size, "IMAP", out);
  if (!line) return out;
  if (line->text.substr(0, 2) != prefix) return bad<imap_response>("not an IMAP greeting: " + first_bytes(data));
  auto [status, text] = imap_status(line->text.substr(2));
  if (status != "OK" && status != "PREAUTH" && status != "BYE")
    return bad<imap_response>("not an IMAP greeting: " + first_bytes(line->text));
  out.value.status = std::move(status);
  out.value.text = std::move(text);
  out.value.size = line->next;
  out.status = parse_status::done;
  return out;
}

parsed<imap_response> parse_imap_response(std::string_view data, std::string_view tag, std::size_t max_size) {
  parsed<imap_response> out;
  std::size_t pos = 0;
  for (;;) {
    auto line = mail_line(data, pos, max_size, "IMAP", out);
    if (!line) return out;
    const auto t = line->text;
    pos = line->next;
    if (t.substr(0, 2) == "* ") {
      out.value.untagged.emplace_back(t.substr(2));
      continue;
    }
    if (t.size() > tag.size() && t.substr(0, tag.size()) == tag && t[tag.size()] == ' ') {
      auto [status, text] = imap_status(t.substr(tag.size() + 1));
      if (status != "OK" && status != "NO" && status != "BAD")
        return bad<imap_response>("not an IMAP response: " + first_bytes(t));
      out.value.status = std::move(status);
      out.value.text = std::move(text);
      out.value.size = pos;
      out.status = parse_status::done;
      return out;
    }
    return bad<imap_response>("not an IMAP response: " + first_bytes(t));
  }
}

std::vector<std::string> imap_capabilities(const imap_response& response) {
  std::string_view list;
  for (const auto& u : response.untagged)
    if (upper(std::string_view(u).substr(0, 11)) == "CAPABILITY ") list = std::string_view(u).substr(11);
  std::string_view text = response.text;
  if (list.empty() && upper(text.substr(0, 12)) == "[CAPABILITY ") {
    const auto close = text.find(']');
    if (close != std::string_view::npos) list = text.substr(12, close - 12);
  }
  std::vector<std::string> caps;
  while (!list.empty()) {
    const auto space = list.find(' ');
    const auto word = list.substr(0, space);
    if (!word.empty()) caps.emplace_back(escape(word));
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return caps;
}

// ---------------------------------------------------------------- POP3

parsed<pop3_reply> parse_pop3_reply(std::string_view data, bool multiline, std::size_t max_size) {
  parsed<pop3_reply> out;
  const auto starts = [&](std::string_view status) {
    return data.substr(0, status.size()) == status.substr(0, std::min(status.size(), data.size()));
  };
  if (!starts("+OK") && !starts("-ERR")) return bad<pop3_reply>("not a POP3 reply: " + first_bytes(data));
  auto line = mail_line(data, 0, max_size, "POP3", out);
  if (!line) return out;
  const auto t = line->text;
  auto& r = out.value;
  r.ok = t.substr(0, 3) == "+OK";
  const auto rest = t.substr(r.ok ? 3 : 4);
  if (!rest.empty() && rest.front() != ' ') return bad<pop3_reply>("not a POP3 reply: " + first_bytes(t));
  r.text = std::string(trim(rest));
  std::size_t pos = line->next;
  if (multiline && r.ok) {
    for (;;) {
      auto next = mail_line(data, pos, max_size, "POP3", out);
      if (!next) return out;
      pos = next->next;
      if (next->text == ".") break;
      auto text = next->text;
      if (text.substr(0, 2) == "..") text.remove_prefix(1);
      r.lines.emplace_back(text);
    }
  }
  r.size = pos;
  out.status = parse_status::done;
  return out;
}

// ---------------------------------------------------------------- SSH

parsed<ssh_ident> parse_ssh_ident(std::string_view data, std::size_t max_size) {
  parsed<ssh_ident> out;
  // Only the lines up to the identification count: binary packets follow it.
  const auto has_nul = [](std::string_view t) { return t.find('\0') != std::string_view::npos; };
  std::size_t pos = 0;
  std::size_t lines = 0;
  for (;;) {
    auto line = next_line(data, pos);
    if (!line) {
      const auto part = data.substr(pos);
      if (has_nul(part)) return bad<ssh_ident>("not an SSH server: " + first_bytes(part));
      if (part.size() >= max_ssh_line) return bad<ssh_ident>("a line longer than 255 bytes: " + first_bytes(part));
      if (data.size() >= max_size)
        return bad<ssh_ident>("no SSH identification in the first " + std::to_string(max_size) + " bytes");
      return out;
    }
    if (line->next - pos > max_ssh_line)
      return bad<ssh_ident>("a line longer than 255 bytes: " + first_bytes(line->text));
    pos = line->next;
    const auto t = line->text;
    if (has_nul(t)) return bad<ssh_ident>("not an SSH server: " + first_bytes(t));
    if (t.substr(0, 4) != "SSH-") {
      ++lines;
      if (pos >= max_size)
        return bad<ssh_ident>("no SSH identification in the first " + std::to_string(max_size) + " bytes; first line " +
                              first_bytes(data));
      continue;
    }
    // SSH-protoversion-softwareversion SP comments
    auto& id = out.value;
    id.line = std::string(t);
    const auto rest = t.substr(4);
    const auto dash = rest.find('-');
    if (dash == std::string_view::npos || dash == 0) return bad<ssh_ident>("malformed SSH identification " + quote(t));
    id.protocol = std::string(rest.substr(0, dash));
    const auto sw = rest.substr(dash + 1);
    const auto space = sw.find(' ');
    id.software = std::string(sw.substr(0, space));
    if (space != std::string_view::npos) id.comments = std::string(sw.substr(space + 1));
    if (id.software.empty()) return bad<ssh_ident>("malformed SSH identification " + quote(t));
    for (unsigned char c : t)
      if (c < 0x20 || c >= 0x7f) return bad<ssh_ident>("malformed SSH identification " + quote(t));
    id.preamble = lines;
    id.size = pos;
    out.status = parse_status::done;
    return out;
  }
}

namespace {

std::uint32_t be32(std::string_view d, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(d[at])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(d[at + 1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(d[at + 2])} << 8) | static_cast<unsigned char>(d[at + 3]);
}

/// A name-list at `at` of payload (uint32 length, comma-separated ASCII);
/// nullopt when it does not fit.
std::optional<std::vector<std::string>> name_list(std::string_view payload, std::size_t& at) {
  if (payload.size() < at + 4) return std::nullopt;
  const auto n = be32(payload, at);
  if (payload.size() - at - 4 < n) return std::nullopt;
  std::vector<std::string> names;
  std::string_view list = payload.substr(at + 4, n);
  at += 4 + n;
  while (!list.empty()) {
    const auto comma = list.find(',');
    names.push_back(escape(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return names;
}

void put_list(std::string& out, const std::string& list) {
  put32(out, static_cast<std::uint32_t>(list.size()));
  out += list;
}

}  // namespace

parsed<ssh_kexinit> parse_ssh_kexinit(std::string_view data, std::size_t max_size) {
  parsed<ssh_kexinit> out;
  if (data.size() < 5) return out;
  const auto length = be32(data, 0);
  if (length < 12 || length > max_size)
    return bad<ssh_kexinit>("not an SSH binary packet after the identification (length " + std::to_string(length) +
                            ")");
  const auto padding = static_cast<unsigned char>(data[4]);
  if (padding + 1u > length) return bad<ssh_kexinit>("a malformed SSH packet (padding longer than the packet)");
  if (data.size() < 4 + std::size_t{length}) return out;
  const auto payload = data.substr(5, length - padding - 1);
  if (payload.empty() || payload[0] != 20)
    return bad<ssh_kexinit>("the server's first SSH packet is message " +
                            std::to_string(payload.empty() ? 0 : static_cast<unsigned char>(payload[0])) +
                            ", not the key exchange's KEXINIT (20)");
  std::size_t at = 1 + 16;  // the message number, the cookie
  auto kex = name_list(payload, at);
  auto host_key = kex ? name_list(payload, at) : std::nullopt;
  if (!kex || !host_key) return bad<ssh_kexinit>("a malformed KEXINIT (its name-lists do not fit)");
  out.value.kex = std::move(*kex);
  out.value.host_key = std::move(*host_key);
  out.value.size = 4 + std::size_t{length};
  out.status = parse_status::done;
  return out;
}

std::string ssh_client_hello(std::size_t size) {
  std::string kex =
      "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
      "ecdh-sha2-nistp256,diffie-hellman-group14-sha256";
  // Names nobody implements are skipped in negotiation (RFC 4253 7.1).
  for (int i = 0; kex.size() < size; ++i) kex += ",x-pad-" + std::to_string(i) + "-0123456789abcdef@dropspot.invalid";
  std::string payload(1, '\x14');      // SSH_MSG_KEXINIT
  payload += std::string(16, '\x2a');  // the cookie: random in a real client, nothing depends on it here
  put_list(payload, kex);
  put_list(payload, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256");
  for (int i = 0; i < 2; ++i) put_list(payload, "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com");
  for (int i = 0; i < 2; ++i) put_list(payload, "hmac-sha2-256-etm@openssh.com,hmac-sha2-256");
  for (int i = 0; i < 2; ++i) put_list(payload, "none");
  for (int i = 0; i < 2; ++i) put_list(payload, "");
  payload += std::string(1, '\0');  // first_kex_packet_follows
  put32(payload, 0);                // reserved
  // Padding to a multiple of 8 with the 5-byte header, at least 4 bytes.
  std::size_t padding = 8 - (payload.size() + 5) % 8;
  if (padding < 4) padding += 8;
  std::string packet;
  put32(packet, static_cast<std::uint32_t>(payload.size() + padding + 1));
  packet += static_cast<char>(padding);
  packet += payload;
  packet += std::string(padding, '\0');
  return "SSH-2.0-dropspot_prober\r\n" + packet;
}

// ---------------------------------------------------------------- banner

std::string banner_text(std::string_view data, std::size_t max_chars) {
  const bool cut = data.size() > max_chars;
  data = data.substr(0, max_chars);
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.remove_suffix(1);
  return escape(data) + (cut ? "..." : "");
}

std::string default_probe_kind(std::uint16_t port) {
  switch (port) {
    case 22: return "ssh";
    case 25:
    case 587: return "smtp";
    case 465: return "smtps";
    case 80:
    case 8080: return "http";
    case 443:
    case 8443: return "https";
    case 143: return "imap";
    case 993: return "imaps";
    case 110: return "pop3";
    case 995: return "pop3s";
    default: return "tcp";
  }
}

}  // namespace dropspot::prober::app
