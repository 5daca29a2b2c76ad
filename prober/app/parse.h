#pragma once
// Pure parsers for what application servers send: an HTTP response head, an
// SMTP reply (multi-line), an SSH identification line, a banner. They never
// touch a socket: the probes (prober/app/probes.h) feed them the bytes read
// so far and read more while the answer is need_more. Every parser takes a
// size cap and answers bad past it, so a 10 MB answer or binary garbage ends
// the probe instead of filling memory.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot::prober::app {

enum class parse_status {
  need_more,  ///< a prefix of a valid answer: read more
  done,       ///< complete; the value is filled
  bad,        ///< not a valid answer (or over the cap); the error says why
};

template <class T>
struct parsed {
  parse_status status = parse_status::need_more;
  T value{};
  std::string error;  ///< with bad: one line, network bytes already escaped
};

// ---------------------------------------------------------------- HTTP

struct http_response {
  std::string version;  ///< "HTTP/1.1"
  int status = 0;       ///< 100..599
  std::string reason;   ///< "OK"
  /// Header fields in order, names lower-cased, values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t head_size = 0;  ///< bytes up to and including the empty line

  /// The first field with this (lower-case) name.
  std::optional<std::string> header(std::string_view name) const;
};

/// Parses the status line and header fields of an HTTP/1.x response (CRLF or
/// bare LF line ends); the body is not looked at. bad: not HTTP, a malformed
/// status line or header, or no end of the head within max_head bytes.
parsed<http_response> parse_http_head(std::string_view data, std::size_t max_head);

/// The request a probe sends: GET / with Host (host:port unless port is the
/// scheme's default; IPv6 literals in brackets), User-Agent, Connection: close;
/// with size, an X-Dropspot-Padding field makes it at least size bytes long
/// (servers accept 8 KB of header fields and more; size is capped there).
std::string http_request(std::string_view host, std::uint16_t port, bool tls, std::size_t size = 0);

/// How much of the body a probe reads: up to Content-Length or the cap.
/// nullopt: until the server closes (no length given; Connection: close asked for).
std::optional<std::size_t> http_body_want(const http_response& response, std::size_t cap);

/// The application result of a parsed response: fields status, reason, server,
/// location, hsts; 5xx fails, 4xx passes with a note, 3xx names the target.
/// Does not set kind.
v1::AppResult http_result(const http_response& response);

// ---------------------------------------------------------------- SMTP

struct smtp_reply {
  int code = 0;                    ///< 200..599
  std::vector<std::string> lines;  ///< the text of each line, without code and separator
  std::size_t size = 0;            ///< bytes consumed, line ends included
};

/// Parses one SMTP reply, "250-first" ... "250 last" (RFC 5321 4.2; bare LF
/// accepted). bad: a line without a 3-digit code, codes that differ between
/// lines, a line longer than 4096 bytes, or more than max_size bytes.
parsed<smtp_reply> parse_smtp_reply(std::string_view data, std::size_t max_size);

/// EHLO capabilities: the lines after the first, as sent ("SIZE 10240000",
/// "STARTTLS", "PIPELINING").
std::vector<std::string> ehlo_capabilities(const smtp_reply& ehlo);

/// Whether the EHLO reply offers a capability (keyword, any case).
bool has_capability(const smtp_reply& ehlo, std::string_view keyword);

/// "220 mail.example ESMTP Postfix" (first line) plus " (+N lines)" when more.
std::string smtp_reply_text(const smtp_reply& reply);

// ---------------------------------------------------------------- IMAP

struct imap_response {
  /// Untagged lines before the completion, without "* " ("CAPABILITY IMAP4rev1 ...").
  std::vector<std::string> untagged;
  std::string status;    ///< OK, NO or BAD (tagged); OK, PREAUTH or BYE (greeting); upper case
  std::string text;      ///< the rest of the completing line ("[CAPABILITY ...] Dovecot ready.")
  std::size_t size = 0;  ///< bytes consumed, line ends included
};

/// The server greeting (RFC 9051 7.1): one line "* OK|PREAUTH|BYE text".
/// bad: anything else, a line longer than 8192 bytes, or past max_size.
parsed<imap_response> parse_imap_greeting(std::string_view data, std::size_t max_size);

/// A command's response (RFC 9051 2.2.2): untagged "* " lines, then the line
/// that starts with tag. bad: a line of neither kind, a status other than
/// OK/NO/BAD, a line longer than 8192 bytes, or past max_size.
parsed<imap_response> parse_imap_response(std::string_view data, std::string_view tag, std::size_t max_size);

/// The capabilities a response names: a "* CAPABILITY ..." line, or the
/// "[CAPABILITY ...]" response code of its completion (RFC 9051 7.1).
std::vector<std::string> imap_capabilities(const imap_response& response);

// ---------------------------------------------------------------- POP3

struct pop3_reply {
  bool ok = false;                 ///< +OK, not -ERR
  std::string text;                ///< the first line after the status
  std::vector<std::string> lines;  ///< a multi-line reply's lines, dot-unstuffed, without the final "."
  std::size_t size = 0;            ///< bytes consumed, line ends included
};

/// One POP3 reply (RFC 1939 3): "+OK text" or "-ERR text"; with multiline, an
/// +OK reply goes on to a line holding a single ".". bad: another first line,
/// a line longer than 8192 bytes, or past max_size.
parsed<pop3_reply> parse_pop3_reply(std::string_view data, bool multiline, std::size_t max_size);

// ---------------------------------------------------------------- SSH

struct ssh_ident {
  std::string line;          ///< "SSH-2.0-OpenSSH_9.2p1 Debian-2" (no line end)
  std::string protocol;      ///< "2.0" (or "1.99")
  std::string software;      ///< "OpenSSH_9.2p1"
  std::string comments;      ///< "Debian-2"
  std::size_t preamble = 0;  ///< lines the server sent before it (RFC 4253 4.2 allows some)
  std::size_t size = 0;      ///< bytes up to the end of the identification line
};

/// Finds the identification line "SSH-protoversion-softwareversion [comments]"
/// (RFC 4253 4.2), after optional other lines. bad: a NUL byte, a line longer
/// than 255 bytes, an identification without software version, or none within
/// max_size bytes. Any protocol version is done ("1.5" too): the caller judges.
parsed<ssh_ident> parse_ssh_ident(std::string_view data, std::size_t max_size);

/// The server's SSH_MSG_KEXINIT (RFC 4253 7.1): the first binary packet after
/// the identification, its algorithms in order of preference.
struct ssh_kexinit {
  std::vector<std::string> kex;       ///< key exchange methods
  std::vector<std::string> host_key;  ///< host key algorithms
  std::size_t size = 0;               ///< the packet's bytes on the wire
};

/// Parses the first binary packet (RFC 4253 6: uint32 length, padding
/// length, payload, padding; no MAC yet) as a KEXINIT. bad: a length under
/// 12 or over max_size, padding longer than the packet, another message, or
/// name-lists that do not fit the payload.
parsed<ssh_kexinit> parse_ssh_kexinit(std::string_view data, std::size_t max_size);

/// Our identification and KEXINIT for the SSH probe: the algorithms OpenSSH
/// offers, the kex list padded with names nobody implements (ignored, RFC
/// 4253 7.1) to at least `size` bytes so that it fills a full-size packet.
std::string ssh_client_hello(std::size_t size);

// ---------------------------------------------------------------- banner

/// What a service said first, for people: at most max_chars bytes of it,
/// trailing line ends removed, control and non-ASCII bytes escaped.
std::string banner_text(std::string_view data, std::size_t max_chars = 200);

/// The probe kind for a port without --probe: 22 ssh; 25, 587 smtp; 465
/// smtps; 80, 8080 http; 443, 8443 https; 143 imap; 993 imaps; 110 pop3;
/// 995 pop3s; otherwise tcp.
std::string default_probe_kind(std::uint16_t port);

}  // namespace dropspot::prober::app
