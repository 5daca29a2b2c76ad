// Inferences across ports (Report.notes).
#include <algorithm>
#include <map>
#include <optional>
#include <string_view>

#include "common/ports.h"
#include "verdict/verdict.h"

namespace dropspot {

using v1::Verdict;

std::vector<std::string> cross_port_notes(const v1::Report& report) {
  std::vector<std::string> notes;
  const bool with_agent = report.agent().status() == v1::AgentInfo::CONNECTED;
  std::map<std::uint32_t, Verdict> by_port;
  // The inferences by port number (OP25B, 80 and 443) are about TCP services.
  for (const auto& p : report.ports())
    if (p.protocol() != v1::UDP) by_port[p.port()] = p.verdict();
  auto verdict_of = [&](std::uint32_t port) -> std::optional<Verdict> {
    auto it = by_port.find(port);
    if (it == by_port.end()) return std::nullopt;
    return it->second;
  };
  auto in_transit = [](Verdict v) {
    return v == v1::DROPPED_IN_TRANSIT || v == v1::REJECTED_IN_TRANSIT || v == v1::FILTERED;
  };
  // Reached the server (or, client-only, something answered).
  auto reaches = [](Verdict v) {
    return v == v1::OPEN || v == v1::APP_FAILED || v == v1::DROPPED_BY_HOST_FIREWALL ||
           v == v1::REJECTED_BY_HOST_FIREWALL || v == v1::NO_LISTENER || v == v1::LISTENER_WRONG_ADDRESS ||
           v == v1::REPLY_LOST || v == v1::CLOSED || v == v1::PATH_MTU_BLACKHOLE;
  };
  auto list = [](std::vector<std::uint16_t> ports) {
    std::sort(ports.begin(), ports.end());
    return format_port_list(ports);
  };

  // OP25B.
  bool op25b = false;
  if (auto v25 = verdict_of(25); v25 && (in_transit(*v25) || *v25 == v1::INTERCEPTED)) {
    std::vector<std::uint16_t> ok;
    for (std::uint32_t alt : {587u, 465u})
      if (auto v = verdict_of(alt); v && reaches(*v)) ok.push_back(static_cast<std::uint16_t>(alt));
    if (*v25 == v1::INTERCEPTED) {
      notes.push_back(
          "port 25 is answered by something other than the server: ISPs that block outbound port 25 "
          "(OP25B) often redirect it to their own mail relay; submit mail on 587 or 465");
      op25b = true;
    } else if (!ok.empty()) {
      notes.push_back((with_agent ? "port 25 never reaches the server while " + list(ok) + " does"
                                  : "port 25 gets no answer while " + list(ok) + " does") +
                      ": the signature of an ISP block of outbound port 25 (OP25B), not of the server; "
                      "send mail through 587 (STARTTLS) or 465 (TLS) with authentication");
      op25b = true;
    } else if (!verdict_of(587) && !verdict_of(465)) {
      notes.push_back(
          "port 25 is stopped before the server: from a consumer line this is usually the ISP's OP25B; "
          "test 587 and 465 too (--ports 25,465,587)");
      op25b = true;
    }
  }

  // Transit drops: all ports, or some while others reach the server.
  std::vector<std::uint16_t> transit, reached, host_fw, intercepted;
  // Host-firewall ports whose evidence names no rule (the agent could not read
  // the rules, or none explains the drop): the guess below is for those only.
  std::vector<std::uint16_t> host_fw_unnamed;
  for (const auto& p : report.ports())
    if ((p.verdict() == v1::DROPPED_BY_HOST_FIREWALL || p.verdict() == v1::REJECTED_BY_HOST_FIREWALL) &&
        p.evidence().firewall().empty())
      host_fw_unnamed.push_back(static_cast<std::uint16_t>(p.port()));
  for (const auto& [port, v] : by_port) {
    const auto p = static_cast<std::uint16_t>(port);
    if (in_transit(v)) transit.push_back(p);
    if (reaches(v)) reached.push_back(p);
    if (v == v1::DROPPED_BY_HOST_FIREWALL || v == v1::REJECTED_BY_HOST_FIREWALL) host_fw.push_back(p);
    if (v == v1::INTERCEPTED) intercepted.push_back(p);
  }
  if (by_port.size() >= 2 && transit.size() == by_port.size()) {
    if (with_agent) {
      std::string s =
          "no port reaches the server: the provider's packet filter (security group) blocks them all, "
          "or " +
          report.target() + " is not the server the agent runs on";
      if (!report.agent().endpoint().empty())
        s += "; the control channel did reach the agent at " + report.agent().endpoint() +
             (report.agent().path().empty() ? std::string() : " (" + report.agent().path() + ")");
      notes.push_back(s);
    } else {
      notes.push_back(
          "no port answers: the provider's packet filter, a firewall, or a wrong address; run the agent "
          "on the server to tell them apart");
    }
  } else if (!transit.empty() && !reached.empty()) {
    std::vector<std::uint16_t> others;
    for (auto p : transit)
      if (!(op25b && p == 25)) others.push_back(p);
    if (!others.empty())
      notes.push_back("port(s) " + list(others) + " never reach the server while " + list(reached) +
                      " do: the path works, so a packet filter in front of the server (the provider's filter / "
                      "security group) passes only some ports");
  }
  if (host_fw.size() >= 2 && !host_fw_unnamed.empty())
    notes.push_back("the server's firewall blocks ports " + list(host_fw) +
                    ": probably a default-deny policy; check nft list ruleset / firewall-cmd --list-all, and save "
                    "rules added at runtime or they vanish at reboot");
  if (with_agent && !intercepted.empty() && intercepted.size() + transit.size() == by_port.size() &&
      !(intercepted.size() == 1 && op25b && intercepted.front() == 25))
    notes.push_back("connections to " + list(intercepted) +
                    " succeed but the agent saw no SYN on any port: everything is intercepted (transparent proxy, "
                    "or the target is another machine than the agent's), or the capture misses this traffic "
                    "(check the agent's --interface)");

  // HSTS: browsers switch http:// to https://.
  const auto v80 = verdict_of(80);
  const auto v443 = verdict_of(443);
  if (v80 && v443) {
    if (*v80 == v1::OPEN && *v443 != v1::OPEN)
      notes.push_back(
          "port 80 works but 443 does not: a browser that knows HSTS for this site (or follows a "
          "redirect) goes to https:// and fails although http works; test port 80 with curl -v "
          "http://" +
          report.target() + "/");
    else if (*v80 != v1::OPEN && *v443 == v1::OPEN)
      notes.push_back(
          "port 443 works: browsers with HSTS for this site never use port 80, so a broken port 80 "
          "shows only with plain http:// links, curl, or HTTP-01 certificate renewals");
  }
  return notes;
}

void gather_path_notes(v1::Report& report) {
  static constexpr std::string_view path_prefixes[] = {"the SYN arrived with TTL ", "the datagram arrived with TTL ",
                                                       "source address translated: "};
  const auto is_path_note = [](const std::string& note) {
    return std::any_of(std::begin(path_prefixes), std::end(path_prefixes),
                       [&](std::string_view prefix) { return note.rfind(prefix, 0) == 0; });
  };
  std::map<std::string, port_lists> ports_by_note;
  std::vector<std::string> order;  // first seen first
  for (const auto& p : report.ports())
    for (const auto& note : p.evidence().notes())
      if (is_path_note(note)) {
        auto& ports = ports_by_note[note];
        if (ports.empty()) order.push_back(note);
        (p.protocol() == v1::UDP ? ports.udp : ports.tcp).push_back(static_cast<std::uint16_t>(p.port()));
      }
  for (const auto& note : order) {
    auto ports = ports_by_note[note];
    if (ports.size() < 2) continue;
    for (auto& p : *report.mutable_ports()) {
      auto* notes = p.mutable_evidence()->mutable_notes();
      notes->erase(std::remove(notes->begin(), notes->end(), note), notes->end());
    }
    for (auto* list : {&ports.tcp, &ports.udp}) std::sort(list->begin(), list->end());
    report.add_notes("ports " + format_port_specs(ports) + ": " + note);
  }
}

}  // namespace dropspot
