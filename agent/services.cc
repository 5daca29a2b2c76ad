#include "agent/services.h"
#include "agent/host_files.h"
#include "common/text.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/run_program.h"

namespace dropspot::agent {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

/// The port of "80", "0.0.0.0:80", "[::]:443", "*:8080"; nothing for an address alone.
std::optional<std::uint16_t> port_of_listen(std::string_view s) {
  if (auto p = parse_port(s)) return p;
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  if (s.front() == '[' && s.find(']') > colon) return std::nullopt;  // "[::1]" without port
  return parse_port(s.substr(colon + 1));
}

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
    if (!suffix.empty() && (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0))
      continue;
    out.push_back(dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void add_unique(std::vector<std::string>& v, std::string s) {
  if (!contains(v, s)) v.push_back(std::move(s));
}

}  // namespace

// ---------------------------------------------------------------------------
// systemd units
// ---------------------------------------------------------------------------

std::string unit_state::describe() const {
  if (!found()) return "not found";
  std::string out = active_state.empty() ? std::string("unknown") : active_state;
  if (!sub_state.empty() && sub_state != active_state) out += " (" + sub_state + ")";
  if (failed() && !result.empty() && result != "success") out += " (Result: " + result + ")";
  if (active() && main_pid) out += " pid " + std::to_string(main_pid);
  if (load_state == "masked" || unit_file_state == "masked") return out + ", masked";
  if (unit_file_state.empty()) return out;
  if (enabled()) return out + ", " + (unit_file_state == "enabled" ? std::string("enabled at boot") : unit_file_state);
  return out + ", " + unit_file_state + " at boot";
}

unit_state parse_systemctl_show(std::string_view text) {
  unit_state u;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = line.substr(0, eq);
    std::string value(trim(std::string_view(line).substr(eq + 1)));
    if (key == "Id") u.name = value;
    else if (key == "LoadState") u.load_state = value;
    else if (key == "ActiveState") u.active_state = value;
    else if (key == "SubState") u.sub_state = value;
    else if (key == "UnitFileState") u.unit_file_state = value;
    else if (key == "Result") u.result = value;
    else if (key == "MainPID") u.main_pid = static_cast<std::uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    else if (key == "Wants") u.wants = words(value);
    else if (key == "Requires") u.requires_ = words(value);
    else if (key == "After") u.after = words(value);
  }
  return u;
}

std::vector<socket_unit> parse_list_sockets(std::string_view text) {
  std::vector<socket_unit> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.size() < 2 || w[0] == "LISTEN" || w[1].find('.') == std::string::npos) continue;
    socket_unit s;
    s.listen = w[0];
    s.unit = w[1];
    if (w[0].find('/') == std::string::npos)
      if (auto p = port_of_listen(w[0])) s.port = *p;
    for (std::size_t i = 2; i < w.size(); ++i) {
      auto name = w[i];
      if (!name.empty() && name.back() == ',') name.pop_back();
      if (!name.empty()) s.activates.push_back(name);
    }
    out.push_back(std::move(s));
  }
  return out;
}

systemd_manager::systemd_manager(const std::string& root, std::chrono::milliseconds timeout) : timeout_(timeout) {
  if (!path_exists(join_root(root, "/run/systemd/system"))) unavailable_ = "systemd not running: unit state unknown";
}

std::vector<std::string> systemd_manager::units_for_port(std::uint16_t port) {
  std::vector<std::string> out;
  if (!unavailable_.empty()) return out;
  if (!sockets_) {
    std::string err;
    auto text = run_program({"systemctl", "list-sockets", "--all", "--no-legend", "--no-pager", "--full"}, timeout_, err);
    sockets_ = text ? parse_list_sockets(*text) : std::vector<socket_unit>{};
  }
  for (const auto& s : *sockets_)
    if (s.port == port) {
      add_unique(out, s.unit);
      for (const auto& a : s.activates) add_unique(out, a);
    }
  return out;
}

std::optional<unit_state> systemd_manager::state(const std::string& unit) {
  if (!unavailable_.empty()) return std::nullopt;
  std::string err;
  auto text = run_program({"systemctl", "show", "-p", std::string(unit_properties), "--", unit}, timeout_, err);
  if (!text) return std::nullopt;
  auto u = parse_systemctl_show(*text);
  if (u.name.empty()) u.name = unit;
  return u;
}

std::vector<std::string> systemd_manager::journal_tail(const std::string& unit, std::size_t lines) {
  std::vector<std::string> out;
  if (!unavailable_.empty()) return out;
  std::string err;
  auto text = run_program({"journalctl", "-u", unit, "-n", std::to_string(lines), "--no-pager", "-q", "-o", "short"},
                          timeout_, err);
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line))
    if (!trim(line).empty()) out.push_back(line);
  if (out.size() > lines) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(lines));
  return out;
}

// ---------------------------------------------------------------------------
// Daemons and configuration
// ---------------------------------------------------------------------------

const std::vector<daemon_info>& known_daemons() {
  static const std::vector<daemon_info> daemons = {
      {"sshd", {22}, {"sshd"}, {"ssh.service", "sshd.service"}, "openssh-server", "openssh-server", {"/usr/sbin/sshd"}},
      {"postfix", {25, 465, 587}, {"master"}, {"postfix.service"}, "postfix", "postfix", {"/usr/sbin/postfix"}},
      {"exim4", {25, 465, 587}, {"exim4", "exim"}, {"exim4.service", "exim.service"}, "exim4", "exim",
       {"/usr/sbin/exim4", "/usr/sbin/exim"}},
      {"sendmail", {25, 465, 587}, {"sendmail"}, {"sendmail.service"}, "sendmail", "sendmail", {"/usr/sbin/sendmail.sendmail"}},
      {"nginx", {80, 443}, {"nginx"}, {"nginx.service"}, "nginx", "nginx", {"/usr/sbin/nginx"}},
      {"apache", {80, 443}, {"apache2", "httpd"}, {"apache2.service", "httpd.service"}, "apache2", "httpd",
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
          if (auto p = port_of_listen(w[i + 1])) out.push_back({*p, n, body});
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
    if (service == "smtp") port = 25;
    else if (service == "submission") port = 587;
    else if (service == "smtps" || service == "submissions") port = 465;
    else port = port_of_listen(service);
    if (port) out.push_back({*port, n, std::string(trim(line))});
  }
  return out;
}

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

// ---------------------------------------------------------------------------
// The diagnosis
// ---------------------------------------------------------------------------

namespace {

/// Units a web server may need to serve pages: PHP, databases, caches.
bool related_unit(std::string_view name) {
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p; };
  if (name.find("fpm") != std::string_view::npos && starts("php")) return true;
  return starts("mariadb") || starts("mysql") || starts("postgresql") || starts("redis") || starts("memcached") ||
         starts("uwsgi") || starts("gunicorn");
}

/// The unit name on this distribution: the first of a daemon's units on the
/// Debian family (ssh.service, apache2.service), the second elsewhere
/// (sshd.service, httpd.service).
std::string unit_for(const daemon_info& d, const host_system& host) {
  const bool deb = debian_family(host.os) || host.packages == package_manager::apt;
  return std::string(d.units.size() > 1 && !deb ? d.units[1] : d.units.front());
}

std::string package_of(const daemon_info& d, const host_system& host) {
  return std::string(debian_family(host.os) || host.packages == package_manager::apt ? d.deb_package : d.rpm_package);
}

struct diag {
  const service_inputs& in;
  service_manager& mgr;
  service_findings out;
  const std::string n = std::to_string(in.port);

  void fact(std::string s) { add_unique(out.facts, std::move(s)); }
  void advise(std::string s) { add_unique(out.advice, std::move(s)); }
  void summarize(const std::string& s) {
    if (out.summary.empty()) out.summary = s;
  }

  /// Asks for the first of `names` that exists; nothing when none does (or no systemd).
  std::optional<unit_state> first_unit(const std::vector<std::string>& names) {
    for (const auto& u : names) {
      auto s = mgr.state(u);
      if (s && s->found()) return s;
    }
    return std::nullopt;
  }

  void journal(const unit_state& u) {
    for (const auto& line : mgr.journal_tail(u.name, 10)) fact(u.name + " journal: " + line);
    advise("journalctl -u " + u.name + " -n 50 --no-pager");
  }

  /// The units a running unit depends on that serve it (php-fpm, databases).
  void related(const unit_state& u) {
    std::vector<std::string> deps;
    for (const auto* list : {&u.requires_, &u.wants, &u.after})
      for (const auto& d : *list)
        if (related_unit(d)) add_unique(deps, d);
    for (const auto& d : deps) {
      auto s = mgr.state(d);
      if (!s || !s->found()) continue;
      fact("related unit " + s->name + " (" + u.name + " depends on it): " + s->describe());
      if (s->failed()) {
        journal(*s);
        advise("systemctl restart " + s->name);
      } else if (!s->active()) {
        advise(s->enabled() ? "systemctl start " + s->name : "systemctl enable --now " + s->name);
      }
    }
  }

  void with_listener(const std::vector<const v1::Listener*>& here) {
    std::vector<std::string> seen;
    for (const auto* l : here) {
      if (l->unit().empty() || contains(seen, l->unit())) continue;
      seen.push_back(l->unit());
      auto s = mgr.state(l->unit());
      if (!s || !s->found()) continue;
      const auto name = s->name.empty() ? l->unit() : s->name;
      fact(name + " (pid " + std::to_string(l->pid()) + " " + l->process() + "): " + s->describe());
      if (s->active() && !s->enabled() && !s->unit_file_state.empty() && s->unit_file_state != "transient") {
        fact(name + " runs but is not enabled at boot (" + s->unit_file_state + "): port " + n +
             " will be closed after a reboot");
        advise("systemctl enable " + name);
        summarize(name + " runs but is not enabled at boot");
      }
      related(*s);
    }
  }

  void without_listener() {
    // Candidates: daemons whose configuration names the port, then the usual suspects.
    std::vector<std::string> daemons;
    for (const auto& c : in.configs)
      for (const auto& p : c.ports)
        if (p.port == in.port) add_unique(daemons, c.daemon);
    for (const auto& d : known_daemons())
      if (std::find(d.ports.begin(), d.ports.end(), in.port) != d.ports.end()) add_unique(daemons, std::string(d.name));

    // Configuration lines naming the port.
    for (const auto& c : in.configs)
      for (const auto& p : c.ports)
        if (p.port == in.port)
          fact(c.file + (p.line ? ":" + std::to_string(p.line) : std::string()) + ": " + p.text + " (" + c.daemon + ")");

    // Moved: the expected daemon listens on another port.
    for (const auto& name : daemons) {
      const auto* d = find_daemon(name);
      if (!d) continue;
      std::set<std::uint16_t> other;
      std::uint32_t pid = 0;
      for (const auto& l : in.listeners)
        if (l.port() != in.port &&
            std::find(d->processes.begin(), d->processes.end(), l.process()) != d->processes.end()) {
          other.insert(static_cast<std::uint16_t>(l.port()));
          if (!pid) pid = l.pid();
        }
      if (other.empty()) continue;
      std::string ports;
      for (auto p : other) ports += (ports.empty() ? "" : ", ") + std::to_string(p);
      out.moved = true;
      fact(name + " (pid " + std::to_string(pid) + ") listens on port " + ports + ", not " + n);
      summarize(name + " listens on port " + ports + " instead");
      // what its configuration says
      std::string where;
      for (const auto& c : in.configs)
        if (c.daemon == name)
          for (const auto& p : c.ports)
            if (other.count(p.port) && p.line) {
              fact(c.file + ":" + std::to_string(p.line) + ": " + p.text + " (" + c.daemon + ")");
              if (where.empty()) where = c.file;
            }
      advise("the service moved: connect to port " + ports.substr(0, ports.find(',')) + ", or set port " + n + " in " +
             (where.empty() ? std::string("its configuration") : where) + " and restart it: systemctl restart " +
             unit_for(*d, in.host));
    }

    // Configured elsewhere: a daemon's configuration sets other ports and none is this one.
    for (const auto& name : daemons) {
      std::set<std::uint16_t> ports;
      const daemon_config* first = nullptr;
      const config_port* line = nullptr;
      bool names_this = false;
      for (const auto& c : in.configs)
        if (c.daemon == name)
          for (const auto& p : c.ports) {
            if (p.port == in.port) names_this = true;
            ports.insert(p.port);
            if (!first && p.line) {
              first = &c;
              line = &p;
            }
          }
      if (names_this || ports.empty() || !first) continue;
      std::string list;
      for (auto p : ports) list += (list.empty() ? "" : ", ") + std::to_string(p);
      fact(name + " is configured for port " + list + ", not " + n + " (" + first->file + ":" +
           std::to_string(line->line) + ": " + line->text + ")");
      if (!out.moved) summarize(name + " is configured for port " + list);
      const auto* d = find_daemon(name);
      if (d && !out.moved)
        advise("to serve port " + n + ", add it in " + first->file + " and restart: systemctl restart " +
               unit_for(*d, in.host));
    }

    if (auto why = mgr.unavailable(); !why.empty()) {
      out.notes.push_back(why);
    } else {
      // Socket-activated units for the port.
      for (const auto& u : mgr.units_for_port(in.port)) {
        auto s = mgr.state(u);
        if (!s || !s->found()) continue;
        fact(s->name + " (socket activation for port " + n + "): " + s->describe());
        if (!s->active()) advise(s->enabled() ? "systemctl start " + s->name : "systemctl enable --now " + s->name);
      }
      for (const auto& name : daemons) {
        const auto* d = find_daemon(name);
        if (!d) continue;
        auto s = first_unit({d->units.begin(), d->units.end()});
        if (!s) continue;
        fact(s->name + ": " + s->describe());
        if (s->failed()) {
          summarize(s->name + " failed");
          journal(*s);
          advise("fix the cause in the journal, then: systemctl restart " + s->name);
        } else if (!s->active()) {
          summarize(s->name + " is " + s->active_state + (s->enabled() ? "" : " and not enabled at boot"));
          advise(s->enabled() ? "systemctl start " + s->name : "systemctl enable --now " + s->name);
        } else if (!out.moved) {
          summarize(s->name + " runs but does not listen on port " + n);
          advise("check its listen/Port setting and: journalctl -u " + s->name + " -n 50 --no-pager");
        }
        if (s->active() && !s->enabled() && !s->unit_file_state.empty())
          fact(s->name + " runs but is not enabled at boot (" + s->unit_file_state + ")");
      }
    }

    // Not installed: none of the usual suspects exists (no binary, no configuration).
    bool any_installed = false;
    for (const auto& name : daemons)
      if (contains(in.installed, name)) any_installed = true;
    for (const auto& c : in.configs)
      if (contains(daemons, c.daemon)) any_installed = true;
    if (!any_installed && !daemons.empty() && !out.moved) {
      const auto* d = find_daemon(daemons.front());
      std::string names;
      for (const auto& name : daemons) names += (names.empty() ? "" : ", ") + name;
      fact("no daemon for port " + n + " is installed (looked for " + names + ")");
      summarize(std::string(d->name) + " is not installed");
      auto install = install_command(in.host.packages, package_of(*d, in.host));
      if (!install.empty()) advise(install + " && systemctl enable --now " + unit_for(*d, in.host));
    }
  }
};

}  // namespace

service_findings diagnose_services(const service_inputs& in, service_manager& manager) {
  diag d{in, manager, {}};
  std::vector<const v1::Listener*> here;
  for (const auto& l : in.listeners)
    if (l.port() == in.port) here.push_back(&l);
  if (!here.empty()) {
    if (auto why = manager.unavailable(); !why.empty()) {
      for (const auto* l : here)
        if (!l->unit().empty()) {
          d.out.notes.push_back(why);
          break;
        }
    } else {
      d.with_listener(here);
    }
  } else {
    d.without_listener();
  }
  return std::move(d.out);
}

}  // namespace dropspot::agent
