#pragma once
// Per-source limits of the agent's control port: how many connections one
// source may hold open at once, and how long it must wait after failing to
// authenticate. Pure bookkeeping: the caller passes the time, so tests run
// on a made-up clock; no I/O, no locking (the agent has one io thread).
//
// A "source" is an IPv4 address, or the /64 prefix of an IPv6 address (one
// IPv6 host usually owns a whole /64). Each source has its own counters, so
// one source failing or crowding never delays another; the table is bounded,
// and entries with nothing to remember are dropped.
#include <asio/ip/address.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace dropspot::agent {

/// The key a source is counted under: "198.51.100.2", "2001:db8:1::/64".
std::string source_key(const asio::ip::address& address);

struct source_limits_config {
  /// Connections one source may have open at once (handshake and session).
  unsigned max_connections = 8;
  /// Failed authentications tolerated before the source must wait.
  unsigned free_failures = 3;
  /// The first wait; each further failure doubles it, up to max_backoff.
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{300'000};
  /// A source's failures are forgotten this long after its last one.
  std::chrono::milliseconds forget_after{900'000};
  /// Sources remembered at most; when full, the stalest entry is dropped.
  std::size_t max_sources = 8192;
};

class source_limits {
 public:
  using clock = std::chrono::steady_clock;

  enum class verdict {
    accept,       ///< counted as open; call release() when it closes
    too_many,     ///< the source already holds max_connections (not counted)
    backing_off,  ///< failed to authenticate too often, see wait(); counted as open
                  ///< (the caller tells the peer why, then calls release())
  };

  explicit source_limits(source_limits_config config = {});

  /// A connection from `key` arrives at `now`: accept (and count it) or not.
  /// A source over its share is too_many even while backing off.
  verdict admit(const std::string& key, clock::time_point now);
  /// An accepted connection from `key` has closed.
  void release(const std::string& key);
  /// The connection from `key` sent a wrong proof of the token at `now`.
  void auth_failed(const std::string& key, clock::time_point now);
  /// The connection from `key` authenticated: its failures are forgotten.
  void auth_succeeded(const std::string& key);

  /// How long `key` must still wait before a new connection is accepted (0: none).
  std::chrono::milliseconds wait(const std::string& key, clock::time_point now) const;
  /// Failed authentications remembered for `key`.
  unsigned failures(const std::string& key) const;
  /// Connections from `key` open now.
  unsigned open(const std::string& key) const;
  /// Sources remembered (for tests: the table stays bounded).
  std::size_t size() const { return sources_.size(); }

  const source_limits_config& config() const { return config_; }

 private:
  struct entry {
    unsigned open = 0;
    unsigned failures = 0;
    clock::time_point last_failure{};
    clock::time_point blocked_until{};
  };

  /// Drops entries with nothing left to remember; if the table is still full,
  /// drops the entry with the oldest failure among those with no open connection.
  void make_room(clock::time_point now);
  bool idle(const entry& e, clock::time_point now) const;

  source_limits_config config_;
  std::unordered_map<std::string, entry> sources_;
};

const char* to_string(source_limits::verdict v);

}  // namespace dropspot::agent
