#pragma once
// The host half of a diagnosis: the firewall rules that block a port for a
// peer, the live rules against those that survive a reboot, firewalld's zone,
// the services behind the port, and advice with commands for this host (sent
// in the session summary's PortFacts); and `agent check`, the same diagnosis
// on the server alone for a generic remote source.
//
// read_host and find_services read the system (blocking: nft, iptables-save,
// ip netns, systemctl); port_facts and check_ports are pure over what they read.
#include <asio/ip/address.hpp>
#include <cstdint>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/distro.h"
#include "agent/firewall/firewall.h"
#include "agent/firewalld.h"
#include "agent/saved_rules.h"
#include "agent/services.h"
#include "common/ports.h"
#include "dropspot.pb.h"

namespace dropspot::agent {

/// Where the host is read from; the defaults read this host.
struct host_options {
  std::string root = "/";                   ///< --host-root: /etc, /run and /usr are read under it (tests, containers)
  std::vector<std::string> saved_rules;     ///< --saved-rules FILE: instead of /etc/nftables.conf, rules.v4...
  std::chrono::milliseconds timeout{5000};  ///< per external command
};

/// Everything a diagnosis reads from the host, once.
struct host_snapshot {
  firewall_snapshot live;                     ///< the live rulesets
  saved_rules saved;                          ///< what survives a reboot
  std::optional<firewalld_config> firewalld;  ///< permanent configuration, when firewalld runs
  host_system system;                         ///< distribution, firewall manager, systemd
  std::vector<v1::Listener> listeners;        ///< every port (a moved service listens elsewhere)
  std::vector<v1::Listener> udp_listeners;    ///< every bound UDP socket
  std::vector<daemon_config> configs;         ///< sshd_config, nginx, apache, postfix ports
  std::vector<std::string> installed;         ///< known daemons whose binary exists
};

/// Reads the host (blocking).
host_snapshot read_host(const host_options& options = {});

/// The services behind each port (asks `manager`: blocking with systemd_manager).
/// Listeners that are systemd's sockets get their socket unit's name first
/// (attribute_socket_activation).
std::map<std::uint16_t, service_findings> find_services(host_snapshot& host, const std::vector<std::uint16_t>& ports,
                                                        service_manager& manager);

/// PortFacts for each port: `firewall` holds the rules that drop/reject a SYN
/// from `peer` (v4-mapped peers count as IPv4) arriving on the interface
/// `syn_interfaces` names for the port (keyed as common/ports.h port_key: a
/// UDP port's datagrams by its UDP key; unknown when absent: interface
/// matches then "may match"), `firewall_inspected` whether any ruleset could
/// be read, `saved_rules` a live/saved difference, `services` and `advice`
/// from `services`, `notes` the uncertainties ("firewall: ", at most 6 each).
std::vector<v1::PortFacts> port_facts(const host_snapshot& host,
                                      const std::map<std::uint16_t, service_findings>& services,
                                      const asio::ip::address& peer, const std::vector<std::uint16_t>& ports,
                                      const std::map<port_key, std::string>& syn_interfaces = {},
                                      const std::vector<std::uint16_t>& udp_ports = {});

/// The sources of the snapshot that could not be read, one entry per error
/// ("nftables", "iptables", "iptables-legacy", "firewalld", "saved-rules"):
/// the agent's --metrics counts them.
std::vector<std::string> inspection_errors(const host_snapshot& host);

/// The session's host facts: reads the host and asks systemd now (blocking),
/// and returns what finishes them once the SYNs' interfaces are known (fast):
/// each port's facts for each of the prober's addresses (PortFacts.client_address).
/// Fits session_services::host_facts.
std::function<std::vector<v1::PortFacts>(const std::map<port_key, std::string>&)> host_port_facts(
    const host_options& options, const std::vector<asio::ip::address>& peers, const std::vector<std::uint16_t>& ports,
    const std::vector<std::uint16_t>& udp_ports = {});

/// `agent check`'s AgentInfo.path: the report is the host's own view.
inline constexpr std::string_view local_check_path = "local";

/// The diagnosis of each port for any remote source (IPv4 and IPv6), on any
/// interface, with the listeners of `host.listeners`, as the prober's report
/// has it (no attempts, no packets): OPEN (a listener on a public address and
/// no rule blocks), NO_LISTENER, LISTENER_WRONG_ADDRESS (loopback only),
/// DROPPED_BY_HOST_FIREWALL, REJECTED_BY_HOST_FIREWALL. Blocking rules are
/// prefixed with their family ("IPv4: ", "IPv6: "). UDP ports likewise, with
/// `host.udp_listeners` and rules evaluated for a datagram (no services).
std::vector<v1::PortReport> check_ports(const host_snapshot& host,
                                        const std::map<std::uint16_t, service_findings>& services,
                                        const std::vector<std::uint16_t>& ports,
                                        const std::vector<std::uint16_t>& udp_ports = {});

/// The report message of `agent check`: target and agent host are this host,
/// the agent CONNECTED with path local_check_path. render/ prints it as it
/// prints the prober's.
v1::Report check_report(std::vector<v1::PortReport> ports, const std::string& hostname);

/// `agent check --ports LIST [--format text|json]`: 0 every port OPEN, 1 some
/// port is not, 2 bad input (message on stderr).
int run_check(const std::string& ports, const std::string& format, const host_options& options = {});

}  // namespace dropspot::agent
