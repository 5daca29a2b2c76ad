#pragma once
// The daemons the agent knows (sshd, postfix, nginx, apache...) and the ports
// their configuration files set: the parsers are pure, the readers read files
// under an injectable root.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropspot::agent {

/// A daemon the agent knows by name: the ports it usually serves, its process
/// names (/proc/PID/comm), its units and its package per distribution family.
struct daemon_info {
  std::string_view name;                    ///< "sshd", "postfix", "nginx", "apache"...
  std::vector<std::uint16_t> ports;         ///< the usual ones
  std::vector<std::string_view> processes;  ///< "sshd"; postfix's is "master"
  std::vector<std::string_view> units;      ///< "ssh.service", "sshd.service"
  std::string_view deb_package, rpm_package;
  std::vector<std::string_view> binaries;  ///< /usr/sbin/nginx...: installed when one exists
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
/// postfix main.cf: its `inet_interfaces = ...` line (the addresses every
/// inet service of master.cf binds), as a config_port with port 0; nothing
/// when the file leaves it at its default (all).
std::optional<config_port> postfix_inet_interfaces(std::string_view text);
/// exim4 on Debian: update-exim4.conf.conf's `dc_local_interfaces='127.0.0.1 ; ::1'`
/// (the addresses exim's daemon binds; Debian installs it so: local mail
/// only), as a config_port for port 25; nothing when it is empty (all
/// addresses) or absent.
std::optional<config_port> exim4_local_interfaces(std::string_view text);

/// One configuration file of a daemon and the ports it sets.
struct daemon_config {
  std::string daemon;  ///< daemon_info::name
  std::string file;    ///< as on the host: "/etc/ssh/sshd_config"
  std::vector<config_port> ports;
};
/// Reads the daemons' well-known configuration files under `root`:
/// /etc/ssh/sshd_config(.d/*.conf), /etc/nginx/{nginx.conf,conf.d/*.conf,sites-enabled/*},
/// /etc/apache2/{ports.conf,sites-enabled/*}, /etc/httpd/conf/httpd.conf,
/// /etc/httpd/conf.d/*.conf, /etc/postfix/master.cf (with main.cf's
/// inet_interfaces line for each of its ports),
/// /etc/exim4/update-exim4.conf.conf. A present sshd_config
/// without Port line counts as port 22 (line 0: the default).
std::vector<daemon_config> read_daemon_configs(const std::string& root = "/");

/// Which known daemons' binaries exist under `root`.
std::vector<std::string> installed_daemons(const std::string& root = "/");

}  // namespace dropspot::agent
