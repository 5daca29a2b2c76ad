#pragma once
// What the advice adapts to: the distribution (its package manager and package
// names), the firewall manager in charge, and whether systemd runs.
//
// Read from files under a root directory ("/" on a host, a fixture tree in
// tests): <root>/etc/os-release (else <root>/usr/lib/os-release),
// <root>/etc/ufw/ufw.conf (ENABLED=yes), <root>/run/firewalld.pid or
// <root>/run/firewalld/ (firewalld running), <root>/run/systemd/system/
// (systemd is the running init, as sd_booted(3) checks), <root>/sys/fs/selinux/enforce
// (SELinux's mode now), <root>/usr/sbin/semanage. The parsers and the
// command builders are pure; only detect_system reads files.
#include <cstdint>
#include <string>
#include <string_view>

namespace dropspot::agent {

/// The fields of os-release(5) the advice uses.
struct os_release {
  std::string id;           ///< "debian", "ubuntu", "fedora", "rocky"...
  std::string id_like;      ///< "debian", "rhel centos fedora"...
  std::string version_id;   ///< "12", "9.3"
  std::string pretty_name;  ///< "Debian GNU/Linux 12 (bookworm)"
};

/// Parses os-release content: KEY=value lines, values optionally quoted
/// ('...' or "..." with \ escapes); comments and other keys are skipped.
os_release parse_os_release(std::string_view text);

/// Reads <root>/etc/os-release, else <root>/usr/lib/os-release; empty fields
/// when neither can be read.
os_release read_os_release(const std::string& root = "/");

enum class package_manager { unknown, apt, dnf, yum, zypper, apk, pacman };
const char* to_string(package_manager p);

/// The package manager of a distribution: apt for Debian and Ubuntu and their
/// derivatives, dnf for Fedora and RHEL 8+ likes, yum for RHEL/CentOS 7 and
/// older, zypper for SUSE, apk for Alpine, pacman for Arch.
package_manager package_manager_for(const os_release& os);

/// Whether a distribution belongs to the Debian family (package names differ:
/// apache2 / httpd, openssh-server on both).
bool debian_family(const os_release& os);

/// The firewall manager whose commands the advice gives.
enum class firewall_manager {
  nftables,   ///< plain nft (the default when nothing else is in charge)
  iptables,   ///< iptables rules only (no nft ruleset besides iptables-nft's)
  firewalld,  ///< firewalld runs
  ufw,        ///< ufw is enabled (/etc/ufw/ufw.conf ENABLED=yes)
};
const char* to_string(firewall_manager f);

/// ufw.conf content: ENABLED=yes (quoted or not).
bool ufw_enabled(std::string_view ufw_conf);

/// SELinux as the kernel applies it now (what getenforce prints): off when
/// /sys/fs/selinux/enforce is absent (disabled, or a kernel without it).
enum class selinux_mode { off, permissive, enforcing };
const char* to_string(selinux_mode m);

/// /sys/fs/selinux/enforce's content: "1" enforcing, "0" permissive.
selinux_mode parse_selinux_enforce(std::string_view text);

/// The host as the advice sees it.
struct host_system {
  os_release os;
  package_manager packages = package_manager::unknown;
  firewall_manager firewall = firewall_manager::nftables;
  bool firewalld_running = false;
  bool ufw_active = false;
  bool systemd_running = false;
  selinux_mode selinux = selinux_mode::off;
  bool semanage_installed = false;  ///< /usr/sbin/semanage (policycoreutils-python-utils)
};

/// Reads the files named at the top under `root` ("/" or a fixture tree).
/// `iptables_only`: the live firewall is iptables (legacy) rules only; chosen
/// as the firewall manager when neither firewalld nor ufw is in charge.
host_system detect_system(const std::string& root = "/", bool iptables_only = false);

/// "apt install nginx", "dnf install httpd"; empty for an unknown manager.
std::string install_command(package_manager p, std::string_view package);

/// The command that lets TCP `port` in, for the firewall manager in charge:
///   firewalld: "firewall-cmd --permanent --add-port=80/tcp && firewall-cmd --reload"
///              (--add-service=NAME when `service` is not empty)
///   ufw:       "ufw allow 80/tcp"
///   nftables:  "nft insert rule inet filter input tcp dport 80 accept"
///   iptables:  "iptables -I INPUT -p tcp --dport 80 -j ACCEPT"
/// With udp: the same for a UDP port ("ufw allow 51820/udp", "udp dport").
std::string open_port_command(firewall_manager f, std::uint16_t port, std::string_view service = {},
                              std::string_view zone = {}, bool udp = false);

/// How to keep the live rules across a reboot, for the firewall manager:
/// "firewall-cmd --runtime-to-permanent", "nft list ruleset > /etc/nftables.conf",
/// "netfilter-persistent save" (Debian) or "service iptables save" (RHEL).
std::string save_rules_command(const host_system& host);

}  // namespace dropspot::agent
