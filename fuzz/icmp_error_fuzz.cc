// The raw ICMP socket's reader (prober/icmp_watch.h parse_icmp_error): the
// first byte picks the sender's family (even: IPv4, the datagram starts with
// the IP header; odd: IPv6, the ICMPv6 message alone), the rest is the
// datagram as the raw socket hands it. Whatever parses is an error type
// quoting TCP or UDP ports; nothing is read past the datagram (ASan).
#include <cstdint>
#include <cstdlib>

#include "prober/icmp_watch.h"

using namespace dropspot::prober;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool v6 = (data[0] & 1) != 0;
  const auto from = v6 ? asio::ip::address(asio::ip::make_address_v6("2001:db8:ff::1"))
                       : asio::ip::address(asio::ip::make_address_v4("192.0.2.1"));
  const auto e = parse_icmp_error(data + 1, size - 1, from);
  if (!e) return 0;
  const bool error_type = v6 ? (e->type == 1 || e->type == 3) : (e->type == 3 || e->type == 11);
  if (!error_type || e->from != from) std::abort();
  if (e->protocol != quoted_tcp && e->protocol != quoted_udp) std::abort();
  if (e->quoted_destination.is_v6() != v6 || e->quoted_source.is_v6() != v6) std::abort();
  // The watch takes what the parser gives: no registration, nothing called.
  icmp_watch watch;
  watch.deliver(*e);
  return 0;
}
