// The distribution as the advice sees it, over real os-release files of
// every release the packages are for (tests/data/os-release, sources in its
// README), and SELinux's part on the RHEL family: a daemon denied a port it
// is configured for.
#include <catch2/catch.hpp>

#include "agent/daemon_config.h"
#include "agent/distro.h"
#include "agent/services.h"
#include "support/fake_service_manager.h"
#include "support/test_files.h"

using namespace dropspot;
using namespace dropspot::agent;

namespace {

const std::string data = DROPSPOT_TEST_DATA;

os_release release(const std::string& name) { return parse_os_release(test::data_file("os-release/" + name)); }

bool has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("os-release of every release: name, package manager, the web and ssh servers' units and packages") {
  struct row {
    const char* file;
    const char* pretty;
    package_manager packages;
    const char* web_unit;  // apache's
    const char* ssh_unit;
    const char* install_web;
  };
  const row rows[] = {
      {"debian-10", "Debian GNU/Linux 10 (buster)", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"debian-11", "Debian GNU/Linux 11 (bullseye)", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"debian-12", "Debian GNU/Linux 12 (bookworm)", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"debian-13", "Debian GNU/Linux 13 (trixie)", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"ubuntu-20.04", "Ubuntu 20.04 LTS", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"ubuntu-22.04", "Ubuntu 22.04.2 LTS", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"ubuntu-24.04", "Ubuntu 24.04.3 LTS", package_manager::apt, "apache2.service", "ssh.service",
       "apt install apache2"},
      {"rhel-8", "Red Hat Enterprise Linux 8.7 (Ootpa)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"rhel-9", "Red Hat Enterprise Linux 9.6 (Plow)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"rocky-8", "Rocky Linux 8.4 (Green Obsidian)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"rocky-9", "Rocky Linux 9.3 (Blue Onyx)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"almalinux-8", "AlmaLinux 8.4 (Electric Cheetah)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"almalinux-9", "AlmaLinux 9.1 (Lime Lynx)", package_manager::dnf, "httpd.service", "sshd.service",
       "dnf install httpd"},
      {"centos-9", "CentOS Stream 9", package_manager::dnf, "httpd.service", "sshd.service", "dnf install httpd"},
      {"ol-8", "Oracle Linux Server 8.10", package_manager::dnf, "httpd.service", "sshd.service", "dnf install httpd"},
      {"amzn-2023", "Amazon Linux 2023", package_manager::dnf, "httpd.service", "sshd.service", "dnf install httpd"},
  };
  const auto* apache = find_daemon("apache");
  const auto* sshd = find_daemon("sshd");
  REQUIRE(apache);
  REQUIRE(sshd);
  for (const auto& r : rows) {
    INFO(r.file);
    host_system host;
    host.os = release(r.file);
    host.packages = package_manager_for(host.os);
    CHECK(host.os.pretty_name.rfind(r.pretty, 0) == 0);
    CHECK(host.packages == r.packages);
    CHECK(debian_family(host.os) == (r.packages == package_manager::apt));
    CHECK(daemon_unit(*apache, host) == r.web_unit);
    CHECK(daemon_unit(*sshd, host) == r.ssh_unit);
    CHECK(install_command(host.packages, daemon_package(*apache, host)) == r.install_web);
    CHECK(install_command(host.packages, daemon_package(*sshd, host)) ==
          std::string(r.packages == package_manager::apt ? "apt" : "dnf") + " install openssh-server");
  }
}

TEST_CASE("SELinux: the mode from /sys/fs/selinux/enforce; off without it") {
  CHECK(parse_selinux_enforce("1") == selinux_mode::enforcing);
  CHECK(parse_selinux_enforce("1\n") == selinux_mode::enforcing);
  CHECK(parse_selinux_enforce("0") == selinux_mode::permissive);
  const auto rocky = detect_system(data + "/host/rocky-selinux");
  CHECK(rocky.selinux == selinux_mode::enforcing);
  CHECK(rocky.os.pretty_name == "Rocky Linux 9.3 (Blue Onyx)");
  CHECK_FALSE(rocky.semanage_installed);
  CHECK(detect_system(data + "/host/debian").selinux == selinux_mode::off);
  CHECK(std::string(to_string(selinux_mode::enforcing)) == "enforcing");
}

TEST_CASE("SELinux: a bind refused with Permission denied, in httpd's, nginx's and sshd's own words") {
  // Journal lines of real hosts (tests/data/os-release/README.md names them).
  const std::vector<std::string> httpd{
      "Mar 07 15:09:24 test.vagrant.local httpd[29148]: (13)Permission denied: AH00072: make_sock: could not bind "
      "to address [::]:5000",
      "Mar 07 15:09:24 test.vagrant.local httpd[29148]: no listening sockets available, shutting down"};
  const std::vector<std::string> nginx{
      "Feb 21 23:29:55 yingk nginx[1936]: nginx: [emerg] bind() to 0.0.0.0:5003 failed (13: Permission denied)"};
  const std::vector<std::string> sshd{
      "May 20 02:34:00 ip-172-31-91-174 sshd[1594]: error: Bind to port 2849 on 0.0.0.0 failed: Permission denied.",
      "May 20 02:34:00 ip-172-31-91-174 sshd[1594]: fatal: Cannot bind any address."};
  CHECK(bind_denied(httpd, 5000));
  CHECK(bind_denied(nginx, 5003));
  CHECK(bind_denied(sshd, 2849));
  // Another port, a longer number that starts the same, another error.
  CHECK_FALSE(bind_denied(httpd, 500));
  CHECK_FALSE(bind_denied(nginx, 5000));
  CHECK_FALSE(bind_denied(sshd, 284));
  CHECK_FALSE(bind_denied({"nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"}, 80));
  CHECK(selinux_port_type("apache") == "http_port_t");
  CHECK(selinux_port_type("nginx") == "http_port_t");
  CHECK(selinux_port_type("sshd") == "ssh_port_t");
  CHECK(selinux_port_type("postfix") == "smtp_port_t");
  CHECK(selinux_port_type("unknown").empty());
  CHECK(selinux_port_command("http_port_t", 8888) ==
        "semanage port -a -t http_port_t -p tcp 8888 || semanage port -m -t http_port_t -p tcp 8888");
}

namespace {

/// httpd configured for `port` on the fixture host `root`, failed at start
/// with the journal lines of a denied bind.
service_findings httpd_denied(const std::string& root, std::uint16_t port) {
  fake_service_manager sd;
  sd.units["httpd.service"] = unit("httpd.service", "failed", "failed", "enabled", "exit-code");
  const std::string p = std::to_string(port);
  sd.journals["httpd.service"] = {
      "Dec 01 10:00:00 web httpd[812]: (13)Permission denied: AH00072: make_sock: could not bind to address [::]:" + p,
      "Dec 01 10:00:00 web httpd[812]: (13)Permission denied: AH00072: make_sock: could not bind to address "
      "0.0.0.0:" +
          p,
      "Dec 01 10:00:00 web httpd[812]: no listening sockets available, shutting down",
      "Dec 01 10:00:00 web systemd[1]: httpd.service: Main process exited, code=exited, status=1/FAILURE"};
  service_inputs in;
  in.port = port;
  in.configs = {{"apache", "/etc/httpd/conf/httpd.conf", {{port, 47, "Listen " + p}}}};
  in.installed = {"apache"};
  in.host = detect_system(root);
  return diagnose_services(in, sd);
}

}  // namespace

TEST_CASE("SELinux enforcing, httpd denied its Listen port: the label to add, then the restart") {
  const auto f = httpd_denied(data + "/host/rocky-selinux", 8888);
  CHECK(f.summary == "httpd.service failed: SELinux does not let it bind port 8888");
  CHECK(has(f.facts,
            "SELinux is enforcing and httpd.service was denied port 8888: apache may bind only ports "
            "labelled http_port_t (semanage port -l | grep http_port_t; the denial: ausearch -m avc -ts recent)"));
  CHECK(has(f.facts, "httpd.service journal: Dec 01 10:00:00 web httpd[812]: (13)Permission denied"));
  REQUIRE(f.advice.size() >= 3);
  CHECK(f.advice[0] == "dnf install policycoreutils-python-utils");  // no /usr/sbin/semanage in the fixture
  CHECK(f.advice[1] == "semanage port -a -t http_port_t -p tcp 8888 || semanage port -m -t http_port_t -p tcp 8888");
  CHECK(f.advice[2] == "systemctl restart httpd.service");
  CHECK_FALSE(has(f.advice, "fix the cause in the journal"));
}

TEST_CASE("SELinux off: the same denial is not blamed on it") {
  const auto f = httpd_denied(data + "/host/rocky", 8888);
  CHECK(f.summary == "httpd.service failed");
  CHECK_FALSE(has(f.advice, "semanage"));
  CHECK_FALSE(has(f.facts, "SELinux"));
  CHECK(has(f.advice, "fix the cause in the journal, then: systemctl restart httpd.service"));
}
