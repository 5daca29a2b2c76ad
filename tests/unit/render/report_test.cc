#include "render/report.h"
#include "render/json.h"
#include "render/commands.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>

#include "support/test_files.h"
#include <algorithm>
#include <sstream>

#include "support/sample_report.h"
#include "verdict/verdict.h"

using namespace dropspot;
using namespace dropspot::sample;

namespace {

/// A line longer than the width is allowed only for a command, which is never
/// broken: the line is an advice item (or its continuation) holding one
/// command, starting with a command word.
bool command_line(const std::string& line) {
  std::string_view t(line);
  t.remove_prefix(std::min(t.size(), t.find_first_not_of(' ')));
  if (t.substr(0, 2) == "- ") t.remove_prefix(2);
  return dropspot::is_command_word(t.substr(0, t.find(' ')));
}

using test::lines_of;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The block of details for one port ("port N (...): VERDICT" up to the next blank line).
std::string details_of(const std::string& text, std::uint32_t port) {
  const auto start = text.find("\nport " + std::to_string(port) + " (");
  if (start == std::string::npos) return "";
  const auto end = text.find("\n\n", start + 1);
  return text.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
}

}  // namespace

TEST_CASE("report text: the sample's verdicts are what the engine decides") {
  const auto r = sample_report();
  REQUIRE(r.ports_size() == 6);
  CHECK(r.ports(0).verdict() == v1::OPEN);
  CHECK(r.ports(1).verdict() == v1::DROPPED_IN_TRANSIT);
  CHECK(r.ports(2).verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(r.ports(3).verdict() == v1::REPLY_LOST);
  CHECK(r.ports(4).verdict() == v1::LISTENER_WRONG_ADDRESS);
  CHECK(r.ports(5).verdict() == v1::NO_LISTENER);
}

TEST_CASE("report text: table layout at 80 columns, evidence for ports that are not OPEN") {
  const auto r = sample_report();
  const auto text = render_text(r, text_style{false, 80});
  INFO(text);
  for (const auto& line : lines_of(text)) {
    INFO("line: " << line);
    CHECK((line.size() <= 80 || command_line(line)));
    CHECK(line.find('\x1b') == std::string::npos);
  }
  // Header.
  CHECK(has(text, "dropspot: vps.example (203.0.113.2)"));
  CHECK(has(text, "agent: CONNECTED at 203.0.113.2:7411 via tls, host vps1"));
  CHECK(has(text, "round trip 0.42 ms; the agent sees us as 198.51.100.2; capture running on eth0"));
  // Table: a header and one line per port, verdict names aligned in one column.
  const auto lines = lines_of(text);
  auto head = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("PORT", 0) == 0; });
  REQUIRE(head != lines.end());
  const auto verdict_col = head->find("VERDICT");
  const auto summary_col = head->find("SUMMARY");
  REQUIRE(verdict_col != std::string::npos);
  const char* expected[] = {"OPEN",       "DROPPED_IN_TRANSIT",     "DROPPED_BY_HOST_FIREWALL",
                            "REPLY_LOST", "LISTENER_WRONG_ADDRESS", "NO_LISTENER"};
  const char* ports[] = {"22", "25", "80", "443", "3306", "8080"};
  for (int i = 0; i < 6; ++i) {
    const auto& row = *(head + 1 + i);
    INFO("row: " << row);
    CHECK(row.rfind(ports[i], 0) == 0);
    CHECK(row.compare(verdict_col, std::strlen(expected[i]), expected[i]) == 0);
    CHECK(row.size() > summary_col);
  }
  // A long summary is cut with an ellipsis to fit.
  CHECK(has(*(head + 3), "..."));
  // Evidence only for ports that are not OPEN.
  CHECK(details_of(text, 22).empty());
  for (std::uint32_t p : {25u, 80u, 443u, 3306u, 8080u}) {
    INFO("port " << p);
    CHECK_FALSE(details_of(text, p).empty());
    CHECK(has(details_of(text, p), "next steps:"));
  }
  // What the evidence says, read from a render wide enough not to wrap it.
  const auto wide = render_text(r, text_style{false, 200});
  const auto d80 = details_of(wide, 80);
  CHECK(has(d80, "port 80 (http): DROPPED_BY_HOST_FIREWALL"));
  CHECK(has(d80, "prober     +2.0 ms  198.51.100.2:40002 -> 203.0.113.2:80 timed out after 2000 ms"));
  CHECK(has(d80, "agent      +2.5 ms  in  SYN 198.51.100.2:40002 -> 203.0.113.2:80 ttl 61"));
  CHECK(has(d80, "[mss 1460,sackOK,wscale 7]"));
  CHECK(has(d80, "+1002 ms"));
  CHECK(has(d80, "listener   0.0.0.0:80 nginx pid 812 unit nginx.service"));
  CHECK(has(d80, "firewall   inet filter input tcp dport 80 drop"));
  CHECK(has(d80, "nft list ruleset"));
  CHECK(has(details_of(wide, 25), "hop        last hop that forwarded the SYN: 1 (198.51.100.1) of 3"));
  CHECK(has(details_of(wide, 25), "OP25B"));
  CHECK(has(details_of(wide, 443), "out SYN-ACK 203.0.113.2:443 -> 198.51.100.2:40003"));
  CHECK(has(details_of(wide, 3306), "127.0.0.1:3306 mariadbd"));
  CHECK(has(details_of(wide, 3306), "bind-address = 0.0.0.0"));
  CHECK(has(details_of(wide, 8080), "listener   none on port 8080"));
  // Cross-port notes at the end.
  CHECK(has(text, "\nnotes:\n"));
  CHECK(has(text, "test 587 and 465 too"));
  CHECK(has(text, "done in 2.35 s"));
}

TEST_CASE("report text: the agent's host names its distribution before the agent's version") {
  auto r = sample_report();
  r.mutable_agent()->set_os("Debian GNU/Linux 11 (bullseye)");
  const auto text = render_text(r, text_style{false, 120});
  INFO(text);
  CHECK(has(text, "host vps1 (Debian GNU/Linux 11 (bullseye), dropspot-agent 0.1.0)"));
  r.mutable_agent()->clear_software();
  CHECK(has(render_text(r, text_style{false, 120}), "host vps1 (Debian GNU/Linux 11 (bullseye))"));
  r.mutable_agent()->clear_os();
  CHECK_FALSE(has(render_text(r, text_style{false, 120}), "host vps1 ("));
}

TEST_CASE("report text: other widths hold too") {
  const auto r = sample_report();
  for (int width : {40, 60, 100, 132}) {
    const auto text = render_text(r, text_style{false, width});
    for (const auto& line : lines_of(text)) {
      INFO("width " << width << " line: " << line);
      CHECK((line.size() <= static_cast<std::size_t>(width) || command_line(line)));
    }
  }
  // Wider: the summaries need no ellipsis.
  const auto wide = render_text(r, text_style{false, 200});
  CHECK(has(wide,
            "SYNs arrive, nothing answers: the server's firewall drops them: inet filter input tcp dport 80 drop\n"));
}

TEST_CASE("report text: a command in the advice is never broken across lines, at any width") {
  const auto r = sample_report();
  for (int width : {40, 60, 80, 132}) {
    const auto text = render_text(r, text_style{false, width});
    const auto lines = lines_of(text);
    for (const auto& p : r.ports())
      for (const auto& a : p.advice()) {
        // Each command of the advice (its glued stretch) is whole on one line.
        const auto glued = glue_commands(a, '\x1f');
        std::size_t at = 0;
        while ((at = glued.find('\x1f', at)) != std::string::npos) {
          auto begin = glued.rfind(' ', at);
          begin = begin == std::string::npos ? 0 : begin + 1;
          auto end = glued.find(' ', at);
          if (end == std::string::npos) end = glued.size();
          std::string command = glued.substr(begin, end - begin);
          std::replace(command.begin(), command.end(), '\x1f', ' ');
          INFO("width " << width << ": " << command);
          CHECK(std::any_of(lines.begin(), lines.end(),
                            [&](const std::string& l) { return l.find(command) != std::string::npos; }));
          at = end;
        }
      }
  }
}

TEST_CASE("advice: which stretches are commands") {
  const char g = '\x1f';
  auto glued = [&](std::string_view s) {
    auto out = glue_commands(s, g);
    std::replace(out.begin(), out.end(), g, '_');
    return out;
  };
  CHECK(glued("check what listens: ss -tlnp 'sport = :81' (all listeners: ss -tulnp state listening)") ==
        "check what listens: ss_-tlnp_'sport_=_:81' (all listeners: ss_-tulnp_state_listening)");
  CHECK(glued("check the server's firewall (nft list ruleset; iptables -S) for TCP 80") ==
        "check the server's firewall (nft_list_ruleset;_iptables_-S) for TCP 80");
  CHECK(glued("systemctl restart mariadb.service; check: ss -tlnp 'sport = :3306'") ==
        "systemctl_restart_mariadb.service; check: ss_-tlnp_'sport_=_:3306'");
  CHECK(glued("ufw allow 80/tcp") == "ufw_allow_80/tcp");
  CHECK(glued("firewall-cmd --runtime-to-permanent, or add --permanent") ==
        "firewall-cmd_--runtime-to-permanent, or add --permanent");
  CHECK(glued("the service did not answer as expected: check its logs") ==
        "the service did not answer as expected: check its logs");
  CHECK(is_command_word("systemctl"));
  CHECK_FALSE(is_command_word("check"));
}

TEST_CASE("report text: advice that several ports share is said once, after them") {
  v1::Report r;
  r.set_target("vps.example");
  r.mutable_agent()->set_status(v1::AgentInfo::DISABLED);
  for (std::uint32_t port : {80u, 443u, 8080u}) {
    auto* p = r.add_ports();
    p->set_port(port);
    p->set_verdict(v1::FILTERED);
    p->set_summary("no answer");
    p->add_advice("check the provider's filter (nft list ruleset; iptables -S) for TCP " + std::to_string(port));
    p->add_advice("from a Windows client: Test-NetConnection vps.example -Port " + std::to_string(port));
    p->add_advice("run the agent on the server to localise the drop");
  }
  const auto text = render_text(r, text_style{false, 80});
  INFO(text);
  std::size_t n = 0;
  for (std::size_t at = 0; (at = text.find("run the agent on the server", at)) != std::string::npos; ++at) ++n;
  CHECK(n == 1);
  CHECK(has(text, "next steps for ports 80, 443 and 8080:\n    - run the agent on the server to localise the drop"));
  CHECK(has(text, "    - and those shared with ports 443 and 8080, below"));
  CHECK(has(text, "Test-NetConnection vps.example -Port 8080"));  // per port: said under its port
}

TEST_CASE("report text: -q says only the ports not as expected; -v the evidence of OPEN ports too") {
  auto r = sample_report();
  for (auto& p : *r.mutable_ports()) {
    p.set_expect("open");
    p.set_as_expected(p.verdict() == v1::OPEN);
  }
  text_style quiet{false, 80, verbosity::quiet};
  const auto q = render_text(r, quiet);
  INFO(q);
  CHECK_FALSE(has(q, "agent: CONNECTED"));
  CHECK_FALSE(has(q, "PORT  PROBE"));
  CHECK_FALSE(has(q, "port 22 (ssh)"));
  CHECK(q.rfind("port 25 (smtp): DROPPED_IN_TRANSIT", 0) == 0);
  CHECK(has(q, "\nnot as expected: 25 (expected open, got DROPPED_IN_TRANSIT)"));
  CHECK_FALSE(has(q, "done in"));
  for (auto& p : *r.mutable_ports()) p.set_as_expected(true);
  CHECK(render_text(r, quiet) == "every port as expected\n");

  text_style verbose{false, 80, verbosity::verbose};
  const auto v = render_text(r, verbose);
  CHECK(has(v, "port 22 (ssh): OPEN"));
  CHECK_FALSE(has(render_text(r, text_style{false, 80}), "port 22 (ssh): OPEN"));
}

TEST_CASE("report text: colour only when asked") {
  const auto r = sample_report();
  const auto text = render_text(r, text_style{true, 80});
  CHECK(has(text, "\x1b[32mOPEN\x1b[0m"));
  CHECK(has(text, "\x1b[31mDROPPED_BY_HOST_FIREWALL\x1b[0m"));
  CHECK(has(text, "\x1b[31mREPLY_LOST\x1b[0m"));
  CHECK(has(text, "\x1b[33mNO_LISTENER\x1b[0m"));
  CHECK(has(text, "\x1b[32mCONNECTED\x1b[0m"));
  // The columns stay aligned: without the escape codes, the text is the plain one.
  std::string stripped;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      i = text.find('m', i);
      continue;
    }
    stripped += text[i];
  }
  CHECK(stripped == render_text(r, text_style{false, 80}));
}

TEST_CASE("report text: whatever came from the network is escaped") {
  auto r = sample_report();
  r.mutable_agent()->set_hostname("evil\x1b[2Jhost");
  auto* p = r.mutable_ports(5);
  p->set_summary("line one\nline two \x1b[31m");
  p->mutable_evidence()->mutable_listeners()->Add()->set_process("bad\rname");
  p->mutable_evidence()->add_notes("note with \x07 bell");
  const auto text = render_text(r, text_style{false, 80});
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x07') == std::string::npos);
  CHECK(has(text, "evil\\x1b[2Jhost"));
  CHECK(has(text, "line one\\nline two \\x1b[31m"));
  CHECK(has(text, "bad\\rname"));
}

TEST_CASE("report text: without the agent") {
  v1::Report r;
  r.set_target("vps.example");
  r.set_address(server);
  r.mutable_agent()->set_status(v1::AgentInfo::UNREACHABLE);
  r.mutable_agent()->set_message("no agent answered");
  r.mutable_agent()->add_tried("203.0.113.2:7411: connection timed out");
  auto in = base_input(80, "tcp", r.agent());
  add_attempt(in, v1::Attempt::TIMED_OUT, 40000, 0, 2000);
  *r.add_ports() = decide_port(in);
  const auto text = render_text(r, text_style{false, 80});
  INFO(text);
  CHECK(has(text, "agent: UNREACHABLE - no agent answered"));
  CHECK(has(text, "tried 203.0.113.2:7411: connection timed out"));
  CHECK(has(text, "client-side view only"));
  CHECK(has(text, "FILTERED"));
  CHECK(has(text, "cannot be localised"));
  CHECK_FALSE(has(text, "listener   none"));  // the agent said nothing about listeners
}

TEST_CASE("report text: ports not as expected are listed") {
  auto r = sample_report();
  apply_expectation(*r.mutable_ports(0), "open");
  apply_expectation(*r.mutable_ports(1), "blocked");
  apply_expectation(*r.mutable_ports(5), "open");
  const auto text = render_text(r, text_style{false, 80});
  CHECK(has(text, "not as expected: 8080 (expected open, got NO_LISTENER)"));
  CHECK_FALSE(has(text, "not as expected: 22"));
  CHECK(has(details_of(text, 25), "expected   blocked (as expected)"));
}

TEST_CASE("report JSON: rendered port by port, the same text as in one piece") {
  for (int ports : {0, 1, 6, 150}) {  // 150: rendered in several chunks
    auto r = sample_report();
    const auto sample = r.ports();
    for (int i = 0; r.ports_size() < ports; ++i) *r.add_ports() = sample[i % sample.size()];
    while (r.ports_size() > ports) r.mutable_ports()->RemoveLast();
    std::string whole;
    append_json(whole, r);
    CHECK(render_json(r) == whole + "\n");
  }
}

TEST_CASE("report JSON: parses back with the same verdicts, in the DESIGN.md shape") {
  const auto r = sample_report();
  const auto json = render_json(r);
  v1::Report back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  REQUIRE(back.ports_size() == r.ports_size());
  for (int i = 0; i < r.ports_size(); ++i) {
    CHECK(back.ports(i).port() == r.ports(i).port());
    CHECK(back.ports(i).verdict() == r.ports(i).verdict());
    CHECK(back.ports(i).summary() == r.ports(i).summary());
    CHECK(back.ports(i).advice_size() == r.ports(i).advice_size());
  }
  CHECK(back.agent().status() == v1::AgentInfo::CONNECTED);
  std::string compact;
  for (char c : json)
    if (c != ' ' && c != '\n') compact += c;
  CHECK(has(compact, "\"target\":\"vps.example\""));
  CHECK(has(compact, "\"agent\":{\"status\":\"CONNECTED\""));
  CHECK(has(compact, "\"ports\":[{\"port\":22,\"verdict\":\"OPEN\",\"summary\":"));
  CHECK(has(compact, "\"verdict\":\"DROPPED_IN_TRANSIT\""));
  CHECK(has(compact, "\"evidence\":{\"attempts\":[{\"outcome\":\"TIMED_OUT\""));
  CHECK(has(compact, "\"advice\":["));
  // Fields at their default are left out (no expectation was given); lists stay.
  CHECK_FALSE(has(compact, "\"expect\":"));
  CHECK_FALSE(has(compact, "\"asExpected\":"));
  CHECK(has(compact, "\"notes\":["));
}

TEST_CASE("report JSON: several targets as {\"targets\": [...]}, each report whole") {
  auto a = sample_report();
  auto b = sample_report();
  b.set_target("db.example");
  std::ostringstream out;
  write_json(out, std::vector<v1::Report>{a, b});
  // Parsed back as a message holding the reports (the shape of a list of Report).
  google::protobuf::Struct parsed;
  REQUIRE(google::protobuf::util::JsonStringToMessage(out.str(), &parsed).ok());
  const auto& targets = parsed.fields().at("targets").list_value();
  REQUIRE(targets.values_size() == 2);
  for (int i = 0; i < 2; ++i) {
    v1::Report back;
    std::string one;
    REQUIRE(google::protobuf::util::MessageToJsonString(targets.values(i), &one).ok());
    REQUIRE(google::protobuf::util::JsonStringToMessage(one, &back).ok());
    CHECK(back.target() == (i == 0 ? "vps.example" : "db.example"));
    CHECK(back.ports_size() == a.ports_size());
  }
}

TEST_CASE("report text: the fleet's closing table, a line per target") {
  auto good = sample_report();
  for (auto& p : *good.mutable_ports()) apply_expectation(p, expectation_class(p.verdict()));
  good.set_ok(true);
  auto bad = sample_report();
  bad.set_target("db.example");
  for (auto& p : *bad.mutable_ports()) apply_expectation(p, "open");
  bad.set_ok(false);
  v1::Report nowhere;
  nowhere.set_target("nowhere.invalid");
  nowhere.set_error("--target: cannot resolve nowhere.invalid: Name or service not known");
  auto lost_agent = good;
  lost_agent.set_target("web.example");
  lost_agent.mutable_agent()->set_status(v1::AgentInfo::UNREACHABLE);
  lost_agent.set_ok(false);
  const auto text = render_fleet_summary({good, bad, nowhere, lost_agent}, text_style{false, 80});
  const auto lines = lines_of(text);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0] == "4 targets, 1 as expected");
  CHECK(lines[1] == "  target           agent        ports  not as expected");
  CHECK(lines[2] == "  vps.example      connected    6/6    -");
  CHECK(lines[3] == "  db.example       connected    1/6    25 DROPPED_IN_TRANSIT, 80 DROPPED_BY_H...");
  CHECK(lines[4] == "  nowhere.invalid  -            -      not tested: cannot resolve nowhere.inv...");
  CHECK(lines[5] == "  web.example      unreachable  6/6    every port; the agent not used");
  for (const auto& line : lines) CHECK(line.size() <= 80);
  CHECK(has(render_fleet_summary({good}, text_style{true, 80}), "\x1b[32m-"));  // green when as expected
}
TEST_CASE("report text: a name's addresses, a line each, and where they disagree") {
  auto v4 = sample_report();
  v4.set_address("203.0.113.2");
  v4.set_ok(false);
  auto v6 = v4;
  v6.set_address("2001:db8:2::2");
  const std::string note = "port 80 works over IPv4 (203.0.113.2) and is dropped in transit over IPv6 (2001:db8:2::2)";
  v4.add_address_notes(note);
  v6.add_address_notes(note);
  const auto lines = lines_of(render_fleet_summary({v4, v6}, text_style{false, 100}));
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] == "2 addresses of vps.example, 0 as expected");
  CHECK(lines[2].rfind("  vps.example 203.0.113.2    connected", 0) == 0);
  CHECK(lines[3].rfind("  vps.example 2001:db8:2::2  connected", 0) == 0);
  CHECK(lines[5] == "the addresses disagree:");
  CHECK(lines[6] == "  - " + note);  // once, not once per address
  auto other = v4;
  other.set_target("db.example");
  other.clear_address_notes();
  CHECK(lines_of(render_fleet_summary({v4, v6, other}, text_style{false, 100}))[0] ==
        "3 addresses of 2 targets, 0 as expected");
}
