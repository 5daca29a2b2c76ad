#include "render/junit.h"

#include <cstdio>

#include "common/net.h"
#include "common/text.h"
#include "verdict/verdict.h"

namespace dropspot {

namespace {

std::string num(std::uint64_t n) { return std::to_string(n); }

/// Seconds with millisecond precision, as JUnit's time attributes want them.
std::string seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms > 0 ? ms / 1000.0 : 0.0);
  return buf;
}

std::string milliseconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms > 0 ? ms : 0.0);
  return buf;
}

/// A classname without dots of its own: reporters (Jenkins) split classnames
/// at dots into packages, and a host name or address is one thing.
std::string class_name(std::string_view target) {
  std::string s = escape(target);
  for (auto& c : s)
    if (c == '.' || c == ':') c = '_';
  return "dropspot." + s;
}

std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + xml_escape(value) + "\"";
}

std::string outcome_name(v1::Attempt::Outcome o) {
  switch (o) {
    case v1::Attempt::CONNECTED:
      return "connected";
    case v1::Attempt::REFUSED:
      return "refused (reset)";
    case v1::Attempt::TIMED_OUT:
      return "timed out";
    case v1::Attempt::UNREACHABLE:
      return "unreachable";
    case v1::Attempt::FAILED:
      return "failed";
    default:
      return "unfinished";
  }
}

std::string attempt_line(const v1::Attempt& a, const v1::Report& report, std::uint32_t port) {
  std::string s = host_port(escape(a.local_address()), a.local_port()) + " -> " + host_port(escape(report.address()), port) + " " +
                  outcome_name(a.outcome()) + " after " + milliseconds(a.elapsed_ms()) + " ms";
  if (!a.icmp_from().empty()) {
    const bool v6 = looks_ipv6(a.icmp_from());
    s += ": ICMP " + icmp_error_name(v6, a.icmp_type(), a.icmp_code()) + " from " + escape(a.icmp_from());
  }
  if (!a.error().empty() && a.outcome() != v1::Attempt::CONNECTED) s += " (" + escape(a.error()) + ")";
  return s;
}

std::string packet_line(const v1::PacketEvent& e) {
  std::string s = e.direction() == v1::PacketEvent::INBOUND    ? "in "
                  : e.direction() == v1::PacketEvent::OUTBOUND ? "out "
                                                               : "";
  if (e.kind() == v1::PacketEvent::ICMP_ERROR) {
    const bool v6 = looks_ipv6(e.src());
    s += "ICMP " + icmp_error_name(v6, e.icmp_type(), e.icmp_code()) + " " + escape(e.src()) + " -> " +
         escape(e.dst());
  } else {
    s += v1::PacketEvent::Kind_Name(e.kind()) + " " + host_port(escape(e.src()), e.src_port()) + " -> " +
         host_port(escape(e.dst()), e.dst_port());
  }
  if (e.ttl() > 0) s += " ttl " + num(e.ttl());
  if (!e.interface().empty()) s += " on " + escape(e.interface());
  return s;
}

/// The failure's text: summary, evidence, advice; one item per line, each
/// item's bytes escaped (they came from the network or the host).
std::string failure_text(const v1::Report& report, const v1::PortReport& p) {
  std::string s = escape(p.summary()) + "\n";
  s += "expected: " + escape(p.expect()) + ", got " + v1::Verdict_Name(p.verdict()) + "\n";
  const auto& ev = p.evidence();
  for (const auto& a : ev.attempts()) s += "prober:   " + attempt_line(a, report, p.port()) + "\n";
  if (ev.agent_packets_size() == 0 && report.agent().status() == v1::AgentInfo::CONNECTED &&
      report.agent().capture_active())
    s += "agent:    saw no packet for this port\n";
  for (const auto& e : ev.agent_packets()) s += "agent:    " + packet_line(e) + "\n";
  for (const auto& l : ev.listeners()) {
    s += "listener: " + host_port(escape(l.address().empty() ? "*" : l.address()), l.port() ? l.port() : p.port());
    if (!l.process().empty()) s += " " + escape(l.process());
    if (l.pid() != 0) s += " pid " + num(l.pid());
    if (!l.unit().empty()) s += " unit " + escape(l.unit());
    s += "\n";
  }
  if (ev.has_hop()) {
    const auto& h = ev.hop();
    s += "hop:      last hop that forwarded the SYN: " + num(h.last_hop());
    if (!h.last_hop_address().empty()) s += " (" + escape(h.last_hop_address()) + ")";
    if (!h.note().empty()) s += "; " + escape(h.note());
    s += "\n";
  }
  for (const auto& f : ev.firewall()) s += "firewall: " + escape(f) + "\n";
  if (p.has_app()) {
    s += "app:      " + escape(p.app().kind()) + (p.app().ok() ? " ok" : " failed");
    if (!p.app().detail().empty()) s += ": " + escape(p.app().detail());
    s += "\n";
  }
  for (const auto& n : ev.notes()) s += "note:     " + escape(n) + "\n";
  if (p.advice_size() > 0) {
    s += "next steps:\n";
    for (const auto& a : p.advice()) s += "  - " + escape(a) + "\n";
  }
  return s;
}

bool agent_missing(const v1::Report& report) {
  const auto status = report.agent().status();
  return status != v1::AgentInfo::CONNECTED && status != v1::AgentInfo::DISABLED;
}

}  // namespace

std::string xml_escape(std::string_view text, bool keep_newlines) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\n':
        out += keep_newlines ? "\n" : "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string junit_case_name(const v1::PortReport& port) {
  return "tcp/" + num(port.port()) + " " + (port.probe().empty() ? std::string("tcp") : escape(port.probe()));
}

std::string render_junit(const v1::Report& report) {
  const std::string suite = "dropspot " + escape(report.target());
  const std::string classname = class_name(report.target());
  std::size_t failures = 0;
  for (const auto& p : report.ports())
    if (!p.as_expected()) ++failures;
  const bool agent_case = agent_missing(report);
  const std::size_t tests = static_cast<std::size_t>(report.ports_size()) + (agent_case ? 1 : 0);
  if (agent_case) ++failures;

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites" + attr("name", "dropspot") + attr("tests", num(tests)) + attr("failures", num(failures)) +
         attr("errors", "0") + attr("time", seconds(report.elapsed_ms())) + ">\n";
  out += "  <testsuite" + attr("name", suite) + attr("tests", num(tests)) + attr("failures", num(failures)) +
         attr("errors", "0") + attr("skipped", "0") + attr("time", seconds(report.elapsed_ms()));
  if (!report.agent().hostname().empty()) out += attr("hostname", escape(report.agent().hostname()));
  out += ">\n";

  out += "    <properties>\n";
  const auto property = [&](std::string_view name, std::string_view value) {
    out += "      <property" + attr("name", name) + attr("value", escape(value)) + "/>\n";
  };
  property("target", report.target());
  property("address", report.address());
  property("agent", v1::AgentInfo::Status_Name(report.agent().status()));
  if (!report.agent().endpoint().empty()) property("agent_endpoint", report.agent().endpoint());
  if (!report.agent().pcap_file().empty()) property("pcap_file", report.agent().pcap_file());
  property("runs", num(report.runs() ? report.runs() : 1));
  if (report.ready_after_ms() > 0) property("ready_after_s", seconds(report.ready_after_ms()));
  if (!report.software().empty()) property("software", report.software());
  out += "    </properties>\n";

  if (agent_case) {
    const auto& a = report.agent();
    out += "    <testcase" + attr("name", "agent") + attr("classname", classname) + attr("time", "0.000") + ">\n";
    out += "      <failure" + attr("message", "agent " + v1::AgentInfo::Status_Name(a.status()) + ": " + escape(a.message())) +
           attr("type", v1::AgentInfo::Status_Name(a.status())) + ">";
    std::string text = escape(a.message()) + "\n";
    for (const auto& t : a.tried()) text += "tried: " + escape(t) + "\n";
    text += "Without the agent the verdicts are the client's view only; pass --no-agent to accept that.\n";
    out += xml_escape(text, true) + "</failure>\n    </testcase>\n";
  }

  for (const auto& p : report.ports()) {
    out += "    <testcase" + attr("name", junit_case_name(p)) + attr("classname", classname) +
           attr("time", seconds(p.decided_ms()));
    if (p.as_expected()) {
      out += "/>\n";
      continue;
    }
    const std::string verdict = v1::Verdict_Name(p.verdict());
    out += ">\n      <failure" +
           attr("message", "expected " + escape(p.expect()) + ", got " + verdict + ": " + escape(p.summary())) +
           attr("type", verdict) + ">";
    out += xml_escape(failure_text(report, p), true);
    out += "</failure>\n    </testcase>\n";
  }

  std::string system_out;
  for (const auto& p : report.ports())
    system_out += junit_case_name(p) + ": " + v1::Verdict_Name(p.verdict()) + " (expected " + escape(p.expect()) +
                  (p.as_expected() ? ", ok" : ", FAILED") + ")\n";
  for (const auto& n : report.notes()) system_out += "note: " + escape(n) + "\n";
  out += "    <system-out>" + xml_escape(system_out, true) + "</system-out>\n";
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace dropspot
