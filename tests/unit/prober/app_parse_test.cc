// The application probes' pure parsers (prober/app/parse.h): well-formed
// answers, answers split at every byte, and malformed input: garbage, binary
// bytes, half lines, oversized answers.
#include <catch2/catch.hpp>
#include <string>

#include "prober/app/parse.h"

using namespace dropspot::prober::app;

namespace {

/// Every proper prefix of a complete answer is need_more (or, for a prefix
/// that already cannot be valid, nothing else), and the whole is done.
template <class Parse>
void check_prefixes(Parse parse, const std::string& whole, std::size_t cap) {
  for (std::size_t n = 0; n < whole.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    const auto p = parse(std::string_view(whole).substr(0, n), cap);
    CHECK(p.status == parse_status::need_more);
  }
  CHECK(parse(whole, cap).status == parse_status::done);
}

}  // namespace

TEST_CASE("HTTP head: status, reason, headers, head size") {
  const std::string head =
      "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nLocation: https://lab.test/\r\n"
      "Strict-Transport-Security:  max-age=31536000 \r\n\r\n";
  const auto p = parse_http_head(head + "<html>body</html>", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.version == "HTTP/1.1");
  CHECK(p.value.status == 301);
  CHECK(p.value.reason == "Moved Permanently");
  CHECK(p.value.head_size == head.size());
  CHECK(p.value.header("server") == "nginx/1.22.1");
  CHECK(p.value.header("strict-transport-security") == "max-age=31536000");
  CHECK_FALSE(p.value.header("content-type").has_value());
  check_prefixes(parse_http_head, head, 65536);
}

TEST_CASE("HTTP head: bare LF line ends and a status line without reason") {
  const auto p = parse_http_head("HTTP/1.0 200\nContent-Length: 0\n\n", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.status == 200);
  CHECK(p.value.reason.empty());
}

TEST_CASE("HTTP head: malformed input is bad, not need_more") {
  CHECK(parse_http_head("SSH-2.0-OpenSSH_9.2\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head(std::string("\x16\x03\x01\x00", 4), 65536).status == parse_status::bad);  // a TLS record
  CHECK(parse_http_head("HTTP/1.1 abc OK\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 20\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 2000 OK\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 099 Low\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n", 65536).status == parse_status::bad);
  CHECK(parse_http_head("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", 65536).status == parse_status::bad);
  const auto garbage = parse_http_head("<html>", 65536);
  CHECK(garbage.status == parse_status::bad);
  CHECK(garbage.error.find("not an HTTP response") != std::string::npos);
}

TEST_CASE("HTTP head: a head that never ends is bad at the cap") {
  std::string big = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(10 * 1024 * 1024, 'a');
  const auto p = parse_http_head(big, 65536);
  CHECK(p.status == parse_status::bad);
  CHECK(p.error.find("65536") != std::string::npos);
  // Below the cap it is still a prefix.
  CHECK(parse_http_head(std::string_view(big).substr(0, 1000), 65536).status == parse_status::need_more);
  // An endless status line too.
  CHECK(parse_http_head("HTTP/1.1 200 " + std::string(70000, 'x'), 65536).status == parse_status::bad);
}

TEST_CASE("HTTP result: 2xx/3xx/4xx pass, 5xx fails, fields escaped") {
  http_response r;
  r.status = 503;
  r.reason = "Service Unavailable";
  auto a = http_result(r);
  CHECK_FALSE(a.ok());
  CHECK(a.detail().find("HTTP 503 Service Unavailable") == 0);
  r.status = 404;
  r.reason = "Not Found";
  a = http_result(r);
  CHECK(a.ok());
  CHECK(a.detail().find("refuses") != std::string::npos);
  r.status = 301;
  r.headers = {{"location", "https://lab.test/"}, {"server", "nginx\x1b[31m"}};
  a = http_result(r);
  CHECK(a.ok());
  CHECK(a.fields().at("location") == "https://lab.test/");
  CHECK(a.fields().at("server") == "nginx\\x1b[31m");
  CHECK(a.detail().find("redirects to https://lab.test/") != std::string::npos);
}

TEST_CASE("HTTP request: Host with the port unless default, IPv6 in brackets") {
  CHECK(http_request("lab.test", 80, false).find("\r\nHost: lab.test\r\n") != std::string::npos);
  CHECK(http_request("lab.test", 443, true).find("\r\nHost: lab.test\r\n") != std::string::npos);
  CHECK(http_request("lab.test", 8080, false).find("\r\nHost: lab.test:8080\r\n") != std::string::npos);
  CHECK(http_request("2001:db8::1", 443, false).find("\r\nHost: [2001:db8::1]:443\r\n") != std::string::npos);
  CHECK(http_request("lab.test", 80, false).rfind("\r\n\r\n") == http_request("lab.test", 80, false).size() - 4);
}

TEST_CASE("SMTP reply: one line, multi-line, bare LF") {
  auto p = parse_smtp_reply("220 mail.lab.test ESMTP\r\nleft over", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.code == 220);
  CHECK(p.value.lines == std::vector<std::string>{"mail.lab.test ESMTP"});
  CHECK(p.value.size == 25);

  const std::string ehlo = "250-mail.lab.test\r\n250-PIPELINING\r\n250-starttls\r\n250 SIZE 10240000\r\n";
  p = parse_smtp_reply(ehlo, 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.lines.size() == 4);
  CHECK(ehlo_capabilities(p.value) == std::vector<std::string>{"PIPELINING", "starttls", "SIZE 10240000"});
  CHECK(has_capability(p.value, "STARTTLS"));
  CHECK(has_capability(p.value, "size"));
  CHECK_FALSE(has_capability(p.value, "AUTH"));
  CHECK(smtp_reply_text(p.value) == "250 mail.lab.test (+3 lines)");
  check_prefixes(parse_smtp_reply, ehlo, 65536);

  p = parse_smtp_reply("554\n", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.code == 554);
  CHECK(smtp_reply_text(p.value) == "554");
}

TEST_CASE("SMTP reply: malformed input") {
  CHECK(parse_smtp_reply("SSH-2.0-x\r\n", 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply("HTTP/1.1 200 OK", 65536).status == parse_status::bad);  // judged before a line end
  CHECK(parse_smtp_reply("2x0 hi\r\n", 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply("220_hi\r\n", 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply("999 out of range\r\n", 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply("250-a\r\n251 b\r\n", 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply(std::string("\0\xff\x10", 3), 65536).status == parse_status::bad);
  // A line longer than 4096 bytes, complete or not.
  CHECK(parse_smtp_reply("220 " + std::string(5000, 'a'), 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply("220 " + std::string(5000, 'a') + "\r\n", 65536).status == parse_status::bad);
  // Continuation lines without end: bad at the cap.
  std::string many;
  while (many.size() < 70000) many += "250-more\r\n";
  CHECK(parse_smtp_reply(many, 65536).status == parse_status::bad);
  CHECK(parse_smtp_reply(std::string_view(many).substr(0, 1000), 65536).status == parse_status::need_more);
}

TEST_CASE("IMAP greeting: Dovecot's, with its capabilities; PREAUTH and BYE") {
  const std::string dovecot =
      "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] "
      "Dovecot (Debian) ready.\r\n";
  auto p = parse_imap_greeting(dovecot + "a1", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.status == "OK");
  CHECK(p.value.size == dovecot.size());
  const auto caps = imap_capabilities(p.value);
  CHECK(caps == std::vector<std::string>{"IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "LITERAL+",
                                         "STARTTLS", "LOGINDISABLED"});
  check_prefixes(parse_imap_greeting, dovecot, 65536);

  p = parse_imap_greeting("* ok IMAP4 server ready\n", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.status == "OK");
  CHECK(imap_capabilities(p.value).empty());
  CHECK(parse_imap_greeting("* PREAUTH logged in\r\n", 65536).value.status == "PREAUTH");
  CHECK(parse_imap_greeting("* BYE too many connections\r\n", 65536).value.status == "BYE");
}

TEST_CASE("IMAP greeting: not IMAP is bad at once") {
  CHECK(parse_imap_greeting("220 smtp", 65536).status == parse_status::bad);  // before a line end
  CHECK(parse_imap_greeting("+OK pop3\r\n", 65536).status == parse_status::bad);
  CHECK(parse_imap_greeting("* HELLO there\r\n", 65536).status == parse_status::bad);
  CHECK(parse_imap_greeting("a1 OK\r\n", 65536).status == parse_status::bad);
  CHECK(parse_imap_greeting("* OK " + std::string(9000, 'x'), 65536).status == parse_status::bad);
  CHECK(parse_imap_greeting("* OK " + std::string(6000, 'x'), 4096).status == parse_status::bad);
}

TEST_CASE("IMAP response: untagged lines, then the tagged completion") {
  const std::string capability =
      "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN\r\n"
      "a3 OK Pre-login capabilities listed, post-login capabilities have more.\r\n";
  auto p = parse_imap_response(capability, "a3", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.status == "OK");
  CHECK(p.value.size == capability.size());
  REQUIRE(p.value.untagged.size() == 1);
  CHECK(imap_capabilities(p.value).back() == "AUTH=PLAIN");
  for (std::size_t n = 0; n < capability.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(parse_imap_response(std::string_view(capability).substr(0, n), "a3", 65536).status ==
          parse_status::need_more);
  }
  // Another tag's line, or a status that is none of OK/NO/BAD: not this
  // command's answer.
  CHECK(parse_imap_response("a2 OK done\r\n", "a3", 65536).status == parse_status::bad);
  CHECK(parse_imap_response("a3 MAYBE\r\n", "a3", 65536).status == parse_status::bad);
  CHECK(parse_imap_response("a3 no [UNAVAILABLE] later\r\n", "a3", 65536).value.status == "NO");
  CHECK(parse_imap_response("garbage\r\n", "a3", 65536).status == parse_status::bad);
  // A capability list in the completion's response code counts too.
  p = parse_imap_response("a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Logged in\r\n", "a1", 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(imap_capabilities(p.value) == std::vector<std::string>{"IMAP4rev1", "AUTH=PLAIN"});
  // Untagged lines without end: bad at the cap.
  std::string many;
  while (many.size() < 70000) many += "* OK still here\r\n";
  CHECK(parse_imap_response(many, "a1", 65536).status == parse_status::bad);
}

TEST_CASE("POP3 reply: one line, CAPA's multi-line list, -ERR") {
  const std::string greeting = "+OK Dovecot (Debian) ready.\r\n";
  auto p = parse_pop3_reply(greeting, false, 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.ok);
  CHECK(p.value.text == "Dovecot (Debian) ready.");
  check_prefixes([](std::string_view d, std::size_t c) { return parse_pop3_reply(d, false, c); }, greeting, 65536);

  const std::string capa =
      "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n"
      "..dot-stuffed\r\n.\r\nleft";
  p = parse_pop3_reply(capa, true, 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.ok);
  CHECK(p.value.text.empty());
  CHECK(p.value.lines == std::vector<std::string>{"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE",
                                                  "STLS", ".dot-stuffed"});
  CHECK(p.value.size == capa.size() - 4);
  for (std::size_t n = 0; n < capa.size() - 4; ++n) {
    INFO("prefix of " << n << " bytes");
    CHECK(parse_pop3_reply(std::string_view(capa).substr(0, n), true, 65536).status == parse_status::need_more);
  }
  // -ERR ends a multi-line command at its first line.
  p = parse_pop3_reply("-ERR unknown command\r\n", true, 65536);
  REQUIRE(p.status == parse_status::done);
  CHECK_FALSE(p.value.ok);
  CHECK(p.value.text == "unknown command");
}

TEST_CASE("POP3 reply: malformed input") {
  CHECK(parse_pop3_reply("* OK imap", false, 65536).status == parse_status::bad);  // before a line end
  CHECK(parse_pop3_reply("+OKAY\r\n", false, 65536).status == parse_status::bad);
  CHECK(parse_pop3_reply("-ERRx\r\n", false, 65536).status == parse_status::bad);
  CHECK(parse_pop3_reply(std::string("\0\xff", 2), false, 65536).status == parse_status::bad);
  CHECK(parse_pop3_reply("+OK " + std::string(9000, 'x'), false, 65536).status == parse_status::bad);
  std::string endless = "+OK\r\n";
  while (endless.size() < 70000) endless += "SASL PLAIN\r\n";
  CHECK(parse_pop3_reply(endless, true, 65536).status == parse_status::bad);
}

TEST_CASE("SSH identification: plain, with comments, after other lines") {
  // Binary packets after the line (the server's KEXINIT) are not looked at.
  auto p = parse_ssh_ident(std::string("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\0\0\x01\xff\n", 37), 8192);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.line == "SSH-2.0-OpenSSH_9.2p1 Debian-2");
  CHECK(p.value.protocol == "2.0");
  CHECK(p.value.software == "OpenSSH_9.2p1");
  CHECK(p.value.comments == "Debian-2");
  CHECK(p.value.preamble == 0);
  check_prefixes(parse_ssh_ident, "SSH-2.0-dropbear_2022.83\r\n", 8192);

  p = parse_ssh_ident("Welcome\r\nauthorised use only\nSSH-1.99-Cisco-1.25\n", 8192);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.protocol == "1.99");
  CHECK(p.value.software == "Cisco-1.25");
  CHECK(p.value.preamble == 2);
}

TEST_CASE("SSH identification: its size, where the binary packets start") {
  const auto p = parse_ssh_ident("Welcome\r\nSSH-2.0-OpenSSH_9.2p1\r\n\0\0", 8192);
  REQUIRE(p.status == parse_status::done);
  CHECK(p.value.size == 32);
}

TEST_CASE("SSH KEXINIT: ours, read back; the server's cut anywhere; malformed ones") {
  const std::string hello = ssh_client_hello(1460);
  const std::string id = "SSH-2.0-dropspot_prober\r\n";
  REQUIRE(hello.rfind(id, 0) == 0);
  const std::string packet = hello.substr(id.size());
  CHECK(packet.size() >= 1460);   // fills a full-size packet
  CHECK(packet.size() % 8 == 0);  // RFC 4253 6: the packet a multiple of the block size (8)
  auto k = parse_ssh_kexinit(packet + "trailing", 35000);
  REQUIRE(k.status == parse_status::done);
  CHECK(k.value.size == packet.size());
  REQUIRE(k.value.kex.size() > 5);
  CHECK(k.value.kex[1] == "curve25519-sha256");
  CHECK(k.value.host_key.front() == "ssh-ed25519");
  // Unpadded: no names of ours beyond the real ones.
  const auto small = parse_ssh_kexinit(ssh_client_hello(0).substr(id.size()), 35000);
  REQUIRE(small.status == parse_status::done);
  CHECK(small.value.kex.size() == 5);
  for (std::size_t cut = 0; cut < packet.size(); cut += 97)
    CHECK(parse_ssh_kexinit(packet.substr(0, cut), 35000).status == parse_status::need_more);

  const auto bad = [](std::string data) { return parse_ssh_kexinit(data, 35000).status == parse_status::bad; };
  CHECK(bad(std::string("\0\0\0\x04\x02xyz", 8)));  // shorter than any packet
  CHECK(bad(std::string("\0\x10\0\0\x04", 5)));     // 1 MiB: over the limit
  CHECK(bad("HTTP/1.1 400 Bad Request\r\n"));       // not a binary packet at all
  std::string other = packet;
  other[5] = 21;  // NEWKEYS, not KEXINIT
  CHECK(bad(other));
  std::string overlong = packet;
  overlong[5 + 17 + 1] = '\x7f';  // the kex name-list claims more than the payload holds
  CHECK(bad(overlong));
  CHECK(bad(std::string("\0\0\0\x10\xc8", 5) + std::string(16, '\x14')));  // padding longer than the packet
}

TEST_CASE("SSH identification: malformed input") {
  CHECK(parse_ssh_ident(std::string("SSH-2.0-x\0y\r\n", 13), 8192).status == parse_status::bad);
  CHECK(parse_ssh_ident("SSH-2.0-\r\n", 8192).status == parse_status::bad);
  CHECK(parse_ssh_ident("SSH-2.0\r\n", 8192).status == parse_status::bad);
  CHECK(parse_ssh_ident("SSH--x\r\n", 8192).status == parse_status::bad);
  CHECK(parse_ssh_ident("SSH-2.0-x\x7f\r\n", 8192).status == parse_status::bad);
  // Half a line is need_more (the probe's deadline ends it), a long one bad.
  CHECK(parse_ssh_ident("SSH-2.0-Half", 8192).status == parse_status::need_more);
  CHECK(parse_ssh_ident(std::string(300, 'x'), 8192).status == parse_status::bad);
  CHECK(parse_ssh_ident(std::string(300, 'x') + "\n", 8192).status == parse_status::bad);
  // Short lines that never become an identification: bad at the cap.
  std::string lines;
  while (lines.size() < 9000) lines += "hello\r\n";
  const auto p = parse_ssh_ident(lines, 8192);
  CHECK(p.status == parse_status::bad);
  CHECK(p.error.find("no SSH identification") != std::string::npos);
}

TEST_CASE("banner text is escaped, line ends trimmed, capped") {
  CHECK(banner_text("220 ftp ready\r\n") == "220 ftp ready");
  CHECK(banner_text(std::string("\x00\xff\x1b[2J", 6)) == "\\x00\\xff\\x1b[2J");
  CHECK(banner_text("a\r\nb\r\n") == "a\\r\\nb");
  CHECK(banner_text(std::string(1000, 'x'), 10) == "xxxxxxxxxx...");
}

TEST_CASE("default probe kind by well-known port") {
  CHECK(default_probe_kind(22) == "ssh");
  CHECK(default_probe_kind(25) == "smtp");
  CHECK(default_probe_kind(587) == "smtp");
  CHECK(default_probe_kind(465) == "smtps");
  CHECK(default_probe_kind(80) == "http");
  CHECK(default_probe_kind(8080) == "http");
  CHECK(default_probe_kind(443) == "https");
  CHECK(default_probe_kind(8443) == "https");
  CHECK(default_probe_kind(143) == "imap");
  CHECK(default_probe_kind(993) == "imaps");
  CHECK(default_probe_kind(110) == "pop3");
  CHECK(default_probe_kind(995) == "pop3s");
  CHECK(default_probe_kind(3306) == "tcp");
  CHECK(default_probe_kind(0) == "tcp");
}
