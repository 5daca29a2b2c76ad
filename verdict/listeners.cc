// The agent's listeners against the address a SYN was sent to.
#include <algorithm>

#include "common/text.h"
#include "verdict/internal.h"

namespace dropspot::verdict_detail {

listener_view check_listeners(const port_input& in, const std::string& destination) {
  listener_view v;
  if (!in.listeners_known && in.listeners.empty()) {
    v.fit = listener_view::unknown;
    return v;
  }
  for (const auto& l : in.listeners) {
    if (l.port() != 0 && l.port() != in.port) continue;
    (listener_accepts(l, destination) ? v.accepting : v.other).push_back(&l);
  }
  if (!v.accepting.empty())
    v.fit = listener_view::accepts;
  else if (!v.other.empty())
    v.fit = listener_view::elsewhere;
  return v;
}

/// "nginx (pid 812, nginx.service) on 127.0.0.1:80".
std::string describe_listener(const v1::Listener& l, std::uint32_t port) {
  std::string s = listener_owner(l);
  std::string extra;
  if (l.pid() != 0) extra = "pid " + num(l.pid());
  if (!l.unit().empty() && l.unit() != s) extra += (extra.empty() ? "" : ", ") + l.unit();
  if (!extra.empty()) s += " (" + extra + ")";
  s += " on " + host_port(l.address().empty() ? "*" : l.address(), l.port() ? l.port() : port);
  if (l.v6_only()) s += " (IPv6 only)";
  return s;
}

std::string listener_list(const std::vector<const v1::Listener*>& ls, std::uint32_t port) {
  std::string s;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i) s += i + 1 == ls.size() ? " and " : ", ";
    s += describe_listener(*ls[i], port);
  }
  return s;
}

/// "nginx listens on 127.0.0.1:80 only, not on 203.0.113.2".
std::string wrong_address_summary(const listener_view& lv, std::uint32_t port, const std::string& dst) {
  std::vector<std::string> names;
  std::string where;
  for (const auto* l : lv.other) {
    const std::string name = listener_owner(*l);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    where += (where.empty() ? "" : ", ") + host_port(l->address().empty() ? "*" : l->address(), port);
  }
  std::string who;
  for (std::size_t i = 0; i < names.size(); ++i) who += (i ? " and " : "") + names[i];
  return who + " listens on " + where + " only, not on " + (dst.empty() ? "the address probed" : dst);
}

/// The configuration directive that sets the bind address, by process name.
std::string bind_fix(const v1::Listener& l, std::uint32_t port, const std::string& address) {
  const std::string p = lower(l.process());
  const std::string n = num(port);
  // IPv4's wildcard only, and the client came over IPv6 (a dual-stack name, issue 24).
  if (normalize_address(l.address()) == "0.0.0.0" && address.find(':') != std::string::npos) {
    const std::string also = "the service listens on 0.0.0.0:" + n + ", IPv4 only: also listen on [::]:" + n;
    if (p == "nginx")
      return also + " (nginx: add 'listen [::]:" + n + ";' beside 'listen " + n + ";', check with nginx -t)";
    if (p == "httpd" || p == "apache2")
      return also + " (Apache: 'Listen " + n + "' covers both; drop 'Listen 0.0.0.0:" + n + "')";
    if (p == "sshd") return also + " (sshd: 'ListenAddress ::' beside 'ListenAddress 0.0.0.0', or neither)";
    if (p == "master" || p == "postfix" || p == "smtpd") return also + " (Postfix: inet_protocols = all in main.cf)";
    return also + " (bind to :: with IPV6_V6ONLY off to take both)";
  }
  if (normalize_address(l.address()) == "::" && l.v6_only())
    return "the socket on [::]:" + n + " is IPv6-only (IPV6_V6ONLY" +
           (p == "nginx" ? std::string(", nginx 'ipv6only=on'") : std::string()) + "): also listen on 0.0.0.0:" + n +
           " (nginx: add 'listen " + n + ";'), or turn IPv6-only off";
  if (p == "nginx")
    return "nginx: write 'listen " + n + ";' (and 'listen [::]:" + n + ";') instead of 'listen " +
           host_port(l.address(), port) + ";' (check with nginx -t)";
  if (p == "httpd" || p == "apache2")
    return "Apache: write 'Listen " + n + "' instead of 'Listen " + host_port(l.address(), port) +
           "' (httpd.conf or ports.conf; check with apachectl configtest)";
  if (p == "sshd") return "sshd: remove or correct 'ListenAddress' in /etc/ssh/sshd_config (check with sshd -t)";
  if (p == "master" || p == "postfix" || p == "smtpd")
    return "Postfix: set 'inet_interfaces = all' in /etc/postfix/main.cf (see postconf inet_interfaces)";
  if (p == "mysqld" || p == "mariadbd")
    return "MySQL/MariaDB: set 'bind-address = 0.0.0.0' in the [mysqld] section of its .cnf";
  if (p == "postgres")
    return "PostgreSQL: set listen_addresses = '*' in postgresql.conf (and allow the client in pg_hba.conf)";
  if (p == "redis-server") return "Redis: set 'bind 0.0.0.0' in redis.conf (and keep a password: protected-mode)";
  if (p == "docker-proxy") return "Docker: publish with -p " + n + ":" + n + " instead of -p 127.0.0.1:" + n + ":" + n;
  if (p == "node" || p == "python" || p == "python3" || p == "java" || p == "gunicorn" || p == "uvicorn" ||
      p == "php" || p == "ruby" || p == "deno" || p == "bun")
    return "start the application with host 0.0.0.0 instead of 127.0.0.1/localhost (e.g. --host 0.0.0.0 or "
           "--bind 0.0.0.0:" +
           n + ")";
  return "set its listen/bind address to 0.0.0.0 (or ::, or " + (address.empty() ? "the public address" : address) +
         ") in its configuration";
}

}  // namespace dropspot::verdict_detail
