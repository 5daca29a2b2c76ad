#pragma once
// The services behind a port: which systemd unit should answer it, whether it
// runs, is enabled at boot, failed (with its last journal lines), moved to
// another port, or is not installed; and the units a web server depends on
// (php-fpm, databases).
//
// systemd sits behind service_manager: systemd_manager runs `systemctl show`,
// `systemctl list-sockets` and `journalctl` (no shell, with a deadline); in
// unit tests, tests/unit/support/fake_service_manager.h answers from maps. The
// configuration readers (sshd_config Port, nginx listen, apache Listen, postfix master.cf)
// read files under an injectable root; their parsers and diagnose_services
// are pure.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/distro.h"
#include "dropspot.pb.h"

namespace dropspot::agent {

// ---------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------

/// One unit as `systemctl show -p ...` reports it.
struct unit_state {
  std::string name;             ///< Id: "nginx.service" (an alias resolves to its unit: sshd -> ssh.service)
  std::string load_state;       ///< loaded, not-found, masked, error
  std::string active_state;     ///< active, inactive, failed, activating, deactivating
  std::string sub_state;        ///< running, dead, failed, exited, auto-restart
  std::string unit_file_state;  ///< enabled, disabled, static, masked, indirect, generated ("" when unknown)
  std::string result;           ///< success, exit-code, signal, core-dump, timeout, start-limit-hit
  std::uint32_t main_pid = 0;
  std::vector<std::string> wants, requires_, after;  ///< dependencies (Wants=, Requires=, After=)

  /// The unit exists (has a unit file or runs).
  bool found() const { return !load_state.empty() && load_state != "not-found"; }
  bool active() const { return active_state == "active" || active_state == "reloading"; }
  bool failed() const { return active_state == "failed" || result == "exit-code" || result == "signal" ||
                               result == "core-dump" || result == "timeout" || result == "start-limit-hit"; }
  /// Starts at boot: enabled (or enabled-runtime, indirect, generated, static, alias).
  bool enabled() const {
    return unit_file_state == "enabled" || unit_file_state == "enabled-runtime" || unit_file_state == "static" ||
           unit_file_state == "indirect" || unit_file_state == "generated" || unit_file_state == "alias";
  }
  /// "failed (Result: exit-code), enabled at boot", "active (running), disabled at boot".
  std::string describe() const;
};

/// The properties systemd_manager asks `systemctl show -p` for.
inline constexpr std::string_view unit_properties =
    "Id,LoadState,ActiveState,SubState,UnitFileState,Result,MainPID,Wants,Requires,After";

/// Parses `systemctl show` output (Key=value lines; list values space separated).
unit_state parse_systemctl_show(std::string_view text);

/// One line of `systemctl list-sockets --all --no-legend --no-pager`:
/// "[::]:22   ssh.socket   ssh.service".
struct socket_unit {
  std::string listen;     ///< "[::]:22", "0.0.0.0:80", "/run/x.sock"
  std::uint16_t port = 0; ///< 0 for a non-TCP/UDP listen
  std::string unit;       ///< "ssh.socket"
  std::vector<std::string> activates;  ///< "ssh.service"
};
std::vector<socket_unit> parse_list_sockets(std::string_view text);

/// What the agent asks systemd.
class service_manager {
 public:
  virtual ~service_manager() = default;
  /// Empty when the manager can answer; otherwise why it cannot
  /// ("systemd not running: unit state unknown").
  virtual std::string unavailable() const = 0;
  /// The units socket activation attaches to `port` (socket units and the
  /// services they activate).
  virtual std::vector<std::string> units_for_port(std::uint16_t port) = 0;
  /// The unit's state; nothing when it cannot be asked.
  virtual std::optional<unit_state> state(const std::string& unit) = 0;
  /// The unit's last `lines` journal lines, oldest first.
  virtual std::vector<std::string> journal_tail(const std::string& unit, std::size_t lines) = 0;
};

/// The real one: systemctl and journalctl, each call bounded by `timeout`.
/// Unavailable when <root>/run/systemd/system does not exist (systemd is not
/// the running init: containers, this test machine).
class systemd_manager : public service_manager {
 public:
  explicit systemd_manager(const std::string& root = "/",
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  std::string unavailable() const override { return unavailable_; }
  std::vector<std::string> units_for_port(std::uint16_t port) override;
  std::optional<unit_state> state(const std::string& unit) override;
  std::vector<std::string> journal_tail(const std::string& unit, std::size_t lines) override;

 private:
  std::string unavailable_;
  std::chrono::milliseconds timeout_;
  std::optional<std::vector<socket_unit>> sockets_;  ///< list-sockets, read once
};

/// For tests: answers from its maps; `calls` records every question.
// ---------------------------------------------------------------------------
// Daemons and their configuration
// ---------------------------------------------------------------------------

/// A daemon the agent knows by name: the ports it usually serves, its process
/// names (/proc/PID/comm), its units and its package per distribution family.
struct daemon_info {
  std::string_view name;                     ///< "sshd", "postfix", "nginx", "apache"...
  std::vector<std::uint16_t> ports;          ///< the usual ones
  std::vector<std::string_view> processes;   ///< "sshd"; postfix's is "master"
  std::vector<std::string_view> units;       ///< "ssh.service", "sshd.service"
  std::string_view deb_package, rpm_package;
  std::vector<std::string_view> binaries;    ///< /usr/sbin/nginx...: installed when one exists
};
/// sshd, postfix, exim4, sendmail, nginx, apache, caddy, lighttpd.
const std::vector<daemon_info>& known_daemons();
const daemon_info* find_daemon(std::string_view name);

/// A line of a configuration file that sets a listening port.
struct config_port {
  std::uint16_t port = 0;
  int line = 0;      ///< 1-based
  std::string text;  ///< the line, trimmed
};
/// sshd_config: `Port N` and `ListenAddress host:N` lines.
std::vector<config_port> sshd_config_ports(std::string_view text);
/// nginx: `listen 80;`, `listen [::]:443 ssl;`, `listen 127.0.0.1:8080 default_server;`.
std::vector<config_port> nginx_listen_ports(std::string_view text);
/// apache: `Listen 80`, `Listen 0.0.0.0:8080`, `Listen [::]:443 https`.
std::vector<config_port> apache_listen_ports(std::string_view text);
/// postfix master.cf: inet services, smtp=25, submission=587, smtps/submissions=465, [host:]N.
std::vector<config_port> postfix_master_ports(std::string_view text);

/// One configuration file of a daemon and the ports it sets.
struct daemon_config {
  std::string daemon;  ///< daemon_info::name
  std::string file;    ///< as on the host: "/etc/ssh/sshd_config"
  std::vector<config_port> ports;
};
/// Reads the daemons' well-known configuration files under `root`:
/// /etc/ssh/sshd_config(.d/*.conf), /etc/nginx/{nginx.conf,conf.d/*.conf,sites-enabled/*},
/// /etc/apache2/{ports.conf,sites-enabled/*}, /etc/httpd/conf/httpd.conf,
/// /etc/httpd/conf.d/*.conf, /etc/postfix/master.cf. A present sshd_config
/// without Port line counts as port 22 (line 0: the default).
std::vector<daemon_config> read_daemon_configs(const std::string& root = "/");

/// Which known daemons' binaries exist under `root`.
std::vector<std::string> installed_daemons(const std::string& root = "/");

// ---------------------------------------------------------------------------
// The diagnosis
// ---------------------------------------------------------------------------

/// What diagnose_services needs besides the service manager.
struct service_inputs {
  std::uint16_t port = 0;
  std::vector<v1::Listener> listeners;  ///< every LISTEN socket of the host (all ports)
  std::vector<daemon_config> configs;
  std::vector<std::string> installed;   ///< installed_daemons
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

}  // namespace dropspot::agent
