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

/// A daemon's unit on this distribution: the first of its units on the Debian
/// family (ssh.service, apache2.service), the second elsewhere (sshd.service,
/// httpd.service).
std::string daemon_unit(const daemon_info& d, const host_system& host);
/// A daemon's package on this distribution ("apache2" / "httpd").
std::string daemon_package(const daemon_info& d, const host_system& host);

/// SELinux's type for the ports a daemon may bind ("http_port_t" for the web
/// servers, "ssh_port_t", "smtp_port_t" for the MTAs); empty when not known.
std::string_view selinux_port_type(std::string_view daemon);
/// Whether a unit's journal lines say that binding TCP `port` was refused
/// with "Permission denied" (httpd's make_sock, nginx's bind(), sshd's
/// "Bind to port N"): under SELinux, a port outside the daemon's type.
bool bind_denied(const std::vector<std::string>& journal, std::uint16_t port);
/// Labels `port` with `type`, whether the policy has it under another type
/// (-m) or not at all (-a): "semanage port -a -t T -p tcp N || semanage port -m -t T -p tcp N".
std::string selinux_port_command(std::string_view type, std::uint16_t port);

/// Listeners whose socket belongs to systemd itself (cgroup init.scope: the
/// socket of a socket unit, which systemd holds and passes to the service it
/// starts) get the socket unit's name ("ssh.socket") from `systemctl
/// list-sockets`, matched by port and address.
void attribute_socket_activation(std::vector<v1::Listener>& listeners, service_manager& manager);

}  // namespace dropspot::agent
