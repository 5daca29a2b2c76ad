#include <catch2/catch.hpp>

#include "render/junit.h"

using namespace dropspot;

namespace {

v1::Report sample() {
  v1::Report r;
  r.set_target("www.example.com");
  r.set_address("203.0.113.2");
  r.set_elapsed_ms(1234.5);
  r.set_runs(3);
  r.set_ready_after_ms(2500);
  auto* a = r.mutable_agent();
  a->set_status(v1::AgentInfo::CONNECTED);
  a->set_capture_active(true);
  a->set_hostname("vps1");
  a->set_pcap_file("/var/lib/dropspot/dropspot-1.pcap");
  auto* ok = r.add_ports();
  ok->set_port(80);
  ok->set_probe("http");
  ok->set_verdict(v1::OPEN);
  ok->set_expect("open");
  ok->set_as_expected(true);
  ok->set_decided_ms(12.0);
  auto* bad = r.add_ports();
  bad->set_port(443);
  bad->set_probe("https");
  bad->set_verdict(v1::NO_LISTENER);
  bad->set_summary("nothing listens on 443 <yet> & \"so\"");
  bad->set_expect("open");
  bad->set_as_expected(false);
  bad->add_advice("systemctl status nginx");
  auto* att = bad->mutable_evidence()->add_attempts();
  att->set_outcome(v1::Attempt::REFUSED);
  att->set_local_address("198.51.100.2");
  att->set_local_port(40000);
  att->set_elapsed_ms(1.5);
  auto* pkt = bad->mutable_evidence()->add_agent_packets();
  pkt->set_direction(v1::PacketEvent::INBOUND);
  pkt->set_kind(v1::PacketEvent::SYN);
  pkt->set_src("198.51.100.2");
  pkt->set_src_port(40000);
  pkt->set_dst("203.0.113.2");
  pkt->set_dst_port(443);
  pkt->set_ttl(62);
  r.add_notes("a note");
  return r;
}

std::size_t count(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("junit: xml_escape makes any bytes safe for XML 1.0") {
  CHECK(xml_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&apos;");
  CHECK(xml_escape(std::string("x\0y\x01\x1b[31m", 9)) == "x\\x00y\\x01\\x1b[31m");
  CHECK(xml_escape("caf\xc3\xa9 \xff") == "caf\\xc3\\xa9 \\xff");
  CHECK(xml_escape("a\nb") == "a\\nb");
  CHECK(xml_escape("a\nb", true) == "a\nb");
  CHECK(xml_escape("]]>") == "]]&gt;");
}

TEST_CASE("junit: one testcase per port, a failure for each port not as expected") {
  const auto xml = render_junit(sample());
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 0) == 0);
  CHECK(count(xml, "<testcase ") == 2);
  CHECK(count(xml, "<failure ") == 1);
  CHECK(xml.find("<testsuite name=\"dropspot www.example.com\" tests=\"2\" failures=\"1\" errors=\"0\"") !=
        std::string::npos);
  CHECK(xml.find("<testcase name=\"tcp/80 http\" classname=\"dropspot.www_example_com\" time=\"0.012\"/>") !=
        std::string::npos);
  CHECK(xml.find("name=\"tcp/443 https\"") != std::string::npos);
  CHECK(xml.find("type=\"NO_LISTENER\"") != std::string::npos);
  CHECK(xml.find("expected open, got NO_LISTENER: nothing listens on 443 &lt;yet&gt; &amp; &quot;so&quot;") !=
        std::string::npos);
  // Evidence and advice in the failure's text.
  CHECK(xml.find("198.51.100.2:40000 -&gt; 203.0.113.2:443 refused (reset) after 1.5 ms") != std::string::npos);
  CHECK(xml.find("in  SYN 198.51.100.2:40000 -&gt; 203.0.113.2:443 ttl 62") != std::string::npos);
  CHECK(xml.find("  - systemctl status nginx") != std::string::npos);
  CHECK(xml.find("<property name=\"pcap_file\" value=\"/var/lib/dropspot/dropspot-1.pcap\"/>") != std::string::npos);
  CHECK(xml.find("<property name=\"runs\" value=\"3\"/>") != std::string::npos);
  CHECK(xml.find("<property name=\"ready_after_s\" value=\"2.500\"/>") != std::string::npos);
  CHECK(xml.find("note: a note") != std::string::npos);
}

TEST_CASE("junit: a target that was not tested (its name does not resolve) is one failed case, not an empty file") {
  v1::Report r;
  r.set_target("vps.invalid");
  r.set_error("--target: cannot resolve vps.invalid: Name or service not known");
  const auto xml = render_junit(r);
  CHECK(count(xml, "<testcase ") == 1);
  CHECK(xml.find("<testsuite name=\"dropspot vps.invalid\" tests=\"1\" failures=\"1\"") != std::string::npos);
  CHECK(xml.find("<failure message=\"not tested: --target: cannot resolve vps.invalid: Name or service not known\" "
                 "type=\"NOT_TESTED\">") != std::string::npos);
  CHECK(xml.find("<testcase name=\"agent\"") == std::string::npos);  // the agent was not asked: no second failure
}

TEST_CASE("junit: bytes from the network never break the XML") {
  auto r = sample();
  r.mutable_ports(1)->set_summary("evil </failure><x>\x01\xfe");
  r.mutable_ports(1)->mutable_evidence()->add_notes("banner: \x1b[2J]]>");
  r.mutable_ports(1)->set_probe("h\"t<tp");
  const auto xml = render_junit(r);
  CHECK(xml.find("</failure><x>") == std::string::npos);
  CHECK(xml.find("evil &lt;/failure&gt;&lt;x&gt;\\x01\\xfe") != std::string::npos);
  CHECK(xml.find('\x1b') == std::string::npos);
  CHECK(xml.find("name=\"tcp/443 h&quot;t&lt;tp\"") != std::string::npos);
  for (unsigned char c : xml) CHECK((c == '\n' || (c >= 0x20 && c < 0x7f)));
}

TEST_CASE("junit: an agent that was required but not reached fails its own testcase") {
  auto r = sample();
  r.mutable_ports(1)->set_as_expected(true);
  r.mutable_agent()->set_status(v1::AgentInfo::UNREACHABLE);
  r.mutable_agent()->set_message("connection refused");
  const auto xml = render_junit(r);
  CHECK(count(xml, "<testcase ") == 3);
  CHECK(xml.find("tests=\"3\" failures=\"1\"") != std::string::npos);
  CHECK(xml.find("<failure message=\"agent UNREACHABLE: connection refused\" type=\"UNREACHABLE\">") !=
        std::string::npos);
  r.mutable_agent()->set_status(v1::AgentInfo::DISABLED);
  CHECK(count(render_junit(r), "<failure ") == 0);
}

TEST_CASE("junit: several targets, one testsuite each, the counts summed") {
  v1::Report nowhere;
  nowhere.set_target("vps.invalid");
  nowhere.set_error("cannot resolve");
  auto second = sample();
  second.set_target("db.example.com");
  second.set_elapsed_ms(4000);
  const auto xml = render_junit({sample(), second, nowhere});
  CHECK(count(xml, "<testsuites ") == 1);
  CHECK(count(xml, "<testsuite ") == 3);
  CHECK(count(xml, "</testsuite>") == 3);
  CHECK(xml.find("<testsuites name=\"dropspot\" tests=\"5\" failures=\"3\" errors=\"0\" time=\"4.000\">") !=
        std::string::npos);  // side by side: the longest suite's time
  CHECK(xml.find("<testsuite name=\"dropspot db.example.com\" tests=\"2\" failures=\"1\"") != std::string::npos);
  CHECK(xml.find("classname=\"dropspot.db_example_com\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"dropspot vps.invalid\" tests=\"1\" failures=\"1\"") != std::string::npos);
  // One report alone is the same as a list of one.
  CHECK(render_junit(sample()) == render_junit(std::vector<v1::Report>{sample()}));
}

TEST_CASE("junit: a name tested at two addresses: a suite and a class per address") {
  auto v4 = sample();
  v4.set_address("203.0.113.2");
  auto v6 = sample();
  v6.set_address("2001:db8:2::2");
  const auto xml = render_junit({v4, v6});
  CHECK(count(xml, "<testsuite ") == 2);
  CHECK(xml.find("<testsuite name=\"dropspot " + v4.target() + " 203.0.113.2\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"dropspot " + v6.target() + " 2001:db8:2::2\"") != std::string::npos);
  CHECK(xml.find("_2001_db8_2__2\"") != std::string::npos);
  // One address: the suite is named by the target alone, as before.
  CHECK(render_junit(v4).find("<testsuite name=\"dropspot " + v4.target() + "\"") != std::string::npos);
}
