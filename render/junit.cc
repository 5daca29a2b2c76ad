#include "render/junit.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/net.h"
#include "common/text.h"
#include "render/evidence.h"
#include "verdict/verdict.h"

namespace dropspot {

namespace {

/// Seconds with millisecond precision, as JUnit's time attributes want them.
std::string seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms > 0 ? ms / 1000.0 : 0.0);
  return buf;
}

/// A classname without dots of its own: reporters (Jenkins) split classnames
/// at dots into packages, and a host name or address is one thing.
std::string class_name(std::string_view target) {
  std::string s = escape(target);
  for (auto& c : s)
    if (c == '.' || c == ':' || c == ' ') c = '_';
  return "dropspot." + s;
}

std::string attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + xml_escape(value) + "\"";
}

/// The failure's text: summary, evidence, advice; one item per line, each
/// item's bytes escaped (they came from the network or the host).
std::string failure_text(const v1::Report& report, const v1::PortReport& p, std::uint64_t base) {
  std::string s = escape(p.summary()) + "\n";
  for (const auto& line : evidence_lines(report, p, base)) {
    std::string label = line.label + ":";
    label.resize(std::max<std::size_t>(label.size() + 1, 10), ' ');
    s += label + unglue(line.text) + "\n";
  }
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
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (c == '\n' && keep_newlines)
          out += '\n';
        else if (printable(c))
          out += static_cast<char>(c);
        else
          append_unprintable(out, c);  // as common/text.h's escape() writes it
    }
  }
  return out;
}

std::string junit_case_name(const v1::PortReport& port) {
  return (port.protocol() == v1::UDP ? "udp/" : "tcp/") + num(port.port()) + " " +
         (port.probe().empty() ? std::string("tcp") : escape(port.probe()));
}

namespace {

struct suite_counts {
  std::size_t tests = 0, failures = 0;
};

/// One <testsuite> for the report, indented in <testsuites>; `with_address`:
/// the name was tested at several addresses, each its own suite and class.
std::string render_suite(const v1::Report& report, suite_counts& counts, bool with_address) {
  const std::string name = report.target() + (with_address ? " " + report.address() : std::string());
  const std::string suite = "dropspot " + escape(name);
  const std::string classname = class_name(name);
  std::size_t failures = 0;
  for (const auto& p : report.ports())
    if (!p.as_expected()) ++failures;
  const bool agent_case = agent_missing(report) && report.error().empty();
  const bool error_case = !report.error().empty();  // nothing tested: one failed case says why
  const std::size_t tests = static_cast<std::size_t>(report.ports_size()) + (agent_case ? 1 : 0) + (error_case ? 1 : 0);
  if (agent_case) ++failures;
  if (error_case) ++failures;

  counts.tests += tests;
  counts.failures += failures;
  std::string out = "  <testsuite" + attr("name", suite) + attr("tests", num(tests)) + attr("failures", num(failures)) +
                    attr("errors", "0") + attr("skipped", "0") + attr("time", seconds(report.elapsed_ms()));
  if (!report.agent().hostname().empty()) out += attr("hostname", escape(report.agent().hostname()));
  out += ">\n";

  out += "    <properties>\n";
  const auto property = [&](std::string_view key, std::string_view value) {
    out += "      <property" + attr("name", key) + attr("value", escape(value)) + "/>\n";
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

  if (error_case) {
    out += "    <testcase" + attr("name", "target") + attr("classname", classname) + attr("time", "0.000") + ">\n";
    out += "      <failure" + attr("message", "not tested: " + escape(report.error())) + attr("type", "NOT_TESTED") +
           ">" + xml_escape(escape(report.error()) + "\n", true) + "</failure>\n    </testcase>\n";
  }
  if (agent_case) {
    const auto& a = report.agent();
    out += "    <testcase" + attr("name", "agent") + attr("classname", classname) + attr("time", "0.000") + ">\n";
    out += "      <failure" +
           attr("message", "agent " + v1::AgentInfo::Status_Name(a.status()) + ": " + escape(a.message())) +
           attr("type", v1::AgentInfo::Status_Name(a.status())) + ">";
    std::string text = escape(a.message()) + "\n";
    for (const auto& t : a.tried()) text += "tried: " + escape(t) + "\n";
    text += "Without the agent the verdicts are the client's view only; pass --no-agent to accept that.\n";
    out += xml_escape(text, true) + "</failure>\n    </testcase>\n";
  }

  const auto base = time_base(report);
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
    out += xml_escape(failure_text(report, p, base), true);
    out += "</failure>\n    </testcase>\n";
  }

  std::string system_out;
  for (const auto& p : report.ports())
    system_out += junit_case_name(p) + ": " + v1::Verdict_Name(p.verdict()) + " (expected " + escape(p.expect()) +
                  (p.as_expected() ? ", ok" : ", FAILED") + ")\n";
  for (const auto& n : report.notes()) system_out += "note: " + escape(n) + "\n";
  out += "    <system-out>" + xml_escape(system_out, true) + "</system-out>\n";
  out += "  </testsuite>\n";
  return out;
}

}  // namespace

std::string render_junit(const v1::Report& report) { return render_junit(std::vector<v1::Report>{report}); }

std::string render_junit(const std::vector<v1::Report>& reports) {
  suite_counts counts;
  double elapsed_ms = 0;
  std::string suites;
  std::map<std::string, std::size_t> per_name;
  for (const auto& r : reports) ++per_name[r.target()];
  for (const auto& r : reports) {
    suites += render_suite(r, counts, per_name[r.target()] > 1 && !r.address().empty());
    elapsed_ms = std::max(elapsed_ms, r.elapsed_ms());  // side by side: the longest
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites" + attr("name", "dropspot") +
         attr("tests", num(counts.tests)) + attr("failures", num(counts.failures)) + attr("errors", "0") +
         attr("time", seconds(elapsed_ms)) + ">\n" + suites + "</testsuites>\n";
}

}  // namespace dropspot
