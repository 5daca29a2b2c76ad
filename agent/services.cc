#include "agent/services.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/text.h"

namespace dropspot::agent {

namespace {

/// Units a web server may need to serve pages: PHP, databases, caches.
bool related_unit(std::string_view name) {
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p; };
  if (name.find("fpm") != std::string_view::npos && starts("php")) return true;
  return starts("mariadb") || starts("mysql") || starts("postgresql") || starts("redis") || starts("memcached") ||
         starts("uwsgi") || starts("gunicorn");
}

/// "N" appears in `line` as a port: after ':' or "port ", not followed by a digit.
bool mentions_port(std::string_view line, std::uint16_t port) {
  const std::string n = std::to_string(port);
  for (std::string_view before : {":", "port "}) {
    const std::string needle = std::string(before) + n;
    for (auto at = line.find(needle); at != std::string_view::npos; at = line.find(needle, at + 1)) {
      const auto end = at + needle.size();
      if (end == line.size() || !std::isdigit(static_cast<unsigned char>(line[end]))) return true;
    }
  }
  return false;
}

}  // namespace

std::string daemon_unit(const daemon_info& d, const host_system& host) {
  const bool deb = debian_family(host.os) || host.packages == package_manager::apt;
  return std::string(d.units.size() > 1 && !deb ? d.units[1] : d.units.front());
}

std::string daemon_package(const daemon_info& d, const host_system& host) {
  return std::string(debian_family(host.os) || host.packages == package_manager::apt ? d.deb_package : d.rpm_package);
}

std::string_view selinux_port_type(std::string_view daemon) {
  if (daemon == "sshd") return "ssh_port_t";
  if (daemon == "postfix" || daemon == "exim4" || daemon == "sendmail") return "smtp_port_t";
  if (daemon == "nginx" || daemon == "apache" || daemon == "caddy" || daemon == "lighttpd") return "http_port_t";
  return {};
}

bool bind_denied(const std::vector<std::string>& journal, std::uint16_t port) {
  return std::any_of(journal.begin(), journal.end(), [&](const std::string& line) {
    const auto lower = dropspot::lower(line);
    return lower.find("permission denied") != std::string::npos && lower.find("bind") != std::string::npos &&
           mentions_port(line, port);
  });
}

std::string selinux_port_command(std::string_view type, std::uint16_t port) {
  const std::string args = " -t " + std::string(type) + " -p tcp " + std::to_string(port);
  return "semanage port -a" + args + " || semanage port -m" + args;
}

namespace {

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

  std::vector<std::string> journal(const unit_state& u) {
    auto lines = mgr.journal_tail(u.name, 10);
    for (const auto& line : lines) fact(u.name + " journal: " + line);
    advise("journalctl -u " + u.name + " -n 50 --no-pager");
    return lines;
  }

  /// A daemon's unit that failed: its journal, and when the journal says
  /// binding this port was denied while SELinux enforces, the port's label.
  void failed_daemon(const unit_state& u, const daemon_info& d) {
    const auto lines = journal(u);
    const auto type = selinux_port_type(d.name);
    if (in.host.selinux == selinux_mode::enforcing && !type.empty() && bind_denied(lines, in.port)) {
      summarize(u.name + " failed: SELinux does not let it bind port " + n);
      fact("SELinux is enforcing and " + u.name + " was denied port " + n + ": " + std::string(d.name) +
           " may bind only ports labelled " + std::string(type) + " (semanage port -l | grep " + std::string(type) +
           "; the denial: ausearch -m avc -ts recent)");
      std::vector<std::string> first;
      if (!in.host.semanage_installed)
        first.push_back(install_command(in.host.packages, "policycoreutils-python-utils"));
      first.push_back(selinux_port_command(type, in.port));
      first.push_back("systemctl restart " + u.name);
      std::erase(first, std::string());
      out.advice.insert(out.advice.begin(), first.begin(), first.end());
      return;
    }
    summarize(u.name + " failed");
    advise("fix the cause in the journal, then: systemctl restart " + u.name);
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

  /// The configuration lines naming the port.
  void config_lines() {
    for (const auto& c : in.configs)
      for (const auto& p : c.ports)
        if (p.port == in.port)
          fact(c.file + (p.line ? ":" + std::to_string(p.line) : std::string()) + ": " + p.text + " (" + c.daemon +
               ")");
  }

  /// Listening on loopback only: the lines that bind it there, and the
  /// daemon's own way to open it: postfix's inet_interfaces binds every
  /// service of master.cf; Debian's exim4 is generated from
  /// update-exim4.conf.conf (dpkg-reconfigure exim4-config asks the same).
  void loopback_only() {
    config_lines();
    for (const auto& c : in.configs)
      for (const auto& p : c.ports) {
        if (p.port != in.port) continue;
        if (c.daemon == "postfix" && c.file.ends_with("main.cf") && p.text.find("all") == std::string::npos)
          advise("postconf -e inet_interfaces=all && systemctl restart postfix");
        if (c.daemon == "exim4")
          advise("sed -i \"s/^dc_local_interfaces=.*/dc_local_interfaces=''/\" " + c.file +
                 " && update-exim4.conf && systemctl restart exim4");
      }
  }

  /// A socket unit that listens for a service: the services it starts.
  void activated_by(const std::string& socket) {
    for (const auto& sock : mgr.sockets_for_port(in.port)) {
      if (sock.unit != socket) continue;
      for (const auto& a : sock.activates) {
        auto s = mgr.state(a);
        if (!s || !s->found()) continue;
        fact(s->name + " (started by " + socket + " at a connection): " + s->describe());
        if (s->failed()) {
          summarize(s->name + " failed");
          journal(*s);
          advise("fix the cause in the journal, then: systemctl reset-failed " + s->name);
        }
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
      const bool socket = name.ends_with(".socket");
      fact(name + (l->pid() ? " (pid " + std::to_string(l->pid()) + " " + l->process() + ")" : std::string()) +
           (socket ? " (socket activation: systemd listens on port " + n + ")" : std::string()) + ": " + s->describe());
      if (socket) activated_by(name);
      if (s->active() && !s->enabled() && !s->unit_file_state.empty() && s->unit_file_state != "transient") {
        fact(name + " runs but is not enabled at boot (" + s->unit_file_state + "): port " + n +
             " will be closed after a reboot");
        advise("systemctl enable " + name);
        summarize(name + " runs but is not enabled at boot");
      }
      related(*s);
    }
    const auto loopback = [](const v1::Listener* l) {
      return l->address() == "::1" || l->address().rfind("127.", 0) == 0;
    };
    if (std::all_of(here.begin(), here.end(), loopback)) loopback_only();
  }

  void without_listener() {
    // Candidates: daemons whose configuration names the port, then the usual suspects.
    std::vector<std::string> daemons;
    for (const auto& c : in.configs)
      for (const auto& p : c.ports)
        if (p.port == in.port) add_unique(daemons, c.daemon);
    for (const auto& d : known_daemons())
      if (std::find(d.ports.begin(), d.ports.end(), in.port) != d.ports.end()) add_unique(daemons, std::string(d.name));

    config_lines();

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
             daemon_unit(*d, in.host));
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
               daemon_unit(*d, in.host));
    }

    if (auto why = mgr.unavailable(); !why.empty()) {
      out.notes.push_back(why);
    } else {
      // Socket-activated units for the port: the socket unit is what listens;
      // the services it starts are not expected to run or be enabled.
      std::map<std::string, std::string> started_by;
      for (const auto& sock : mgr.sockets_for_port(in.port)) {
        for (const auto& a : sock.activates) started_by.emplace(a, sock.unit);
        auto s = mgr.state(sock.unit);
        if (!s || !s->found()) continue;
        fact(s->name + " (socket activation for port " + n + "): " + s->describe());
        if (!s->active()) {
          summarize(s->name + " is " + s->active_state + (s->enabled() ? "" : " and not enabled at boot"));
          advise(s->enabled() ? "systemctl start " + s->name : "systemctl enable --now " + s->name);
        }
      }
      for (const auto& name : daemons) {
        const auto* d = find_daemon(name);
        if (!d) continue;
        auto s = first_unit({d->units.begin(), d->units.end()});
        if (!s) continue;
        if (auto by = started_by.find(s->name); by != started_by.end() && !s->failed()) {
          fact(s->name + " (started by " + by->second + " at a connection): " + s->describe());
          continue;
        }
        fact(s->name + ": " + s->describe());
        if (s->failed()) {
          failed_daemon(*s, *d);
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
      auto install = install_command(in.host.packages, daemon_package(*d, in.host));
      if (!install.empty()) advise(install + " && systemctl enable --now " + daemon_unit(*d, in.host));
    }
  }
};

}  // namespace

void attribute_socket_activation(std::vector<v1::Listener>& listeners, service_manager& manager) {
  if (!manager.unavailable().empty()) return;
  for (auto& l : listeners) {
    if (l.unit() != "init.scope" || l.port() > 65535) continue;
    for (const auto& sock : manager.sockets_for_port(static_cast<std::uint16_t>(l.port())))
      if (listen_covers(sock.listen, l.address())) {
        l.set_unit(sock.unit);
        break;
      }
  }
}

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
