// One set of evidence lines for every renderer: the text report and the
// JUnit failure text say the same thing, line for line.
#include "render/evidence.h"

#include <catch2/catch.hpp>

#include "support/test_files.h"
#include <sstream>

#include "render/junit.h"
#include "render/report.h"
#include "support/sample_report.h"

using namespace dropspot;
using namespace dropspot::sample;

namespace {

using test::lines_of;

/// "label text" with the label's padding squeezed to one space.
std::string squeezed(const std::string& line) {
  const auto start = line.find_first_not_of(' ');
  if (start == std::string::npos) return "";
  const auto label_end = line.find_first_of(" :", start);
  auto rest = line.find_first_not_of(": ", label_end);
  return line.substr(start, label_end - start) + " " + (rest == std::string::npos ? "" : line.substr(rest));
}

/// The evidence lines of a port in the text report (a render wide enough not
/// to wrap): the lines of its details block between the summary and "next steps".
std::vector<std::string> text_evidence(const std::string& text, std::uint32_t port) {
  const auto lines = lines_of(text);
  std::vector<std::string> out;
  auto it = std::find_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.rfind("port " + std::to_string(port) + " (", 0) == 0; });
  if (it == lines.end()) return out;
  it += 2;  // title, summary
  for (; it != lines.end() && !it->empty() && *it != "  next steps:"; ++it) out.push_back(squeezed(*it));
  return out;
}

std::string xml_unescaped(std::string s) {
  const std::pair<std::string, std::string> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities)
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
      s.replace(pos, from.size(), to);
  return s;
}

/// The evidence lines of a port's JUnit failure: after the summary, up to "next steps:".
std::vector<std::string> junit_evidence(const std::string& xml, std::uint32_t port) {
  const auto name = xml.find("name=\"tcp/" + std::to_string(port) + " ");
  const auto body = xml.find('>', xml.find("<failure ", name));
  const auto end = xml.find("</failure>", body);
  const auto lines = lines_of(xml_unescaped(xml.substr(body + 1, end - body - 1)));
  std::vector<std::string> out;
  for (std::size_t i = 1; i < lines.size() && lines[i] != "next steps:"; ++i) out.push_back(squeezed(lines[i]));
  return out;
}

}  // namespace

TEST_CASE("evidence: the text report and the JUnit failure list the same evidence, line for line") {
  auto r = sample_report();
  for (auto& p : *r.mutable_ports()) {
    p.set_expect("open");
    p.set_as_expected(p.verdict() == v1::OPEN);
  }
  const auto text = render_text(r, text_style{false, 400});
  const auto xml = render_junit(r);
  for (const auto& p : r.ports()) {
    if (p.verdict() == v1::OPEN) continue;
    INFO("port " << p.port());
    const auto from_text = text_evidence(text, p.port());
    CHECK(from_text.size() >= 3);
    CHECK(from_text == junit_evidence(xml, p.port()));
  }
  // The lines themselves: TCP options, SYN-ACK spelled one way, times from the first attempt.
  const auto http = junit_evidence(xml, 80);
  CHECK(std::find(http.begin(), http.end(),
                  "agent +2.5 ms  in  SYN 198.51.100.2:40002 -> 203.0.113.2:80 ttl 61 [mss 1460,sackOK,wscale 7] on "
                  "eth0") != http.end());
  const auto https = junit_evidence(xml, 443);
  CHECK(std::find_if(https.begin(), https.end(), [](const std::string& l) {
          return l.find("out SYN-ACK 203.0.113.2:443 -> 198.51.100.2:40003") != std::string::npos;
        }) != https.end());
}

TEST_CASE("evidence: lines are labelled in report order and glued only inside") {
  const auto r = sample_report();
  const auto lines = evidence_lines(r, r.ports(2), time_base(r));  // 80: DROPPED_BY_HOST_FIREWALL
  std::vector<std::string> labels;
  for (const auto& l : lines) labels.push_back(l.label);
  CHECK(labels == std::vector<std::string>{"prober", "agent", "agent", "listener", "firewall", "note", "note"});
  CHECK(lines[0].text.find(evidence_glue) != std::string::npos);  // "2000<glue>ms"
  CHECK(unglue(lines[0].text) == "+2.0 ms  198.51.100.2:40002 -> 203.0.113.2:80 timed out after 2000 ms");
  CHECK(ms_text(1.25) == std::string("1.2") + evidence_glue + "ms");
  CHECK(ms_text(2000) == std::string("2000") + evidence_glue + "ms");
}

TEST_CASE("evidence: without an agent there is no claim about listeners or packets") {
  auto r = sample_report();
  r.mutable_agent()->set_status(v1::AgentInfo::UNREACHABLE);
  auto& p = *r.mutable_ports(5);  // 8080
  p.mutable_evidence()->clear_agent_packets();
  p.mutable_evidence()->clear_listeners();
  for (const auto& l : evidence_lines(r, p, time_base(r))) {
    CHECK(l.label != "listener");
    CHECK(l.label != "agent");
  }
}
