#include "agent/distro.h"
#include "agent/host_files.h"
#include "common/text.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace dropspot::agent {

namespace {

std::string unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') return std::string(v.substr(1, v.size() - 2));
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
      if (v[i] == '\\' && i + 2 < v.size()) ++i;
      out += v[i];
    }
    return out;
  }
  return std::string(v);
}

}  // namespace

os_release parse_os_release(std::string_view text) {
  os_release out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    auto key = t.substr(0, eq);
    auto value = unquote(trim(std::string_view(t).substr(eq + 1)));
    if (key == "ID")
      out.id = value;
    else if (key == "ID_LIKE")
      out.id_like = value;
    else if (key == "VERSION_ID")
      out.version_id = value;
    else if (key == "PRETTY_NAME")
      out.pretty_name = value;
  }
  return out;
}

const char* to_string(package_manager p) {
  switch (p) {
    case package_manager::unknown: return "unknown";
    case package_manager::apt: return "apt";
    case package_manager::dnf: return "dnf";
    case package_manager::yum: return "yum";
    case package_manager::zypper: return "zypper";
    case package_manager::apk: return "apk";
    case package_manager::pacman: return "pacman";
  }
  return "?";
}

const char* to_string(firewall_manager f) {
  switch (f) {
    case firewall_manager::nftables: return "nftables";
    case firewall_manager::iptables: return "iptables";
    case firewall_manager::firewalld: return "firewalld";
    case firewall_manager::ufw: return "ufw";
  }
  return "?";
}

const char* to_string(selinux_mode m) {
  switch (m) {
    case selinux_mode::off: return "off";
    case selinux_mode::permissive: return "permissive";
    case selinux_mode::enforcing: return "enforcing";
  }
  return "?";
}

selinux_mode parse_selinux_enforce(std::string_view text) {
  return trim(text) == "1" ? selinux_mode::enforcing : selinux_mode::permissive;
}

bool debian_family(const os_release& os) {
  if (os.id == "debian" || os.id == "ubuntu") return true;
  for (const auto& w : words(os.id_like))
    if (w == "debian" || w == "ubuntu") return true;
  return false;
}

package_manager package_manager_for(const os_release& os) {
  std::vector<std::string> ids{os.id};
  for (auto& w : words(os.id_like)) ids.push_back(w);
  const int major = std::atoi(os.version_id.c_str());
  for (const auto& id : ids) {
    if (id == "debian" || id == "ubuntu") return package_manager::apt;
    if (id == "fedora") return package_manager::dnf;
    if (id == "rhel" || id == "centos" || id == "rocky" || id == "almalinux" || id == "ol" || id == "amzn") {
      // RHEL/CentOS 7 and Amazon Linux 2 have yum only; 8 and later (and Amazon Linux 2023) dnf
      if ((id == "amzn" && major == 2) || (id != "amzn" && major > 0 && major < 8)) return package_manager::yum;
      return package_manager::dnf;
    }
    if (id == "suse" || id == "opensuse" || id.rfind("opensuse", 0) == 0 || id == "sles")
      return package_manager::zypper;
    if (id == "alpine") return package_manager::apk;
    if (id == "arch" || id == "manjaro") return package_manager::pacman;
  }
  return package_manager::unknown;
}

bool ufw_enabled(std::string_view ufw_conf) {
  std::istringstream in{std::string(ufw_conf)};
  std::string line;
  bool enabled = false;
  while (std::getline(in, line)) {
    auto t = trim(line);
    if (t.rfind("ENABLED=", 0) == 0) enabled = unquote(t.substr(8)) == "yes";
  }
  return enabled;
}

os_release read_os_release(const std::string& root) {
  std::string text;
  if (read_text(join_root(root, "/etc/os-release"), text) || read_text(join_root(root, "/usr/lib/os-release"), text))
    return parse_os_release(text);
  return {};
}

host_system detect_system(const std::string& root, bool iptables_only) {
  host_system h;
  std::string text;
  h.os = read_os_release(root);
  h.packages = package_manager_for(h.os);
  h.firewalld_running =
      path_exists(join_root(root, "/run/firewalld.pid")) || path_exists(join_root(root, "/run/firewalld"));
  h.ufw_active = read_text(join_root(root, "/etc/ufw/ufw.conf"), text) && ufw_enabled(text);
  h.systemd_running = path_exists(join_root(root, "/run/systemd/system"));
  if (read_text(join_root(root, "/sys/fs/selinux/enforce"), text)) h.selinux = parse_selinux_enforce(text);
  h.semanage_installed = path_exists(join_root(root, "/usr/sbin/semanage"));
  if (h.firewalld_running)
    h.firewall = firewall_manager::firewalld;
  else if (h.ufw_active)
    h.firewall = firewall_manager::ufw;
  else if (iptables_only)
    h.firewall = firewall_manager::iptables;
  else
    h.firewall = firewall_manager::nftables;
  return h;
}

std::string install_command(package_manager p, std::string_view package) {
  const std::string pkg(package);
  switch (p) {
    case package_manager::apt: return "apt install " + pkg;
    case package_manager::dnf: return "dnf install " + pkg;
    case package_manager::yum: return "yum install " + pkg;
    case package_manager::zypper: return "zypper install " + pkg;
    case package_manager::apk: return "apk add " + pkg;
    case package_manager::pacman: return "pacman -S " + pkg;
    case package_manager::unknown: break;
  }
  return {};
}

std::string open_port_command(firewall_manager f, std::uint16_t port, std::string_view service, std::string_view zone,
                              bool udp) {
  const auto n = std::to_string(port);
  const std::string proto = udp ? "udp" : "tcp";
  switch (f) {
    case firewall_manager::firewalld: {
      std::string z = zone.empty() ? std::string() : " --zone=" + std::string(zone);
      std::string what = service.empty() ? "--add-port=" + n + "/" + proto : "--add-service=" + std::string(service);
      return "firewall-cmd --permanent" + z + " " + what + " && firewall-cmd --reload";
    }
    case firewall_manager::ufw: return "ufw allow " + n + "/" + proto;
    case firewall_manager::iptables: return "iptables -I INPUT -p " + proto + " --dport " + n + " -j ACCEPT";
    case firewall_manager::nftables: break;
  }
  return "nft insert rule inet filter input " + proto + " dport " + n + " accept";
}

std::string save_rules_command(const host_system& host) {
  switch (host.firewall) {
    case firewall_manager::firewalld: return "firewall-cmd --runtime-to-permanent";
    case firewall_manager::ufw: return "ufw reload (ufw keeps its rules in /etc/ufw; add them with ufw allow)";
    case firewall_manager::iptables:
      if (host.packages == package_manager::apt) return "netfilter-persistent save (package iptables-persistent)";
      if (host.packages == package_manager::dnf || host.packages == package_manager::yum)
        return "service iptables save (package iptables-services)";
      return "iptables-save > /etc/iptables/rules.v4; ip6tables-save > /etc/iptables/rules.v6";
    case firewall_manager::nftables: break;
  }
  if (host.packages == package_manager::dnf || host.packages == package_manager::yum)
    return "nft list ruleset > /etc/sysconfig/nftables.conf";
  return "nft list ruleset > /etc/nftables.conf";
}

}  // namespace dropspot::agent
