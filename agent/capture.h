#pragma once
// Packet capture for a session: libpcap sources watched by asio, each frame
// parsed (agent/packet.h), put in the session's perspective and handed to
// the session's sink. The live source and the file source differ only in how
// the pcap_t is opened; the processing code is the same.
#include <asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/session.h"

namespace dropspot::agent {

/// How the agent captures (from its command line).
struct capture_config {
  /// --interface: capture on each of these. Empty: the "any" device, which
  /// covers every interface that is up (loopback included), in Linux cooked
  /// v2 framing that tells each packet's interface.
  std::vector<std::string> interfaces;
  /// Bytes of each frame the kernel copies: every header fits (cooked 20 +
  /// IPv6 40 + extension headers + TCP 60, or an ICMPv6 error with its quote);
  /// events never carry payload, and files are cut after the headers.
  int snaplen = 256;
  int buffer_bytes =
      2 * 1024 * 1024;  ///< kernel capture buffer per interface, the most (8 KiB a port, at least 256 KiB)
  /// --pcap-dir: keep each session's packets (cut after the headers) in
  /// DIR/dropspot-<unix µs>-<peer>[-<interface>].pcap, mode 0600. A file
  /// that cannot be created is logged and skipped; capture goes on.
  std::string pcap_dir;
};

/// Starts capturing one session's packets: TCP between `request.peer` and
/// `request.ports` of this host in both directions, and ICMP errors about
/// them (see make_bpf_filter and classify). Each packet of the session is
/// passed to `sink` as it is read, on `executor`'s thread, from inside
/// libpcap's read loop: the sink must return quickly and must not destroy
/// the handle (an exception it throws is logged and dropped). Capture stops
/// when the handle is destroyed (destroy it on the executor's thread).
/// packets_seen() counts the frames the filter let through; packets_dropped()
/// is what the kernel dropped (pcap_stats ps_drop + ps_ifdrop).
/// On failure returns nullptr and sets `note` to one line for the prober,
/// e.g. "capture needs CAP_NET_RAW: ...". Never throws for libpcap errors.
std::unique_ptr<capture_handle> start_capture(const asio::any_io_executor& executor, const capture_config& config,
                                              const capture_request& request, packet_sink sink, std::string& note);

/// The type of session_services::start_capture.
using start_capture_function =
    std::function<std::unique_ptr<capture_handle>(const capture_request&, packet_sink, std::string&)>;

/// start_capture bound to an executor and a configuration, ready for
/// session_services::start_capture.
start_capture_function make_capture_starter(asio::any_io_executor executor, capture_config config);

/// What a file run processed.
struct capture_counts {
  std::uint64_t frames = 0;    ///< frames libpcap delivered (after the BPF filter)
  std::uint64_t events = 0;    ///< packets of the session handed to the sink
  std::uint64_t unparsed = 0;  ///< frames the parser refused (see packet_error)
};

/// Runs the session's filter and the same processing over a capture file,
/// synchronously (for tests and offline analysis). nullopt and `note` when
/// the file cannot be read or the filter does not compile for its link type.
std::optional<capture_counts> read_capture_file(const std::string& path, const capture_request& request,
                                                const packet_sink& sink, std::string& note);

}  // namespace dropspot::agent
