#pragma once
// UDP probes: the datagram each kind sends and the reading of what comes
// back. Pure: no sockets, no clock (times come in as values), every byte of
// a reply is bounds-checked; a reply that is cut short, garbage or oversized
// is a failed result saying why, never a crash.
//   dns        a query: by default the root's NS without recursion (any DNS
//              server answers it, with the records or with REFUSED: both
//              prove the service); with a name, its A record with recursion
//   ntp        a client-mode request (RFC 5905): stratum, reference, offset
//   quic       a long-header packet of a reserved version (RFC 9000 15): a
//              server answers Version Negotiation, listing its versions
//   wireguard  148 bytes shaped like a handshake initiation: WireGuard drops
//              anything it cannot authenticate, so no answer is expected and
//              the agent's view of the delivery is the evidence
//   udp        an empty datagram, or the user's bytes (--udp-payload)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dropspot.pb.h"

namespace dropspot::prober::app {

/// The UDP probe kind for a port when --probe names none: 53 dns, 123 ntp,
/// 443 quic, 51820 wireguard, else udp.
std::string default_udp_probe_kind(std::uint16_t port);

/// Whether a service of this kind answers a probe: false for wireguard, and
/// for udp without a payload (nothing a service could answer to).
bool udp_reply_expected(std::string_view kind, bool has_payload);

/// What a UDP probe sends, and what its reply is checked against.
struct udp_request {
  std::string kind;
  std::string payload;
  std::string dns_name;        ///< dns: the name asked for ("" = the root's NS, no recursion)
  std::uint16_t dns_id = 0;    ///< dns: the query's ID
  std::uint64_t ntp_sent = 0;  ///< ntp: the transmit timestamp sent (NTP format)
  std::string quic_dcid;       ///< quic: our destination connection ID
  std::string quic_scid;       ///< quic: our source connection ID
};

/// Builds the request of `kind`. `random` supplies IDs and the fill bytes
/// (at least 16 bytes are used; shorter input is repeated), now_unix_us the
/// NTP transmit time; user_payload is used by udp only.
udp_request make_udp_request(std::string_view kind, std::string_view dns_name, std::string_view user_payload,
                             std::string_view random, std::uint64_t now_unix_us);

/// Reads a reply to request, received at now_unix_us. Fills kind, ok, detail
/// and fields ("rcode", "answers", "stratum", "offset_ms", "versions",
/// "bytes", ...). ok=false: the service answered with an error (DNS
/// SERVFAIL, or REFUSED/NXDOMAIN for a name the user asked about; an NTP
/// kiss-o'-death or an unsynchronised server; QUIC with no version a client
/// speaks) or with something that is not an answer to our request.
v1::AppResult read_udp_reply(const udp_request& request, std::string_view reply, std::uint64_t now_unix_us);

/// NTP timestamps (seconds since 1900 in the upper 32 bits, fraction below)
/// from and to Unix microseconds.
std::uint64_t ntp_from_unix_us(std::uint64_t unix_us);
std::int64_t unix_us_from_ntp(std::uint64_t ntp);

/// The DNS response code's name: 0 NOERROR, 1 FORMERR, 2 SERVFAIL, 3
/// NXDOMAIN, 4 NOTIMP, 5 REFUSED, else "RCODE n".
std::string dns_rcode_name(unsigned rcode);

}  // namespace dropspot::prober::app
