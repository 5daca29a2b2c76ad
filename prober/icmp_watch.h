#pragma once
// ICMP errors read from a raw ICMP socket, for an OS that does not hand them
// to TCP sockets (Windows: prober/platform.h needs_icmp_watch()). Linux does
// it with IP_RECVERR on the probe's own socket, and never opens a watch.
//   parse_icmp_error  pure: one datagram of a raw socket -> what the ICMP
//                     error says about the packet it quotes (fuzzed:
//                     fuzz/icmp_error_fuzz.cc);
//   icmp_watch        the raw socket, bound to our source address, and a
//                     receive loop that hands each error quoting one of our
//                     TCP connects to the attempt that registered its port.
// A raw socket needs administrator rights on Windows (root or CAP_NET_RAW
// elsewhere): open() says so with an error, and the prober works without.
#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>

namespace dropspot::prober {

/// What an ICMP error (IPv4 type 3 or 11, ICMPv6 type 1 or 3) says about the
/// TCP or UDP packet it quotes.
struct icmp_error {
  asio::ip::address from;  ///< the sender: the router or host that rejected or dropped it
  std::uint8_t type = 0;   ///< ICMP type (IPv4) or ICMPv6 type (IPv6)
  std::uint8_t code = 0;
  std::uint8_t protocol = 0;        ///< the quoted packet's: 6 TCP, 17 UDP
  asio::ip::address quoted_source;  ///< the quoted packet's source (ours)
  asio::ip::address quoted_destination;
  std::uint16_t quoted_source_port = 0;
  std::uint16_t quoted_destination_port = 0;
};

/// IP protocol numbers of the quoted packet.
inline constexpr std::uint8_t quoted_tcp = 6;
inline constexpr std::uint8_t quoted_udp = 17;

/// Pure: reads one datagram a raw ICMP socket received from `from`. IPv4
/// (from is an IPv4 address): the datagram starts with the IPv4 header, as
/// Windows and Linux hand it. IPv6: it is the ICMPv6 message alone. nullopt
/// for anything but an error of the types above quoting the first fragment
/// of a TCP or UDP packet with at least its ports; every length and offset
/// is checked against `size` (the bytes are the network's).
std::optional<icmp_error> parse_icmp_error(const std::uint8_t* data, std::size_t size, const asio::ip::address& from);

/// One raw ICMP socket for a run: the ICMP errors that quote our TCP
/// connects, handed to the attempts that wait for them. Single-threaded: use
/// it from the executor it was opened on.
class icmp_watch {
 public:
  using handler = std::function<void(const icmp_error&)>;
  struct state;    ///< shared by the watch, its registrations and its receive loop
  struct watcher;  ///< one registration's port, target, handler and what it heard

  /// While alive, ICMP errors quoting a TCP packet from the local port to
  /// the target reach its handler; unregisters when destroyed.
  class registration {
   public:
    registration() = default;
    registration(registration&&) noexcept = default;
    registration& operator=(registration&& other) noexcept;
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    ~registration() { reset(); }

    /// The last ICMP error heard for it, if any.
    std::optional<icmp_error> heard() const;
    void reset();

   private:
    friend class icmp_watch;
    std::shared_ptr<state> state_;
    std::shared_ptr<watcher> watcher_;
  };

  icmp_watch();
  ~icmp_watch();  ///< close()
  icmp_watch(const icmp_watch&) = delete;
  icmp_watch& operator=(const icmp_watch&) = delete;

  /// Opens the raw socket of local's family (ICMP or ICMPv6), binds it to
  /// local (Windows hands a raw socket nothing before it is bound) and starts
  /// the receive loop on executor. The error when it cannot: access denied
  /// without administrator rights (see is_rights_error). Once per watch.
  std::error_code open(const asio::any_io_executor& executor, const asio::ip::address& local);
  bool is_open() const;
  /// Stops the receive loop (it ends on its own once the socket is closed,
  /// holding the state until then). Registrations stay valid, deaf.
  void close();

  /// Registers an attempt: TCP from local_port to target.
  registration watch(std::uint16_t local_port, const asio::ip::tcp::endpoint& target, handler on_error);

  /// What the receive loop does with each error it parsed: hands a quoted
  /// TCP packet to the registrations that match it (public for the tests).
  void deliver(const icmp_error& error);

 private:
  std::shared_ptr<state> state_;
};

/// True for the error open() gives without the rights for a raw socket
/// (Windows: access denied; POSIX: not permitted).
bool is_rights_error(const std::error_code& ec);

}  // namespace dropspot::prober
