#include "prober/app/udp.h"

#include <array>
#include <cstdio>
#include <vector>

#include "common/bytes.h"
#include "common/text.h"

namespace dropspot::prober::app {

namespace {

/// A read-only view with bounds-checked big-endian reads.
struct bytes_view {
  std::string_view data;
  bool has(std::size_t at, std::size_t n) const { return at <= data.size() && n <= data.size() - at; }
  std::uint8_t u8(std::size_t at) const { return static_cast<std::uint8_t>(data[at]); }
  std::uint16_t u16(std::size_t at) const { return static_cast<std::uint16_t>(u8(at) << 8 | u8(at + 1)); }
  std::uint32_t u32(std::size_t at) const { return std::uint32_t{u16(at)} << 16 | u16(at + 2); }
  std::uint64_t u64(std::size_t at) const { return std::uint64_t{u32(at)} << 32 | u32(at + 4); }
};

/// n bytes from `random`, repeated as needed (never empty: a fixed fill).
std::string fill(std::string_view random, std::size_t n, std::size_t offset = 0) {
  if (random.empty()) random = "dropspot";
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out += random[(offset + i) % random.size()];
  return out;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

v1::AppResult result(std::string_view kind, bool ok, std::string detail) {
  v1::AppResult r;
  r.set_kind(std::string(kind));
  r.set_ok(ok);
  r.set_detail(std::move(detail));
  return r;
}

// ---------------------------------------------------------------- DNS

constexpr std::uint16_t dns_type_a = 1;
constexpr std::uint16_t dns_type_ns = 2;
constexpr std::uint16_t dns_type_aaaa = 28;
constexpr std::size_t dns_max_records = 64;  ///< records walked at most

std::string dns_query(std::uint16_t id, std::string_view name) {
  std::string q;
  put16(q, id);
  put16(q, name.empty() ? 0x0000 : 0x0100);  // RD only when asking about a name
  put16(q, 1);                               // one question
  put16(q, 0);
  put16(q, 0);
  put16(q, 0);
  for (auto label : split(name, '.')) {
    if (label.empty()) continue;
    q += static_cast<char>(label.size());
    q += label;
  }
  q += '\0';
  put16(q, name.empty() ? dns_type_ns : dns_type_a);
  put16(q, 1);  // IN
  return q;
}

/// Moves `at` past a (possibly compressed) name; false when it runs off the end.
bool skip_dns_name(const bytes_view& b, std::size_t& at) {
  for (int labels = 0; labels < 128; ++labels) {
    if (!b.has(at, 1)) return false;
    const auto len = b.u8(at);
    if ((len & 0xc0) == 0xc0) {
      if (!b.has(at, 2)) return false;
      at += 2;
      return true;
    }
    if ((len & 0xc0) != 0) return false;  // the reserved label types
    at += 1 + len;
    if (len == 0) return true;
  }
  return false;
}

std::string address_text(std::string_view rdata) {
  char buf[64] = {};
  if (rdata.size() == 4) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", static_cast<unsigned char>(rdata[0]),
                  static_cast<unsigned char>(rdata[1]), static_cast<unsigned char>(rdata[2]),
                  static_cast<unsigned char>(rdata[3]));
    return buf;
  }
  std::string out;  // IPv6, uncompressed groups: enough for a report line
  for (std::size_t i = 0; i + 1 < rdata.size(); i += 2) {
    if (i > 0) out += ':';
    std::snprintf(
        buf, sizeof buf, "%x",
        static_cast<unsigned>(static_cast<unsigned char>(rdata[i]) << 8 | static_cast<unsigned char>(rdata[i + 1])));
    out += buf;
  }
  return out;
}

v1::AppResult read_dns(const udp_request& req, std::string_view reply) {
  const bytes_view b{reply};
  if (!b.has(0, 12))
    return result("dns", false, "a " + std::to_string(reply.size()) + "-byte reply, shorter than a DNS header");
  if (b.u16(0) != req.dns_id)
    return result("dns", false, "a reply whose ID is not our query's: not a DNS answer to us");
  const auto flags = b.u16(2);
  if ((flags & 0x8000) == 0) return result("dns", false, "a DNS query came back, not a response");
  const unsigned rcode = flags & 0x000f;
  const auto questions = b.u16(4);
  const auto answers = b.u16(6);
  auto r = result("dns", true, "");
  auto& f = *r.mutable_fields();
  f["rcode"] = dns_rcode_name(rcode);
  f["answers"] = std::to_string(answers);
  f["authoritative"] = (flags & 0x0400) ? "yes" : "no";
  f["recursion_available"] = (flags & 0x0080) ? "yes" : "no";
  if (flags & 0x0200) f["truncated"] = "yes";
  // The addresses in the answer, where it has any (a walk that runs off the
  // end only stops the listing: the header is the answer).
  std::size_t at = 12;
  bool walked = true;
  for (unsigned i = 0; i < questions && walked && i < dns_max_records; ++i)
    walked = skip_dns_name(b, at) && b.has(at, 4) && ((at += 4), true);
  std::vector<std::string> addresses;
  for (unsigned i = 0; i < answers && walked && i < dns_max_records; ++i) {
    if (!skip_dns_name(b, at) || !b.has(at, 10)) break;
    const auto type = b.u16(at);
    const auto length = b.u16(at + 8);
    at += 10;
    if (!b.has(at, length)) break;
    if ((type == dns_type_a && length == 4) || (type == dns_type_aaaa && length == 16))
      addresses.push_back(address_text(reply.substr(at, length)));
    at += length;
  }
  std::string list;
  for (std::size_t i = 0; i < addresses.size() && i < 4; ++i) list += (i ? ", " : "") + addresses[i];
  if (!list.empty()) f["addresses"] = list;

  if (req.dns_name.empty()) {
    // The root's NS without recursion: any answer proves a DNS server; the
    // policy in it (REFUSED for strangers) is shown, not failed.
    r.set_ok(rcode != 2);
    if (rcode == 0)
      r.set_detail("NOERROR, " + std::to_string(answers) + " answer" + (answers == 1 ? "" : "s"));
    else if (rcode == 5)
      r.set_detail("REFUSED (it answers, and does not serve this query to us)");
    else
      r.set_detail(dns_rcode_name(rcode) + (rcode == 2 ? ": the server failed to answer" : ""));
    return r;
  }
  f["name"] = req.dns_name;
  r.set_ok(rcode == 0);
  if (rcode == 0)
    r.set_detail(req.dns_name + ": " + (list.empty() ? "no A record (NOERROR, empty answer)" : list));
  else
    r.set_detail(req.dns_name + ": " + dns_rcode_name(rcode) +
                 (rcode == 3   ? " (no such name)"
                  : rcode == 5 ? " (the server will not answer this for us)"
                               : ""));
  return r;
}

// ---------------------------------------------------------------- NTP

constexpr std::uint64_t ntp_unix_offset_s = 2'208'988'800;  // 1900-01-01 to 1970-01-01

std::string ntp_refid(std::uint32_t refid, unsigned stratum) {
  if (stratum <= 1) {
    std::string code;
    for (int shift = 24; shift >= 0; shift -= 8) {
      const auto c = static_cast<unsigned char>(refid >> shift);
      if (c == 0) break;
      code += printable(c) ? static_cast<char>(c) : '?';
    }
    return code;
  }
  return std::to_string(refid >> 24) + "." + std::to_string((refid >> 16) & 0xff) + "." +
         std::to_string((refid >> 8) & 0xff) + "." + std::to_string(refid & 0xff);
}

v1::AppResult read_ntp(const udp_request& req, std::string_view reply, std::uint64_t now_unix_us) {
  const bytes_view b{reply};
  if (!b.has(0, 48))
    return result("ntp", false, "a " + std::to_string(reply.size()) + "-byte reply, shorter than an NTP packet (48)");
  const auto b0 = b.u8(0);
  const unsigned leap = b0 >> 6;
  const unsigned version = (b0 >> 3) & 7;
  const unsigned mode = b0 & 7;
  if (mode != 4) return result("ntp", false, "an NTP packet of mode " + std::to_string(mode) + ", not a server's (4)");
  if (b.u64(24) != req.ntp_sent) return result("ntp", false, "a server packet that does not answer our request");
  const unsigned stratum = b.u8(1);
  const auto refid = b.u32(12);
  auto r = result("ntp", true, "");
  auto& f = *r.mutable_fields();
  f["version"] = std::to_string(version);
  f["stratum"] = std::to_string(stratum);
  if (stratum == 0) {  // kiss-o'-death: the reference ID is the code
    const auto code = ntp_refid(refid, 1);
    f["kiss_code"] = code;
    r.set_ok(false);
    r.set_detail("kiss-o'-death " + code +
                 (code == "DENY" || code == "RSTR" ? ": the server refuses to serve us"
                  : code == "RATE"                 ? ": asked too often"
                                                   : ""));
    return r;
  }
  f["refid"] = ntp_refid(refid, stratum);
  const auto t1 = static_cast<double>(unix_us_from_ntp(req.ntp_sent));
  const auto t2 = static_cast<double>(unix_us_from_ntp(b.u64(32)));
  const auto t3 = static_cast<double>(unix_us_from_ntp(b.u64(40)));
  const auto t4 = static_cast<double>(now_unix_us);
  const double offset_ms = ((t2 - t1) + (t3 - t4)) / 2000.0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", offset_ms);
  f["offset_ms"] = buf;
  if (leap == 3 || stratum >= 16) {
    r.set_ok(false);
    r.set_detail("the server is not synchronised (stratum " + std::to_string(stratum) + ", leap indicator " +
                 std::to_string(leap) + ")");
    return r;
  }
  r.set_detail("stratum " + std::to_string(stratum) + " (" + f["refid"] + "), offset " + buf + " ms");
  return r;
}

// ---------------------------------------------------------------- QUIC

constexpr std::uint32_t quic_reserved_version = 0x1a2a3a4a;  // 0x?a?a?a?a: never a real version
constexpr std::size_t quic_datagram = 1200;                  // the smallest a server must answer (RFC 9000 14.1)

std::string quic_version_name(std::uint32_t v) {
  if (v == 0x00000001) return "1";
  if (v == 0x6b3343cf) return "2";
  if ((v & 0xffffff00) == 0xff000000) return "draft-" + std::to_string(v & 0xff);
  return hex32(v);
}

v1::AppResult read_quic(const udp_request& req, std::string_view reply) {
  const bytes_view b{reply};
  if (!b.has(0, 7)) return result("quic", false, "a " + std::to_string(reply.size()) + "-byte reply: not QUIC");
  if ((b.u8(0) & 0x80) == 0 || b.u32(1) != 0)
    return result("quic", false, "a reply that is not QUIC Version Negotiation (version " + hex32(b.u32(1)) + ")");
  std::size_t at = 5;
  const auto dcid_len = b.u8(at++);
  if (!b.has(at, dcid_len + 1u)) return result("quic", false, "a Version Negotiation cut short");
  const auto dcid = reply.substr(at, dcid_len);
  at += dcid_len;
  const auto scid_len = b.u8(at++);
  if (!b.has(at, scid_len)) return result("quic", false, "a Version Negotiation cut short");
  const auto scid = reply.substr(at, scid_len);
  at += scid_len;
  if (dcid != req.quic_scid || scid != req.quic_dcid)
    return result("quic", false, "a Version Negotiation whose connection IDs are not ours");
  std::string offered;
  bool current = false;
  for (; b.has(at, 4); at += 4) {
    const auto v = b.u32(at);
    if ((v & 0x0f0f0f0f) == 0x0a0a0a0a) continue;  // greasing
    current = current || v == 0x00000001 || v == 0x6b3343cf;
    offered += (offered.empty() ? "" : ", ") + quic_version_name(v);
  }
  auto r = result("quic", current, "");
  (*r.mutable_fields())["versions"] = offered;
  r.set_detail(current ? "versions " + offered
                       : "no QUIC version a current client speaks" +
                             (offered.empty() ? std::string(" (an empty list)") : " (offers " + offered + ")"));
  return r;
}

}  // namespace

std::string default_udp_probe_kind(std::uint16_t port) {
  switch (port) {
    case 53: return "dns";
    case 123: return "ntp";
    case 443: return "quic";
    case 51820: return "wireguard";
    default: return "udp";
  }
}

bool udp_reply_expected(std::string_view kind, bool has_payload) {
  if (kind == "wireguard") return false;
  if (kind == "udp") return has_payload;
  return true;
}

std::uint64_t ntp_from_unix_us(std::uint64_t unix_us) {
  const std::uint64_t seconds = unix_us / 1'000'000 + ntp_unix_offset_s;
  const std::uint64_t fraction = ((unix_us % 1'000'000) << 32) / 1'000'000;
  return seconds << 32 | fraction;
}

std::int64_t unix_us_from_ntp(std::uint64_t ntp) {
  const auto seconds = static_cast<std::int64_t>(ntp >> 32) - static_cast<std::int64_t>(ntp_unix_offset_s);
  const auto micros = static_cast<std::int64_t>(((ntp & 0xffffffff) * 1'000'000) >> 32);
  return seconds * 1'000'000 + micros;
}

std::string dns_rcode_name(unsigned rcode) {
  static constexpr std::array names = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  return rcode < names.size() ? names[rcode] : "RCODE " + std::to_string(rcode);
}

udp_request make_udp_request(std::string_view kind, std::string_view dns_name, std::string_view user_payload,
                             std::string_view random, std::uint64_t now_unix_us) {
  udp_request req;
  req.kind = std::string(kind);
  const auto r = fill(random, 16);
  if (kind == "dns") {
    req.dns_name = std::string(dns_name);
    req.dns_id = static_cast<std::uint16_t>(static_cast<unsigned char>(r[0]) << 8 | static_cast<unsigned char>(r[1]));
    req.payload = dns_query(req.dns_id, dns_name);
  } else if (kind == "ntp") {
    req.ntp_sent = ntp_from_unix_us(now_unix_us);
    req.payload.assign(40, '\0');
    req.payload[0] = 0x23;  // LI 0, version 4, mode 3 (client)
    put64(req.payload, req.ntp_sent);
  } else if (kind == "quic") {
    req.quic_dcid = r.substr(0, 8);
    req.quic_scid = r.substr(8, 8);
    req.payload += static_cast<char>(0xc0 | (static_cast<unsigned char>(r[2]) & 0x0f));  // long header, fixed bit
    put32(req.payload, quic_reserved_version);
    req.payload += static_cast<char>(req.quic_dcid.size());
    req.payload += req.quic_dcid;
    req.payload += static_cast<char>(req.quic_scid.size());
    req.payload += req.quic_scid;
    req.payload += fill(random, quic_datagram - req.payload.size(), 3);
  } else if (kind == "wireguard") {
    req.payload = std::string("\x01\x00\x00\x00", 4) + fill(random, 144, 5);  // type 1: handshake initiation
  } else {
    req.payload = std::string(user_payload);
  }
  return req;
}

v1::AppResult read_udp_reply(const udp_request& request, std::string_view reply, std::uint64_t now_unix_us) {
  v1::AppResult r;
  if (request.kind == "dns") {
    r = read_dns(request, reply);
  } else if (request.kind == "ntp") {
    r = read_ntp(request, reply, now_unix_us);
  } else if (request.kind == "quic") {
    r = read_quic(request, reply);
  } else {
    r = result(request.kind, true, "answered " + std::to_string(reply.size()) + " bytes");
    if (request.kind == "wireguard" && !reply.empty()) {
      const auto type = static_cast<unsigned char>(reply[0]);
      if (reply.size() == 92 && type == 2) r.set_detail("a WireGuard handshake response");
      if (reply.size() == 64 && type == 3) r.set_detail("a WireGuard cookie reply (the server is under load)");
    }
    if (!reply.empty()) (*r.mutable_fields())["first_bytes"] = escape(reply.substr(0, 48));
  }
  (*r.mutable_fields())["bytes"] = std::to_string(reply.size());
  return r;
}

}  // namespace dropspot::prober::app
