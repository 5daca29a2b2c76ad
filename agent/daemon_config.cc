#include "agent/daemon_config.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

#include "agent/host_files.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot::agent {

namespace {

/// Lines of a configuration file with comments (#) removed, numbered from 1.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto hash = line.find('#');
    std::string body(trim(std::string_view(line).substr(0, hash)));
    if (!body.empty()) f(n, body, line);
  }
}

/// Regular files of a directory matching a suffix ("" any), sorted.
std::vector<std::string> dir_files(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    if (!suffix.empty() &&
        (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0))
      continue;
    out.push_back(dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

const std::vector<daemon_info>& known_daemons() {
  static const std::vector<daemon_info> daemons = {
      {"sshd", {22}, {"sshd"}, {"ssh.service", "sshd.service"}, "openssh-server", "openssh-server", {"/usr/sbin/sshd"}},
      {"postfix", {25, 465, 587}, {"master"}, {"postfix.service"}, "postfix", "postfix", {"/usr/sbin/postfix"}},
      {"exim4",
       {25, 465, 587},
       {"exim4", "exim"},
       {"exim4.service", "exim.service"},
       "exim4",
       "exim",
       {"/usr/sbin/exim4", "/usr/sbin/exim"}},
      {"sendmail",
       {25, 465, 587},
       {"sendmail"},
       {"sendmail.service"},
       "sendmail",
       "sendmail",
       {"/usr/sbin/sendmail.sendmail"}},
      {"nginx", {80, 443}, {"nginx"}, {"nginx.service"}, "nginx", "nginx", {"/usr/sbin/nginx"}},
      {"apache",
       {80, 443},
       {"apache2", "httpd"},
       {"apache2.service", "httpd.service"},
       "apache2",
       "httpd",
       {"/usr/sbin/apache2", "/usr/sbin/httpd"}},
      {"caddy", {80, 443}, {"caddy"}, {"caddy.service"}, "caddy", "caddy", {"/usr/bin/caddy"}},
      {"lighttpd", {80, 443}, {"lighttpd"}, {"lighttpd.service"}, "lighttpd", "lighttpd", {"/usr/sbin/lighttpd"}},
  };
  return daemons;
}

const daemon_info* find_daemon(std::string_view name) {
  for (const auto& d : known_daemons())
    if (d.name == name) return &d;
  return nullptr;
}

std::vector<config_port> sshd_config_ports(std::string_view text) {
  std::vector<config_port> out;
  bool in_match = false;
  for_each_line(text, [&](int n, const std::string& body, const std::string&) {
    auto w = words(body);
    auto key = lower(w[0]);
    if (key == "match") in_match = true;  // Match blocks cannot set Port
    if (in_match) return;
    std::string value = w.size() > 1 ? w[1] : std::string();
    if (auto eq = w[0].find('='); eq != std::string::npos) {  // "Port=2222"
      key = lower(w[0].substr(0, eq));
      value = w[0].substr(eq + 1);
    }
    if (value.empty()) return;
    if (key == "port") {
      if (auto p = parse_port(value)) out.push_back({*p, n, body});
    } else if (key == "listenaddress") {
      if (value.find('.') != std::string::npos || value.front() == '[')
        if (auto p = port_of_listen(value); p && value.find(':') != std::string::npos) out.push_back({*p, n, body});
    }
  });
  return out;
}

std::vector<config_port> nginx_listen_ports(std::string_view text) {
  std::vector<config_port> out;
  for_each_line(text, [&](int n, const std::string& body, const std::string&) {
    // several directives may share a line: split at ';'
    std::istringstream parts(body);
    std::string part;
    while (std::getline(parts, part, ';')) {
      auto w = words(part);
      // "server { listen 80" on one line: find the directive anywhere
      for (std::size_t i = 0; i + 1 < w.size(); ++i)
        if (w[i] == "listen") {
          if (auto p = port_of_listen(w[i + 1]))
            out.push_back({*p, n, body});
          else if (w[i + 1].find(':') == std::string::npos && w[i + 1].find('.') != std::string::npos)
            out.push_back({80, n, body});  // "listen 127.0.0.1;" means port 80
          break;
        }
    }
  });
  return out;
}

std::vector<config_port> apache_listen_ports(std::string_view text) {
  std::vector<config_port> out;
  for_each_line(text, [&](int n, const std::string& body, const std::string&) {
    auto w = words(body);
    if (w.size() >= 2 && lower(w[0]) == "listen")
      if (auto p = port_of_listen(w[1])) out.push_back({*p, n, body});
  });
  return out;
}

std::vector<config_port> postfix_master_ports(std::string_view text) {
  std::vector<config_port> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#' || std::isspace(static_cast<unsigned char>(line[0]))) continue;  // continuation
    auto w = words(line);
    if (w.size() < 2 || w[1] != "inet") continue;
    const auto& service = w[0];
    std::optional<std::uint16_t> port;
    if (service == "smtp")
      port = 25;
    else if (service == "submission")
      port = 587;
    else if (service == "smtps" || service == "submissions")
      port = 465;
    else if (auto p = port_of_listen(service))
      port = *p;
    if (port) out.push_back({*port, n, std::string(trim(line))});
  }
  return out;
}

std::optional<config_port> postfix_inet_interfaces(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  std::optional<config_port> last;  // postfix takes the last setting
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#' || std::isspace(static_cast<unsigned char>(line[0]))) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos || trim(std::string_view(line).substr(0, eq)) != "inet_interfaces") continue;
    last = config_port{0, n, std::string(trim(line))};
  }
  return last;
}

std::optional<config_port> exim4_local_interfaces(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  std::optional<config_port> last;  // a shell file: the last assignment wins
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const auto t = trim(line);
    if (!t.starts_with("dc_local_interfaces=")) continue;
    auto value = t.substr(std::string_view("dc_local_interfaces=").size());
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    if (trim(value).empty())
      last.reset();
    else
      last = config_port{25, n, std::string(t)};
  }
  return last;
}

namespace {
std::vector<config_port> exim4_ports(std::string_view text) {
  std::vector<config_port> ports;
  if (auto line = exim4_local_interfaces(text)) ports.push_back(*line);
  return ports;
}
}  // namespace

std::vector<daemon_config> read_daemon_configs(const std::string& root) {
  std::vector<daemon_config> out;
  auto add = [&](const char* daemon, const std::string& path, auto parse, bool sshd_default) {
    std::string text;
    if (!read_text(join_root(root, path), text)) return;
    daemon_config c;
    c.daemon = daemon;
    c.file = path;
    c.ports = parse(text);
    if (c.ports.empty() && sshd_default) c.ports.push_back({22, 0, "no Port line: the default, 22"});
    if (!c.ports.empty()) out.push_back(std::move(c));
  };
  auto files = [&](const std::string& dir, std::string_view suffix) {
    std::vector<std::string> out_files;
    for (auto& f : dir_files(join_root(root, dir), suffix)) out_files.push_back(dir + f.substr(f.rfind('/')));
    return out_files;
  };
  // sshd: drop-ins come first in the file order sshd reads them (Include at the top on Debian)
  for (const auto& f : files("/etc/ssh/sshd_config.d", ".conf")) add("sshd", f, sshd_config_ports, false);
  const bool dropin_port = !out.empty();
  add("sshd", "/etc/ssh/sshd_config", sshd_config_ports, !dropin_port);
  for (const char* f : {"/etc/nginx/nginx.conf"}) add("nginx", f, nginx_listen_ports, false);
  for (const auto& f : files("/etc/nginx/conf.d", ".conf")) add("nginx", f, nginx_listen_ports, false);
  for (const auto& f : files("/etc/nginx/sites-enabled", "")) add("nginx", f, nginx_listen_ports, false);
  add("apache", "/etc/apache2/ports.conf", apache_listen_ports, false);
  add("apache", "/etc/httpd/conf/httpd.conf", apache_listen_ports, false);
  for (const auto& f : files("/etc/httpd/conf.d", ".conf")) add("apache", f, apache_listen_ports, false);
  add("postfix", "/etc/postfix/master.cf", postfix_master_ports, false);
  // main.cf's inet_interfaces decides where master.cf's services listen.
  std::string main_cf;
  if (!out.empty() && out.back().daemon == "postfix" && read_text(join_root(root, "/etc/postfix/main.cf"), main_cf))
    if (auto line = postfix_inet_interfaces(main_cf)) {
      daemon_config c{"postfix", "/etc/postfix/main.cf", {}};
      for (const auto& p : out.back().ports) c.ports.push_back({p.port, line->line, line->text});
      out.push_back(std::move(c));
    }
  add("exim4", "/etc/exim4/update-exim4.conf.conf", exim4_ports, false);
  return out;
}

std::vector<std::string> installed_daemons(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& d : known_daemons())
    for (auto b : d.binaries)
      if (::access(join_root(root, b).c_str(), X_OK) == 0) {
        out.emplace_back(d.name);
        break;
      }
  return out;
}

}  // namespace dropspot::agent
