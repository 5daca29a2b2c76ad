// The services behind a port (agent/services) and the host's distribution
// (agent/distro), over fixture trees in tests/data/host and a fake systemd.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "agent/distro.h"
#include "agent/services.h"
#include "support/fake_service_manager.h"

using namespace dropspot;
using namespace dropspot::agent;

namespace {

const std::string data = DROPSPOT_TEST_DATA;

v1::Listener listener(std::uint32_t port, const char* address, const char* process, std::uint32_t pid,
                      const char* unit = "") {
  v1::Listener l;
  l.set_port(port);
  l.set_address(address);
  l.set_process(process);
  l.set_pid(pid);
  l.set_unit(unit);
  return l;
}

bool has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

service_inputs debian_inputs(std::uint16_t port, std::vector<v1::Listener> listeners) {
  service_inputs in;
  in.port = port;
  in.listeners = std::move(listeners);
  in.configs = read_daemon_configs(data + "/host/debian");
  in.installed = installed_daemons(data + "/host/debian");
  in.host = detect_system(data + "/host/debian");
  return in;
}

}  // namespace

TEST_CASE("os-release: quoting, comments, unknown keys; package manager per distribution") {
  auto os = parse_os_release(
      "# comment\nID=\"rocky\"\nID_LIKE='rhel centos fedora'\nVERSION_ID=\"9.4\"\n"
      "PRETTY_NAME=\"Rocky \\\"Linux\\\" 9\"\nOTHER=x\n");
  CHECK(os.id == "rocky");
  CHECK(os.id_like == "rhel centos fedora");
  CHECK(os.version_id == "9.4");
  CHECK(os.pretty_name == "Rocky \"Linux\" 9");
  CHECK(package_manager_for(os) == package_manager::dnf);
  CHECK_FALSE(debian_family(os));
  CHECK(package_manager_for(parse_os_release("ID=ubuntu\nID_LIKE=debian\n")) == package_manager::apt);
  CHECK(package_manager_for(parse_os_release("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n")) == package_manager::apt);
  CHECK(package_manager_for(parse_os_release("ID=\"centos\"\nVERSION_ID=\"7\"\n")) == package_manager::yum);
  CHECK(package_manager_for(parse_os_release("ID=\"amzn\"\nVERSION_ID=\"2\"\n")) == package_manager::yum);
  CHECK(package_manager_for(parse_os_release("ID=\"amzn\"\nVERSION_ID=\"2023\"\n")) == package_manager::dnf);
  CHECK(package_manager_for(parse_os_release("ID=fedora\nVERSION_ID=40\n")) == package_manager::dnf);
  CHECK(package_manager_for(parse_os_release("ID=\"opensuse-leap\"\n")) == package_manager::zypper);
  CHECK(package_manager_for(parse_os_release("ID=alpine\n")) == package_manager::apk);
  CHECK(package_manager_for(parse_os_release("")) == package_manager::unknown);
  CHECK(install_command(package_manager::apt, "nginx") == "apt install nginx");
  CHECK(install_command(package_manager::dnf, "httpd") == "dnf install httpd");
  CHECK(install_command(package_manager::unknown, "x").empty());
}

TEST_CASE("detect_system: fixture roots (Debian nft, Ubuntu ufw, Rocky firewalld, CentOS 7)") {
  auto debian = detect_system(data + "/host/debian");
  CHECK(debian.os.pretty_name == "Debian GNU/Linux 12 (bookworm)");
  CHECK(debian.packages == package_manager::apt);
  CHECK(debian.firewall == firewall_manager::nftables);
  CHECK_FALSE(debian.ufw_active);  // ENABLED=no
  CHECK_FALSE(debian.systemd_running);
  CHECK(detect_system(data + "/host/debian", true).firewall == firewall_manager::iptables);

  auto ubuntu = detect_system(data + "/host/ubuntu");
  CHECK(ubuntu.ufw_active);
  CHECK(ubuntu.firewall == firewall_manager::ufw);
  CHECK(open_port_command(ubuntu.firewall, 80) == "ufw allow 80/tcp");

  auto rocky = detect_system(data + "/host/rocky");
  CHECK(rocky.firewalld_running);
  CHECK(rocky.firewall == firewall_manager::firewalld);
  CHECK(rocky.packages == package_manager::dnf);
  CHECK(open_port_command(rocky.firewall, 80, "http", "public") ==
        "firewall-cmd --permanent --zone=public --add-service=http && firewall-cmd --reload");
  CHECK(open_port_command(rocky.firewall, 8443) ==
        "firewall-cmd --permanent --add-port=8443/tcp && firewall-cmd --reload");
  CHECK(save_rules_command(rocky) == "firewall-cmd --runtime-to-permanent");

  auto centos = detect_system(data + "/host/centos7", true);
  CHECK(centos.packages == package_manager::yum);
  CHECK(save_rules_command(centos) == "service iptables save (package iptables-services)");
  CHECK(save_rules_command(debian) == "nft list ruleset > /etc/nftables.conf");
  CHECK(open_port_command(firewall_manager::nftables, 25) == "nft insert rule inet filter input tcp dport 25 accept");
  CHECK(open_port_command(firewall_manager::iptables, 25) == "iptables -I INPUT -p tcp --dport 25 -j ACCEPT");

  auto none = detect_system(data + "/host/does-not-exist");
  CHECK(none.packages == package_manager::unknown);
  CHECK(none.firewall == firewall_manager::nftables);
}

TEST_CASE("systemctl show and list-sockets parsing") {
  auto u = parse_systemctl_show(
      "Id=nginx.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\nUnitFileState=enabled\n"
      "Result=exit-code\nMainPID=0\nWants=php8.2-fpm.service network-online.target\n"
      "Requires=system.slice sysinit.target\nAfter=network.target php8.2-fpm.service mariadb.service\n");
  CHECK(u.name == "nginx.service");
  CHECK(u.found());
  CHECK(u.failed());
  CHECK_FALSE(u.active());
  CHECK(u.enabled());
  CHECK(u.wants == std::vector<std::string>{"php8.2-fpm.service", "network-online.target"});
  CHECK(u.after.size() == 3);
  CHECK(u.describe() == "failed (Result: exit-code), enabled at boot");
  auto gone = parse_systemctl_show("Id=foo.service\nLoadState=not-found\nActiveState=inactive\n");
  CHECK_FALSE(gone.found());
  CHECK(unit("postfix.service", "inactive", "dead", "disabled").describe() == "inactive (dead), disabled at boot");
  CHECK(unit("ssh.service", "active", "running", "enabled", "success", 812).describe() ==
        "active (running) pid 812, enabled at boot");

  auto sockets = parse_list_sockets(
      "[::]:22                         ssh.socket                 ssh.service\n"
      "/run/dbus/system_bus_socket     dbus.socket                dbus.service\n"
      "0.0.0.0:8080                    app.socket                 app@0.service, app-admin.service\n");
  REQUIRE(sockets.size() == 3);
  CHECK(sockets[0].port == 22);
  CHECK(sockets[0].unit == "ssh.socket");
  CHECK(sockets[0].activates == std::vector<std::string>{"ssh.service"});
  CHECK(sockets[1].port == 0);
  CHECK(sockets[2].activates == std::vector<std::string>{"app@0.service", "app-admin.service"});
}

TEST_CASE("configuration files: sshd Port, nginx listen, apache Listen, postfix master.cf") {
  auto ssh = sshd_config_ports(
      "Port 2222\n#Port 22\nport=2200\nListenAddress 192.0.2.1:2022\nListenAddress ::\n"
      "Match User x\n  Port 9999\n");
  REQUIRE(ssh.size() == 3);
  CHECK(ssh[0].port == 2222);
  CHECK(ssh[0].line == 1);
  CHECK(ssh[1].port == 2200);
  CHECK(ssh[2].port == 2022);
  auto nginx = nginx_listen_ports(
      "server {\n  listen 80 default_server;\n  listen [::]:443 ssl;\n"
      "  # listen 8443;\n  listen 127.0.0.1;\n}\nserver { listen 127.0.0.1:8080; }\n");
  REQUIRE(nginx.size() == 4);
  CHECK(nginx[0].port == 80);
  CHECK(nginx[1].port == 443);
  CHECK(nginx[2].port == 80);
  CHECK(nginx[3].port == 8080);
  CHECK(nginx[3].line == 7);
  auto apache = apache_listen_ports("Listen 80\n<IfModule ssl_module>\n\tListen [::]:443 https\n</IfModule>\n");
  REQUIRE(apache.size() == 2);
  CHECK(apache[1].port == 443);
  std::string master;
  {
    auto configs = read_daemon_configs(data + "/host/debian");
    std::vector<std::string> seen;
    for (const auto& c : configs) seen.push_back(c.daemon + " " + c.file + " " + std::to_string(c.ports.size()));
    CHECK(seen == std::vector<std::string>{"sshd /etc/ssh/sshd_config 1", "nginx /etc/nginx/sites-enabled/default 4",
                                           "postfix /etc/postfix/master.cf 3"});
    CHECK(configs[0].ports[0].port == 2222);  // the Match block's Port is not the daemon's
    CHECK(configs[0].ports[0].line == 6);
    CHECK(configs[2].ports[1].port == 587);
    CHECK(configs[2].ports[2].port == 10025);
  }
  CHECK(installed_daemons(data + "/host/debian") == std::vector<std::string>{"sshd", "postfix", "nginx"});
  auto rocky = read_daemon_configs(data + "/host/rocky");
  REQUIRE(rocky.size() == 1);
  CHECK(rocky[0].daemon == "apache");
}

TEST_CASE("services: a failed nginx with its journal lines and its php-fpm") {
  fake_service_manager sd;
  auto nginx = unit("nginx.service", "failed", "failed", "enabled", "exit-code");
  nginx.after = {"network.target", "php8.2-fpm.service"};
  sd.units["nginx.service"] = nginx;
  sd.units["php8.2-fpm.service"] = unit("php8.2-fpm.service", "inactive", "dead", "disabled");
  sd.journals["nginx.service"] = {
      "Nov 25 10:00:01 web nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
      "Nov 25 10:00:01 web systemd[1]: nginx.service: Control process exited, code=exited, status=1/FAILURE",
      "Nov 25 10:00:01 web systemd[1]: nginx.service: Failed with result 'exit-code'."};
  auto f = diagnose_services(debian_inputs(80, {listener(22, "0.0.0.0", "sshd", 700)}), sd);
  CHECK(f.summary == "nginx.service failed");
  CHECK(has(f.facts, "nginx.service: failed (Result: exit-code), enabled at boot"));
  CHECK(has(f.facts, "nginx.service journal: Nov 25 10:00:01 web nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80"));
  CHECK(has(f.facts, "/etc/nginx/sites-enabled/default:4: listen 80 default_server; (nginx)"));
  CHECK(has(f.advice, "journalctl -u nginx.service -n 50 --no-pager"));
  CHECK(has(f.advice, "systemctl restart nginx.service"));
  CHECK_FALSE(f.moved);
  // apache, caddy, lighttpd are asked about too, and are not there: nothing said about them
  CHECK_FALSE(has(f.facts, "apache"));
}

TEST_CASE("services: stopped and disabled postfix; not installed exim") {
  fake_service_manager sd;
  sd.units["postfix.service"] = unit("postfix.service", "inactive", "dead", "disabled");
  auto f = diagnose_services(debian_inputs(587, {}), sd);
  CHECK(f.summary == "postfix.service is inactive and not enabled at boot");
  CHECK(has(f.facts, "postfix.service: inactive (dead), disabled at boot"));
  CHECK(has(f.facts, "/etc/postfix/master.cf:10: submission inet n"));
  CHECK(f.advice.at(0) == "systemctl enable --now postfix.service");

  // Port 443 on a host with none of the web servers: the install command for the distribution.
  auto bare = debian_inputs(443, {});
  bare.configs.clear();
  bare.installed.clear();
  auto g = diagnose_services(bare, sd);
  CHECK(g.summary == "nginx is not installed");
  CHECK(has(g.advice, "apt install nginx && systemctl enable --now nginx.service"));
  bare.host = detect_system(data + "/host/rocky");
  auto h = diagnose_services(bare, sd);
  CHECK(has(h.advice, "dnf install nginx"));
}

TEST_CASE("services: sshd moved to 2222, its configuration line named") {
  fake_service_manager sd;
  sd.units["ssh.service"] = unit("ssh.service", "active", "running", "enabled", "success", 812);
  auto f = diagnose_services(debian_inputs(22, {listener(2222, "0.0.0.0", "sshd", 812, "ssh.service"),
                                                listener(2222, "::", "sshd", 812, "ssh.service")}),
                             sd);
  CHECK(f.moved);
  CHECK(f.summary == "sshd listens on port 2222 instead");
  CHECK(has(f.facts, "sshd (pid 812) listens on port 2222, not 22"));
  CHECK(has(f.facts, "/etc/ssh/sshd_config:6: Port 2222 (sshd)"));
  CHECK(has(f.advice,
            "connect to port 2222, or set port 22 in /etc/ssh/sshd_config and restart it: systemctl "
            "restart ssh.service"));
  CHECK(has(f.facts, "ssh.service: active (running) pid 812, enabled at boot"));
}

TEST_CASE("services: running but not enabled at boot; related database failed") {
  fake_service_manager sd;
  auto nginx = unit("nginx.service", "active", "running", "disabled", "success", 900);
  nginx.wants = {"mariadb.service"};
  sd.units["nginx.service"] = nginx;
  sd.units["mariadb.service"] = unit("mariadb.service", "failed", "failed", "enabled", "signal");
  sd.journals["mariadb.service"] = {"Nov 25 mariadbd[1]: [ERROR] InnoDB: out of memory"};
  auto f = diagnose_services(debian_inputs(80, {listener(80, "0.0.0.0", "nginx", 900, "nginx.service")}), sd);
  CHECK(f.summary == "nginx.service runs but is not enabled at boot");
  CHECK(has(f.facts, "port 80 will be closed after a reboot"));
  CHECK(has(f.advice, "systemctl enable nginx.service"));
  CHECK(has(f.facts, "related unit mariadb.service (nginx.service depends on it): failed (Result: signal)"));
  CHECK(has(f.facts, "mariadb.service journal: Nov 25 mariadbd[1]: [ERROR] InnoDB: out of memory"));
  CHECK(has(f.advice, "systemctl restart mariadb.service"));
}

TEST_CASE("services: without systemd the unit state is unknown, the rest still works") {
  fake_service_manager sd;
  sd.unavailable_reason = "systemd not running: unit state unknown";
  auto f = diagnose_services(debian_inputs(22, {listener(2222, "0.0.0.0", "sshd", 812)}), sd);
  CHECK(f.moved);
  CHECK(f.notes == std::vector<std::string>{"systemd not running: unit state unknown"});
  for (const auto& c : sd.calls) CHECK(c.rfind("state", 0) != 0);  // never asked
  // the real manager says the same on a root without /run/systemd/system
  systemd_manager real(data + "/host/debian");
  CHECK(real.unavailable() == "systemd not running: unit state unknown");
  CHECK_FALSE(real.state("ssh.service"));
  CHECK(real.journal_tail("ssh.service", 10).empty());
}

TEST_CASE("services: configured for another port (sshd Port 2222, postfix without smtps)") {
  fake_service_manager sd;
  sd.unavailable_reason = "systemd not running: unit state unknown";
  auto ssh = diagnose_services(debian_inputs(22, {}), sd);  // nothing listens anywhere
  CHECK_FALSE(ssh.moved);
  CHECK(ssh.summary == "sshd is configured for port 2222");
  CHECK(has(ssh.facts, "sshd is configured for port 2222, not 22 (/etc/ssh/sshd_config:6: Port 2222)"));
  CHECK(has(ssh.advice, "to serve port 22, add it in /etc/ssh/sshd_config and restart: systemctl restart ssh.service"));
  auto smtps = diagnose_services(debian_inputs(465, {}), sd);
  CHECK(smtps.summary == "postfix is configured for port 25, 587, 10025");
  // a configuration that names the port says nothing of the kind
  auto submission = diagnose_services(debian_inputs(587, {}), sd);
  CHECK_FALSE(has(submission.facts, "is configured for port"));
}

TEST_CASE("services: unit names follow the distribution (apache2/ssh on Debian, httpd/sshd elsewhere)") {
  fake_service_manager sd;
  sd.unavailable_reason = "systemd not running: unit state unknown";
  service_inputs in;
  in.port = 443;
  in.configs = read_daemon_configs(data + "/host/rocky");
  in.host = detect_system(data + "/host/rocky");
  auto f = diagnose_services(in, sd);
  CHECK(has(f.advice, "add it in /etc/httpd/conf/httpd.conf and restart: systemctl restart httpd.service"));
  auto moved = debian_inputs(22, {listener(2222, "0.0.0.0", "sshd", 812)});
  moved.host = detect_system(data + "/host/rocky");
  CHECK(has(diagnose_services(moved, sd).advice, "systemctl restart sshd.service"));
}

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(data + "/host/systemd/" + name);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A fake systemd answering with what a real Debian 12 printed
/// (tests/data/host/systemd: `systemctl show -p <unit_properties>`,
/// `systemctl list-sockets --all --no-legend --full`, `journalctl -u`).
fake_service_manager recorded(std::initializer_list<const char*> show_files) {
  fake_service_manager sd;
  for (const auto* f : show_files) {
    auto u = parse_systemctl_show(fixture(f));
    sd.units[u.name] = u;
  }
  for (auto& s : parse_list_sockets(fixture("list-sockets.txt")))
    if (s.port) sd.sockets[s.port].push_back(s);
  return sd;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("services over a real systemd's answers: failed with nginx's reason, stopped, not enabled") {
  auto failed = recorded({"nginx-failed.show"});
  failed.journals["nginx.service"] = lines_of(fixture("nginx-failed.journal"));
  auto f = diagnose_services(debian_inputs(80, {}), failed);
  CHECK(f.summary == "nginx.service failed");
  CHECK(has(f.facts, "nginx.service: failed (Result: exit-code), enabled at boot"));
  CHECK(has(f.facts, "[emerg] 192#192: unknown directive \"bogus_directive\" in /etc/nginx/sites-enabled/broken:1"));

  auto stopped = recorded({"nginx-inactive.show"});
  auto g = diagnose_services(debian_inputs(80, {}), stopped);
  CHECK(g.summary == "nginx.service is inactive");
  CHECK(has(g.advice, "systemctl start nginx.service"));

  auto running = recorded({"nginx-active.show"});
  auto h = diagnose_services(debian_inputs(80, {listener(80, "0.0.0.0", "", 0, "nginx.service")}), running);
  CHECK(h.summary.empty());
  CHECK(has(h.facts, "nginx.service: active (running) pid 40, enabled at boot"));

  auto not_enabled = recorded({"nginx-not-enabled.show"});
  auto k = diagnose_services(debian_inputs(80, {listener(80, "0.0.0.0", "", 0, "nginx.service")}), not_enabled);
  CHECK(k.summary == "nginx.service runs but is not enabled at boot");
  CHECK(has(k.advice, "systemctl enable nginx.service"));
}

TEST_CASE("services: socket activation (ssh.socket holds port 22, ssh.service starts at a connection)") {
  CHECK(listen_covers("[::]:22", "::"));
  CHECK(listen_covers("0.0.0.0:80", "0.0.0.0"));
  CHECK(listen_covers("22", "0.0.0.0"));
  CHECK_FALSE(listen_covers("127.0.0.1:22", "::"));
  CHECK_FALSE(listen_covers("[::1]:22", "::"));

  // Listening: the socket's cgroup is systemd's own (init.scope) and no
  // process is visible to the agent: the listener is the socket unit's.
  auto sd = recorded({"ssh-socket-listening.show", "ssh-service-inactive.show"});
  std::vector<v1::Listener> listeners{listener(22, "::", "", 0, "init.scope"),
                                      listener(80, "0.0.0.0", "", 0, "nginx.service")};
  attribute_socket_activation(listeners, sd);
  CHECK(listeners[0].unit() == "ssh.socket");
  CHECK(listeners[1].unit() == "nginx.service");
  auto f = diagnose_services(debian_inputs(22, listeners), sd);
  CHECK(f.summary.empty());
  CHECK(
      has(f.facts, "ssh.socket (socket activation: systemd listens on port 22): active (listening), enabled at boot"));
  CHECK(has(f.facts, "ssh.service (started by ssh.socket at a connection): inactive (dead), disabled at boot"));
  CHECK(f.advice.empty());

  // Stopped: nothing listens; the socket unit is what to start, not ssh.service.
  auto stopped = recorded({"ssh-socket-inactive.show", "ssh-service-inactive.show"});
  auto bare = debian_inputs(22, {});
  bare.configs.clear();  // the fixture's sshd_config says Port 2222
  auto g = diagnose_services(bare, stopped);
  CHECK(g.summary == "ssh.socket is inactive");
  CHECK(has(g.facts, "ssh.socket (socket activation for port 22): inactive (dead), enabled at boot"));
  CHECK(has(g.facts, "ssh.service (started by ssh.socket at a connection)"));
  CHECK(g.advice == std::vector<std::string>{"systemctl start ssh.socket"});

  // Without systemd nothing is renamed.
  fake_service_manager none;
  none.unavailable_reason = "systemd not running: unit state unknown";
  std::vector<v1::Listener> kept{listener(22, "::", "", 0, "init.scope")};
  attribute_socket_activation(kept, none);
  CHECK(kept[0].unit() == "init.scope");
}

TEST_CASE("services: exim4 as Debian installs it (local mail only): its dc_local_interfaces line and the fix") {
  // The file debconf writes (Debian 12's exim4-config defaults).
  const std::string debian =
      "# /etc/exim4/update-exim4.conf.conf\n#\n"
      "dc_eximconfig_configtype='local'\n"
      "dc_other_hostnames='vm'\n"
      "dc_local_interfaces='127.0.0.1 ; ::1'\n"
      "dc_readhost=''\n";
  auto line = exim4_local_interfaces(debian);
  REQUIRE(line);
  CHECK(line->port == 25);
  CHECK(line->line == 5);
  CHECK(line->text == "dc_local_interfaces='127.0.0.1 ; ::1'");
  CHECK_FALSE(exim4_local_interfaces("dc_local_interfaces=''\n").has_value());  // every address
  CHECK_FALSE(exim4_local_interfaces("dc_local_interfaces='127.0.0.1'\ndc_local_interfaces=\"\"\n").has_value());
  CHECK_FALSE(exim4_local_interfaces("# dc_local_interfaces='127.0.0.1'\n").has_value());

  auto in = debian_inputs(25, {listener(25, "127.0.0.1", "exim4", 700, "exim4.service"),
                               listener(25, "::1", "exim4", 700, "exim4.service")});
  in.configs.push_back({"exim4", "/etc/exim4/update-exim4.conf.conf", {*line}});
  fake_service_manager sd;
  sd.units["exim4.service"] = unit("exim4.service", "active", "running", "enabled");
  auto f = diagnose_services(in, sd);
  CHECK(has(f.facts, "/etc/exim4/update-exim4.conf.conf:5: dc_local_interfaces='127.0.0.1 ; ::1' (exim4)"));
  CHECK(has(f.advice,
            "sed -i \"s/^dc_local_interfaces=.*/dc_local_interfaces=''/\" "
            "/etc/exim4/update-exim4.conf.conf && update-exim4.conf && systemctl restart exim4"));
}

TEST_CASE("services: postfix on loopback only: main.cf's inet_interfaces named, postconf to fix it") {
  CHECK_FALSE(postfix_inet_interfaces("myhostname = vm\n# inet_interfaces = all\n").has_value());
  auto line = postfix_inet_interfaces("inet_interfaces = all\nmyhostname = vm\ninet_interfaces = loopback-only\n");
  REQUIRE(line);
  CHECK(line->line == 3);
  CHECK(line->text == "inet_interfaces = loopback-only");

  auto in = debian_inputs(
      25, {listener(25, "127.0.0.1", "", 0, "postfix@-.service"), listener(25, "::1", "", 0, "postfix@-.service")});
  in.configs.push_back({"postfix", "/etc/postfix/main.cf", {{25, 41, "inet_interfaces = loopback-only"}}});
  fake_service_manager sd;
  sd.units["postfix@-.service"] = unit("postfix@-.service", "active", "running", "enabled-runtime");
  auto f = diagnose_services(in, sd);
  CHECK(has(f.facts, "/etc/postfix/main.cf:41: inet_interfaces = loopback-only (postfix)"));
  CHECK(has(f.facts, "/etc/postfix/master.cf:"));
  CHECK(f.advice == std::vector<std::string>{"postconf -e inet_interfaces=all && systemctl restart postfix"});

  // Listening everywhere: no configuration lines, no advice.
  in.listeners = {listener(25, "0.0.0.0", "", 0, "postfix@-.service")};
  auto g = diagnose_services(in, sd);
  CHECK_FALSE(has(g.facts, "inet_interfaces"));
  CHECK(g.advice.empty());
}
