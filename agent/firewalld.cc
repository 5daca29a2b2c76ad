#include "agent/firewalld.h"

#include "common/net.h"
#include "agent/host_files.h"

#include <dirent.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace dropspot::agent {

namespace {

struct doc_deleter {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using doc_ptr = std::unique_ptr<xmlDoc, doc_deleter>;

doc_ptr parse_xml(std::string_view xml) {
  // no network, no external entities, errors not printed
  return doc_ptr(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

bool is(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::string attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return {};
  std::string out(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return out;
}

std::optional<fwd_port> parse_port_element(const xmlNode* n) {
  fwd_port p;
  p.protocol = attr(n, "protocol");
  auto spec = attr(n, "port");
  auto dash = spec.find('-');
  auto lo = std::strtoul(spec.c_str(), nullptr, 10);
  auto hi = dash == std::string::npos ? lo : std::strtoul(spec.c_str() + dash + 1, nullptr, 10);
  if (lo == 0 || lo > 65535 || hi < lo || hi > 65535) return std::nullopt;
  p.low = static_cast<std::uint16_t>(lo);
  p.high = static_cast<std::uint16_t>(hi);
  return p;
}

std::string port_text(const fwd_port& p) {
  return std::to_string(p.low) + (p.high != p.low ? "-" + std::to_string(p.high) : std::string()) + "/" + p.protocol;
}

bool truthy(const std::string& s) { return s == "True" || s == "true" || s == "yes" || s == "1"; }

std::vector<std::string> xml_files(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".xml") == 0) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

result<fwd_zone> parse_firewalld_zone(std::string_view name, std::string_view xml) {
  auto doc = parse_xml(xml);
  if (!doc) return result<fwd_zone>::failure("zone " + std::string(name) + ": not well-formed XML");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !is(root, "zone")) return result<fwd_zone>::failure("zone " + std::string(name) + ": no <zone> element");
  fwd_zone z;
  z.name = std::string(name);
  if (auto t = attr(root, "target"); !t.empty()) z.target = t;
  for (const xmlNode* n = root->children; n; n = n->next) {
    if (is(n, "interface"))
      z.interfaces.push_back(attr(n, "name"));
    else if (is(n, "source")) {
      auto a = attr(n, "address");
      z.sources.push_back(a.empty() ? (attr(n, "ipset").empty() ? "mac:" + attr(n, "mac") : "ipset:" + attr(n, "ipset"))
                                    : a);
    } else if (is(n, "service"))
      z.services.push_back(attr(n, "name"));
    else if (is(n, "port")) {
      if (auto p = parse_port_element(n)) z.ports.push_back(*p);
    } else if (is(n, "rule")) {
      fwd_rich_rule r;
      r.family = attr(n, "family");
      std::string text = "rule";
      if (!r.family.empty()) text += " family=\"" + r.family + "\"";
      if (auto prio = attr(n, "priority"); !prio.empty() && prio != "0") text += " priority=\"" + prio + "\"";
      bool other_element = false;
      for (const xmlNode* c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (is(c, "source")) {
          r.source = attr(c, "address");
          if (r.source.empty() && !attr(c, "ipset").empty()) r.source = "ipset:" + attr(c, "ipset");
          r.source_invert = truthy(attr(c, "invert"));
          text += std::string(" source ") + (r.source_invert ? "NOT " : "") + "address=\"" + r.source + "\"";
        } else if (is(c, "service")) {
          r.service = attr(c, "name");
          text += " service name=\"" + r.service + "\"";
        } else if (is(c, "port")) {
          r.port = parse_port_element(c);
          if (r.port)
            text += " port port=\"" + port_text(*r.port).substr(0, port_text(*r.port).find('/')) + "\" protocol=\"" +
                    r.port->protocol + "\"";
        } else if (is(c, "accept") || is(c, "reject") || is(c, "drop")) {
          r.action = reinterpret_cast<const char*>(c->name);
          text += " " + r.action;
          if (auto type = attr(c, "type"); !type.empty()) text += " type=\"" + type + "\"";
        } else if (is(c, "log") || is(c, "audit") || is(c, "destination")) {
          text += std::string(" ") + reinterpret_cast<const char*>(c->name);
        } else {
          other_element = true;  // protocol, icmp-block, forward-port, masquerade...: not about TCP SYNs to a port
          text += std::string(" ") + reinterpret_cast<const char*>(c->name);
        }
      }
      if (other_element) r.action.clear();
      r.text = text;
      z.rich_rules.push_back(std::move(r));
    }
  }
  return z;
}

result<fwd_service> parse_firewalld_service(std::string_view name, std::string_view xml) {
  auto doc = parse_xml(xml);
  if (!doc) return result<fwd_service>::failure("service " + std::string(name) + ": not well-formed XML");
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root || !is(root, "service"))
    return result<fwd_service>::failure("service " + std::string(name) + ": no <service> element");
  fwd_service s;
  s.name = std::string(name);
  for (const xmlNode* n = root->children; n; n = n->next) {
    if (is(n, "port")) {
      if (auto p = parse_port_element(n)) s.ports.push_back(*p);
    } else if (is(n, "include")) {
      s.includes.push_back(attr(n, "service"));
    }
  }
  return s;
}

std::string parse_firewalld_default_zone(std::string_view conf) {
  std::istringstream in{std::string(conf)};
  std::string line, zone = "public";
  while (std::getline(in, line)) {
    if (line.rfind("DefaultZone=", 0) != 0) continue;
    auto v = line.substr(12);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    if (!v.empty()) zone = v;
  }
  return zone;
}

std::optional<firewalld_config> read_firewalld_config(const std::string& root) {
  firewalld_config cfg;
  if (const auto etc = join_root(root, "/etc/firewalld"); path_exists(etc) && ::access(etc.c_str(), R_OK | X_OK) != 0) {
    cfg.unreadable = "/etc/firewalld: " + std::string(std::strerror(errno)) +
                     (::geteuid() != 0 ? " (root's only: `sudo agent check` compares it)" : "");
    return cfg;
  }
  std::map<std::string, std::string> zone_files, service_files;  // name -> path; /etc overrides /usr/lib
  for (const char* base : {"/usr/lib/firewalld", "/etc/firewalld"}) {
    for (const auto& f : xml_files(join_root(root, std::string(base) + "/zones")))
      zone_files[f.substr(0, f.size() - 4)] = std::string(base) + "/zones/" + f;
    for (const auto& f : xml_files(join_root(root, std::string(base) + "/services")))
      service_files[f.substr(0, f.size() - 4)] = std::string(base) + "/services/" + f;
  }
  if (zone_files.empty()) return std::nullopt;
  std::string text;
  if (read_text(join_root(root, "/etc/firewalld/firewalld.conf"), text))
    cfg.default_zone = parse_firewalld_default_zone(text);
  for (const auto& [name, path] : zone_files) {
    if (!read_text(join_root(root, path), text)) continue;
    auto z = parse_firewalld_zone(name, text);
    if (!z) {
      cfg.notes.push_back(path + ": " + z.error());
      continue;
    }
    auto zone = std::move(z).value();
    zone.file = path;
    cfg.zones[name] = std::move(zone);
  }
  for (const auto& [name, path] : service_files) {
    if (!read_text(join_root(root, path), text)) continue;
    auto s = parse_firewalld_service(name, text);
    if (!s)
      cfg.notes.push_back(path + ": " + s.error());
    else
      cfg.services[name] = std::move(s).value();
  }
  return cfg;
}

namespace {

/// The service's TCP ports cover `port` (following includes).
bool service_covers(const firewalld_config& cfg, const std::string& name, std::uint16_t port, std::string_view proto,
                    int depth = 0) {
  auto it = cfg.services.find(name);
  if (it == cfg.services.end() || depth > 8) return false;
  for (const auto& p : it->second.ports)
    if (p.covers(port, proto)) return true;
  for (const auto& inc : it->second.includes)
    if (service_covers(cfg, inc, port, proto, depth + 1)) return true;
  return false;
}

/// The service is exactly the port: its ports are that port alone (TCP, and
/// maybe UDP), no includes. Advice names only such a service: one that also
/// opens other ports (RH-Satellite-6 lists 8080 among a dozen) is not it.
bool service_is_exactly(const firewalld_config& cfg, const std::string& name, std::uint16_t port) {
  auto it = cfg.services.find(name);
  if (it == cfg.services.end() || !it->second.includes.empty() || it->second.ports.empty()) return false;
  bool tcp = false;
  for (const auto& p : it->second.ports) {
    if (p.low != port || p.high != port) return false;
    tcp = tcp || p.protocol == "tcp";
  }
  return tcp;
}

}  // namespace

fwd_verdict evaluate(const firewalld_config& cfg, std::uint16_t port, const std::optional<asio::ip::address>& source_in,
                     const std::string& interface, bool udp) {
  fwd_verdict v;
  const std::string_view proto = udp ? "udp" : "tcp";
  const auto n = std::to_string(port) + "/" + std::string(proto);
  auto source = source_in;
  if (source && source->is_v6() && source->to_v6().is_v4_mapped())
    source = asio::ip::make_address_v4(asio::ip::v4_mapped, source->to_v6());
  // The service for the advice: a well-known one that is exactly the port.
  // Any other (jenkins is exactly 8080/tcp) would name a program the user may
  // not run: --add-port then.
  for (const char* known :
       {"ssh", "smtp", "smtp-submission", "smtps", "http", "https", "imap", "imaps", "pop3", "pop3s"})
    if (!udp && service_is_exactly(cfg, known, port)) {
      v.service_for_port = known;
      break;
    }

  // the zone: by source, by interface, else the default zone
  const fwd_zone* zone = nullptr;
  std::string how;
  if (source)
    for (const auto& [name, z] : cfg.zones) {
      for (const auto& s : z.sources)
        if (address_in_cidr(*source, s).value_or(false)) {
          zone = &z;
          how = " (source " + s + ")";
          break;
        }
      if (zone) break;
    }
  if (!zone && !interface.empty())
    for (const auto& [name, z] : cfg.zones)
      if (std::find(z.interfaces.begin(), z.interfaces.end(), interface) != z.interfaces.end()) {
        zone = &z;
        how = " (interface " + interface + ")";
        break;
      }
  if (!zone) {
    auto it = cfg.zones.find(cfg.default_zone);
    if (it == cfg.zones.end()) {
      v.allowed = true;
      v.action = "accept";
      v.why = "firewalld: default zone " + cfg.default_zone + " not found";
      return v;
    }
    zone = &it->second;
    how = " (default zone" + (interface.empty() ? std::string() : ", interface " + interface + " is bound to no zone") +
          ")";
  }
  v.zone = zone->name;
  const std::string zname = "zone " + zone->name + how;

  // rich rules: do they match a TCP SYN to port from source?
  auto rule_matches = [&](const fwd_rich_rule& r) -> bool {
    if (r.action.empty()) return false;
    if (!r.family.empty() && source && (r.family == "ipv4") != source->is_v4()) return false;
    if (!r.source.empty()) {
      if (!source) return false;  // any remote source: a source-restricted rule is not the general case
      auto m = address_in_cidr(*source, r.source);
      if (!m) return false;
      if (*m == r.source_invert) return false;
    }
    if (!r.service.empty()) return service_covers(cfg, r.service, port, proto);
    if (r.port) return r.port->covers(port, proto);
    return true;  // a source-only rule covers every port
  };
  for (const auto& r : zone->rich_rules)
    if ((r.action == "drop" || r.action == "reject") && rule_matches(r)) {
      v.action = r.action;
      v.why =
          "firewalld " + zname + ": rich rule " + r.text + " " + (r.action == "drop" ? "drops" : "rejects") + " " + n;
      return v;
    }
  for (const auto& r : zone->rich_rules)
    if (r.action == "accept" && rule_matches(r)) {
      v.allowed = true;
      v.action = "accept";
      v.why = "firewalld " + zname + ": rich rule " + r.text + " allows " + n;
      return v;
    }
  for (const auto& s : zone->services)
    if (service_covers(cfg, s, port, proto)) {
      v.allowed = true;
      v.action = "accept";
      v.why = "firewalld " + zname + " allows service " + s + " (" + n + ")";
      return v;
    }
  for (const auto& p : zone->ports)
    if (p.covers(port, proto)) {
      v.allowed = true;
      v.action = "accept";
      v.why = "firewalld " + zname + " allows port " + port_text(p);
      return v;
    }
  if (zone->target == "ACCEPT") {
    v.allowed = true;
    v.action = "accept";
    v.why = "firewalld " + zname + " has target ACCEPT";
    return v;
  }
  v.action = zone->target == "DROP" ? "drop" : "reject";
  std::string services;
  for (const auto& s : zone->services) services += (services.empty() ? "" : " ") + s;
  std::string ports;
  for (const auto& p : zone->ports) ports += (ports.empty() ? "" : " ") + port_text(p);
  v.why = "firewalld " + zname + " does not allow " + n + " (services: " + (services.empty() ? "none" : services) +
          "; ports: " + (ports.empty() ? "none" : ports) + "; target " + zone->target + ": " +
          (v.action == "drop" ? "dropped" : "rejected") + ")";
  return v;
}

bool firewalld_running(const std::string& root) {
  struct stat st {};
  return ::stat(join_root(root, "/run/firewalld.pid").c_str(), &st) == 0 ||
         ::stat(join_root(root, "/run/firewalld").c_str(), &st) == 0;
}

}  // namespace dropspot::agent
