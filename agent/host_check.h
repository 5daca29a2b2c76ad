#pragma once
// The host half of a diagnosis: the firewall rules that block a port for a
// peer (sent in the session summary's PortFacts), and `agent check`, the same
// diagnosis on the server alone for a generic remote source, with listeners.
//
// port_facts and check_ports are pure (over a firewall_snapshot and listener
// list); host_port_facts and run_check read the system.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/firewall.h"
#include "dropspot.pb.h"

namespace dropspot::agent {

/// PortFacts for each port: `firewall` holds the rules that drop/reject a SYN
/// from `peer` (v4-mapped peers count as IPv4), `firewall_inspected` whether
/// any ruleset could be read, `notes` the evaluation's uncertainties
/// (prefixed "firewall: ", at most 6 per port).
std::vector<v1::PortFacts> port_facts(const firewall_snapshot& snapshot, const asio::ip::address& peer,
                                      const std::vector<std::uint16_t>& ports);

/// port_facts over the live rulesets (read_firewall). Fits session_services::host_facts.
std::vector<v1::PortFacts> host_port_facts(const asio::ip::address& peer, const std::vector<std::uint16_t>& ports);

/// One port of `agent check`.
struct port_check {
  std::uint16_t port = 0;
  /// OPEN (a listener on a public address and no rule blocks), NO_LISTENER,
  /// LISTENER_WRONG_ADDRESS (loopback only), DROPPED_BY_HOST_FIREWALL,
  /// REJECTED_BY_HOST_FIREWALL: the DESIGN.md verdict names.
  std::string verdict;
  std::string summary;
  std::vector<v1::Listener> listeners;
  std::vector<std::string> firewall;  ///< blocking rules, IPv4 then IPv6 ("IPv6: ..." prefixed)
  std::vector<std::string> notes;
  std::vector<std::string> advice;    ///< commands to run
};

/// The diagnosis of each port for any remote source (IPv4 and IPv6).
std::vector<port_check> check_ports(const firewall_snapshot& snapshot, const std::vector<v1::Listener>& listeners,
                                    const std::vector<std::uint16_t>& ports);

/// Text: one block per port (verdict, summary, listeners, rules, notes, advice).
std::string render_check_text(const std::vector<port_check>& checks);
/// JSON: {"ports":[{"port":80,"verdict":"OPEN","summary":…,"listeners":[…],"firewall":[…],"notes":[…],"advice":[…]}]}
std::string render_check_json(const std::vector<port_check>& checks);

/// `agent check --ports LIST [--format text|json]`: 0 every port OPEN, 1 some
/// port is not, 2 bad input (message on stderr).
int run_check(const std::string& ports, const std::string& format);

}  // namespace dropspot::agent
