#pragma once
// firewalld's configuration: zones (target, interfaces, sources, services,
// ports, rich rules) and services (ports), from its XML files, and whether a
// zone lets a TCP SYN to a port in.
//
// Files: <root>/usr/lib/firewalld/{zones,services}/*.xml (the defaults the
// package installs) overridden file by file by <root>/etc/firewalld/{zones,
// services}/*.xml (the permanent configuration), DefaultZone from
// <root>/etc/firewalld/firewalld.conf. This is the configuration firewalld
// loads at boot or on --reload: the live rules are in the nft ruleset
// (table inet firewalld), which firewall/firewall.h evaluates.
//
// The evaluation follows firewalld's zone chains: the zone of a packet is the
// zone bound to its source address, else the zone bound to its input
// interface, else the default zone; in the zone, rich rules that drop or
// reject come first (the _deny chain), then rich accept rules, services and
// ports (_allow), then the zone's target (default and %%REJECT%% reject, DROP
// drops, ACCEPT accepts).
//
// XML is read with libxml2 (Debian's libxml2-dev): firewalld's files are
// ordinary XML with entities, comments and any attribute order.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dropspot::agent {

/// `<port protocol="tcp" port="8000-8010"/>`.
struct fwd_port {
  std::string protocol;  ///< tcp, udp, sctp, dccp
  std::uint16_t low = 0, high = 0;
  bool covers(std::uint16_t port, std::string_view proto = "tcp") const {
    return protocol == proto && low <= port && port <= high;
  }
};

/// One `<rule>` of a zone.
struct fwd_rich_rule {
  std::string family;  ///< "", ipv4, ipv6
  std::string source;  ///< address or CIDR ("" any)
  bool source_invert = false;
  std::string service;  ///< `<service name=...>` ("" none)
  std::optional<fwd_port> port;
  std::string action;  ///< accept, reject, drop ("" only log/audit)
  std::string text;    ///< as firewall-cmd --list-rich-rules would print it (close enough)
};

struct fwd_zone {
  std::string name;
  std::string target = "default";  ///< default, ACCEPT, DROP, %%REJECT%%
  std::vector<std::string> interfaces, sources, services;
  std::vector<fwd_port> ports;
  std::vector<fwd_rich_rule> rich_rules;
  std::string file;  ///< where it was read from
};

struct fwd_service {
  std::string name;
  std::vector<fwd_port> ports;
  std::vector<std::string> includes;  ///< `<include service=...>`
};

/// Parses a zone file; `name` is the file name without ".xml".
result<fwd_zone> parse_firewalld_zone(std::string_view name, std::string_view xml);
/// Parses a service file.
result<fwd_service> parse_firewalld_service(std::string_view name, std::string_view xml);
/// DefaultZone= of firewalld.conf ("public" when absent).
std::string parse_firewalld_default_zone(std::string_view conf);

/// firewalld's permanent configuration.
struct firewalld_config {
  std::string default_zone = "public";
  std::map<std::string, fwd_zone> zones;
  std::map<std::string, fwd_service> services;
  std::vector<std::string> notes;  ///< files that did not parse
  /// Why /etc/firewalld (0750 root:root) could not be read; the rest is then
  /// empty: the permanent configuration is unknown, not the defaults.
  std::string unreadable;
};

/// Reads the configuration under `root`; nothing when no zone file exists
/// (firewalld not installed); only `unreadable` when /etc/firewalld exists
/// but cannot be read.
std::optional<firewalld_config> read_firewalld_config(const std::string& root = "/");

/// What the zone does with a TCP SYN to `port`.
struct fwd_verdict {
  bool allowed = false;
  std::string action;  ///< accept, reject, drop
  std::string zone;
  std::string why;  ///< "zone public allows service http (80/tcp)", "zone public (target default) does not allow
                    ///< 8080/tcp: rejected"
  /// A service that is exactly the port (its ports are that port alone, no
  /// includes; for --add-service advice), "" none: then --add-port.
  std::string service_for_port;
};

/// The zone decision for a SYN from `source` (nothing: any remote source)
/// arriving on `interface` ("" unknown); with udp, for a datagram (the zone's
/// udp ports and the services' udp ports).
fwd_verdict evaluate(const firewalld_config& config, std::uint16_t port, const std::optional<asio::ip::address>& source,
                     const std::string& interface, bool udp = false);

/// Whether firewalld runs: <root>/run/firewalld.pid or <root>/run/firewalld exists.
bool firewalld_running(const std::string& root = "/");

}  // namespace dropspot::agent
