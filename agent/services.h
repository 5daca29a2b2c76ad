#pragma once
// The services behind a port: which systemd unit should answer it, whether it
// runs, is enabled at boot, failed (with its last journal lines), moved to
// another port, or is not installed; and the units a web server depends on
// (php-fpm, databases). Pure over systemd.h's service_manager and
// daemon_config.h's readings.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/daemon_config.h"
#include "agent/distro.h"
#include "agent/systemd.h"
#include "dropspot.pb.h"

namespace dropspot::agent {

/// What diagnose_services needs besides the service manager.
struct service_inputs {
  std::uint16_t port = 0;
  std::vector<v1::Listener> listeners;  ///< every LISTEN socket of the host (all ports)
  std::vector<daemon_config> configs;
  std::vector<std::string> installed;  ///< installed_daemons
  host_system host;
};

/// What the services say about one port.
struct service_findings {
  /// Facts for the evidence: "nginx.service: failed (Result: exit-code), enabled at boot",
  /// "nginx.service journal: ...", "sshd listens on port 2222, not 22 (pid 812)".
  std::vector<std::string> facts;
  std::vector<std::string> notes;   ///< uncertainties ("systemd not running: unit state unknown")
  std::vector<std::string> advice;  ///< exact commands
  std::string summary;              ///< the main finding in a phrase (empty: nothing found)
  bool moved = false;               ///< the expected daemon listens on another port
};

/// Looks for the unit behind `port`: with a listener, whether its unit is
/// enabled at boot and the units it depends on (php-fpm, databases) run; with
/// none, the daemons that should be there (configurations naming the port,
/// socket units, the usual suspects), whether they moved to another port,
/// failed (journal lines), stopped, are disabled, or are not installed.
service_findings diagnose_services(const service_inputs& in, service_manager& manager);

/// Listeners whose socket belongs to systemd itself (cgroup init.scope: the
/// socket of a socket unit, which systemd holds and passes to the service it
/// starts) get the socket unit's name ("ssh.socket") from `systemctl
/// list-sockets`, matched by port and address.
void attribute_socket_activation(std::vector<v1::Listener>& listeners, service_manager& manager);

}  // namespace dropspot::agent
