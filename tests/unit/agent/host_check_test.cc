// The host half of a diagnosis: PortFacts for a peer, `agent check`, the fix
// command for a named rule, and how the verdicts use the rules the agent names.
#include <catch2/catch.hpp>

#include "support/test_files.h"
#include <fstream>
#include <sstream>

#include "agent/host_check.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include "render/report.h"
#include "support/fake_service_manager.h"
#include "common/firewall_rule.h"
#include "common/text.h"
#include "verdict/verdict.h"

using namespace dropspot;
using namespace dropspot::agent;

namespace {

std::string fixture(const std::string& name) { return test::data_file("firewall/" + name); }

host_snapshot host_with(firewall_snapshot live, std::vector<v1::Listener> listeners = {}) {
  host_snapshot h;
  h.live = std::move(live);
  h.listeners = std::move(listeners);
  return h;
}

firewall_snapshot lab_snapshot() {
  firewall_snapshot snap;
  auto nft = parse_nft_json(fixture("nft_lab.json"), fixture("nft_lab.txt"));
  REQUIRE(nft.ok());
  snap.nft = std::move(nft).value();
  auto ipt = parse_iptables_save(fixture("iptables_lab.txt"));
  REQUIRE(ipt.ok());
  snap.iptables_nft_v4 = ipt.value();
  snap.iptables_nft_v6 = ipt.value();  // ip6tables-save prints the same line
  auto legacy = parse_iptables_save(fixture("iptables_legacy_lab.txt"));
  REQUIRE(legacy.ok());
  snap.iptables_legacy_v4 = std::move(legacy).value();
  return snap;
}

v1::Listener listener(std::uint32_t port, const char* address, const char* process) {
  v1::Listener l;
  l.set_port(port);
  l.set_address(address);
  l.set_process(process);
  l.set_pid(99);
  l.set_unit(std::string(process) + ".service");
  return l;
}

/// A SYN that arrived, nothing answered; the prober timed out.
port_input dropped(std::uint32_t port) {
  port_input in;
  in.port = port;
  in.target = "vps.example";
  in.target_address = "203.0.113.2";
  in.agent.set_status(v1::AgentInfo::CONNECTED);
  in.agent.set_capture_active(true);
  in.agent.set_peer_address("198.51.100.2");
  auto& a = in.attempts.emplace_back();
  a.set_outcome(v1::Attempt::TIMED_OUT);
  a.set_local_address("198.51.100.2");
  a.set_local_port(40000);
  a.set_start_unix_us(1'700'000'000'000'000);
  a.set_elapsed_ms(2000);
  auto& p = in.packets.emplace_back();
  p.set_time_unix_us(1'700'000'000'000'500);
  p.set_direction(v1::PacketEvent::INBOUND);
  p.set_kind(v1::PacketEvent::SYN);
  p.set_port(port);
  p.set_src("198.51.100.2");
  p.set_src_port(40000);
  p.set_dst("203.0.113.2");
  p.set_dst_port(port);
  p.set_ttl(62);
  auto& l = in.listeners.emplace_back();
  l.set_port(port);
  l.set_address("0.0.0.0");
  l.set_process("nginx");
  return in;
}

bool any_has(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& part) {
  for (const auto& s : list)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("firewall_fix_command: the command that undoes each kind of named rule") {
  CHECK(firewall_fix_command("table inet filter chain input handle 7: tcp dport 8081 drop", 8081) ==
        "nft delete rule inet filter input handle 7");
  CHECK(firewall_fix_command("table inet filter chain input policy drop", 25) ==
        "nft insert rule inet filter input tcp dport 25 accept");
  CHECK(firewall_fix_command("iptables: -A INPUT -p tcp -m tcp --dport 8082 -j DROP", 8082) ==
        "iptables -D INPUT -p tcp -m tcp --dport 8082 -j DROP");
  CHECK(firewall_fix_command("ip6tables-legacy: chain INPUT policy DROP (:INPUT DROP)", 443) ==
        "ip6tables-legacy -I INPUT -p tcp --dport 443 -j ACCEPT");
  CHECK(firewall_fix_command("something else", 80).empty());
  CHECK(firewall_fix_command("rm -rf /: -A INPUT", 80).empty());
}

TEST_CASE("icmp_too_big_accept_command: an accept first in the chain of the rule that drops the ICMP") {
  CHECK(icmp_too_big_accept_command("table ip filter chain INPUT handle 2: meta l4proto icmp drop", false) ==
        "nft insert rule ip filter INPUT icmp type destination-unreachable icmp code frag-needed accept");
  CHECK(icmp_too_big_accept_command("table inet filter chain input policy drop", true) ==
        "nft insert rule inet filter input icmpv6 type packet-too-big accept");
  CHECK(icmp_too_big_accept_command("iptables: -A INPUT -p icmp -j DROP", false) ==
        "iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT");
  CHECK(icmp_too_big_accept_command("ip6tables-legacy: chain INPUT policy DROP (:INPUT DROP)", true) ==
        "ip6tables-legacy -I INPUT -p ipv6-icmp --icmpv6-type packet-too-big -j ACCEPT");
  CHECK(icmp_too_big_accept_command("ufw default deny incoming", false).empty());
  CHECK(icmp_too_big_accept_command("iptables: chain INPUT", false).empty());
}

TEST_CASE("port_facts and check_ports: a rule that drops the ICMP path-MTU discovery needs") {
  firewall_snapshot snap;
  auto nft = parse_nft_json(fixture("icmp_drop_nft.json"), fixture("icmp_drop_nft.txt"));
  REQUIRE(nft.ok());
  snap.nft = std::move(nft).value();
  auto host = host_with(std::move(snap), {listener(80, "::", "nginx")});
  auto facts = port_facts(host, {}, asio::ip::make_address("198.51.100.2"), {80}, {}, {5353});
  REQUIRE(facts.size() == 2);
  CHECK(facts[0].firewall_size() == 0);  // the SYN passes
  REQUIRE(facts[0].icmp_firewall_size() >= 1);
  CHECK(facts[0].icmp_firewall(0).rfind("table inet dropspot_lab chain input handle 2: icmp type", 0) == 0);
  CHECK(facts[1].icmp_firewall_size() == 0);  // a UDP port: no TCP segments to shrink

  auto checks = check_ports(host, {}, {80});
  REQUIRE(checks.size() == 1);
  CHECK(checks[0].verdict() == v1::OPEN);
  const auto& notes = checks[0].evidence().notes();
  const auto said = [&](const std::string& part) {
    return std::any_of(notes.begin(), notes.end(), [&](const auto& n) { return n.find(part) != std::string::npos; });
  };
  CHECK(said("IPv4: the firewall drops ICMP 'fragmentation needed', which path-MTU discovery needs"));
  CHECK(
      said("allow it: nft insert rule inet dropspot_lab input icmp type destination-unreachable icmp code "
           "frag-needed accept"));
  CHECK(said("IPv6: the firewall drops ICMPv6 'packet too big'"));
  // The lab's usual ruleset drops no ICMP: nothing said.
  auto plain = check_ports(host_with(lab_snapshot(), {listener(22, "::", "sshd")}), {}, {22});
  for (const auto& n : plain[0].evidence().notes()) CHECK(n.find("path-MTU") == std::string::npos);
}

TEST_CASE("port_facts: rules per port for the peer, v4-mapped peers as IPv4") {
  auto host = host_with(lab_snapshot());
  auto facts = port_facts(host, {}, asio::ip::make_address("::ffff:198.51.100.2"), {22, 8081, 8082, 8083});
  REQUIRE(facts.size() == 4);
  CHECK(facts[0].port() == 22);
  CHECK(facts[0].firewall_size() == 0);
  CHECK(facts[0].firewall_inspected());
  REQUIRE(facts[1].firewall_size() == 1);
  CHECK(facts[1].firewall(0) ==
        "table inet dropspot_lab chain input handle 2: tcp dport 8081 drop comment \"host-drop 8081\"");
  REQUIRE(facts[2].firewall_size() == 2);
  CHECK(facts[2].firewall(1) ==
        "iptables: -A INPUT -p tcp -m tcp --dport 8082 -m comment --comment dropspot_lab -j DROP");
  REQUIRE(facts[3].firewall_size() == 1);
  CHECK(facts[3].firewall(0).rfind("iptables-legacy: -A INPUT", 0) == 0);
  // nothing readable: not inspected, so the verdict will not claim "no rule"
  auto none = port_facts(host_snapshot{}, {}, asio::ip::make_address("198.51.100.2"), {80});
  CHECK_FALSE(none[0].firewall_inspected());
}

namespace {

/// agent check's text says everything its report holds: each port's verdict
/// and summary, every listener, rule, saved-rules line, service fact, note
/// and command (escaped as render/ escapes them) -- what the old renderer
/// of its own printed.
void says_everything(const v1::Report& report, const std::string& text) {
  const auto has = [&](const std::string& what) {
    INFO("missing: " << what);
    CHECK(text.find(escape(what)) != std::string::npos);
  };
  for (const auto& p : report.ports()) {
    const auto row = text.find("\n" + std::to_string(p.port()) + " ");
    REQUIRE(row != std::string::npos);
    CHECK(text.substr(row, text.find('\n', row + 1) - row).find(v1::Verdict_Name(p.verdict())) != std::string::npos);
    if (p.verdict() != v1::OPEN || p.advice_size() > 0) has(p.summary());
    const auto& ev = p.evidence();
    if (p.verdict() == v1::OPEN && p.advice_size() == 0) continue;  // the table's line says it all
    for (const auto& l : ev.listeners()) has(l.address() + ":" + std::to_string(l.port()) + " " + l.process());
    for (const auto& f : ev.firewall()) has(f);
    for (const auto& f : ev.saved_rules()) has(f);
    for (const auto& f : ev.services()) has(f);
    for (const auto& n : ev.notes()) has(n);
    for (const auto& a : p.advice()) has(a);
  }
}

}  // namespace

TEST_CASE("check_ports: firewall, listeners, loopback, nothing") {
  std::vector<v1::Listener> listeners = {listener(22, "::", "sshd"), listener(8081, "0.0.0.0", "nginx"),
                                         listener(8084, "127.0.0.1", "app")};
  auto host = host_with(lab_snapshot(), listeners);
  auto checks = check_ports(host, {}, {22, 8081, 8082, 8084, 8090});
  REQUIRE(checks.size() == 5);
  CHECK(checks[0].verdict() == v1::OPEN);
  CHECK(checks[0].evidence().firewall().empty());
  CHECK(checks[1].verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(checks[1].evidence().firewall(0) ==
        "IPv4: table inet dropspot_lab chain input handle 2: tcp dport 8081 drop comment \"host-drop 8081\"");
  CHECK(checks[1].evidence().firewall(1).rfind("IPv6: table inet dropspot_lab", 0) == 0);
  CHECK(checks[1].advice(0) == "nft delete rule inet dropspot_lab input handle 2");
  CHECK(checks[1].summary().find("drops SYNs to port 8081: table inet dropspot_lab") != std::string::npos);
  CHECK(checks[2].verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(std::find(checks[2].advice().begin(), checks[2].advice().end(),
                  "iptables -D INPUT -p tcp -m tcp --dport 8082 -m comment --comment dropspot_lab -j DROP") !=
        checks[2].advice().end());
  CHECK(checks[3].verdict() == v1::LISTENER_WRONG_ADDRESS);
  CHECK(checks[3].summary() == "app listens on port 8084 only on 127.0.0.1: unreachable from other hosts");
  CHECK(checks[4].verdict() == v1::NO_LISTENER);

  const auto report = check_report(checks, "vps1");
  auto json = render_json(report);
  CHECK(json.find("\"verdict\": \"DROPPED_BY_HOST_FIREWALL\"") != std::string::npos);
  CHECK(json.find("\"process\": \"app\"") != std::string::npos);
  CHECK(json.find("\"IPv4: table inet dropspot_lab chain input handle 2: tcp dport 8081 drop comment \\\"host-drop "
                  "8081\\\"\"") != std::string::npos);
  auto text = render_text(report, text_style{false, 400});
  CHECK(text.find("\n8081  tcp    DROPPED_BY_HOST_FIREWALL  ") != std::string::npos);
  CHECK(text.find("    - nft delete rule inet dropspot_lab input handle 2\n") != std::string::npos);
  says_everything(report, text);

  auto unread = check_ports(host_with(firewall_snapshot{}, listeners), {}, {22});
  CHECK(unread[0].verdict() == v1::OPEN);
  CHECK(unread[0].evidence().notes(0).find("no ruleset could be read") != std::string::npos);
}

TEST_CASE("verdict: the rule the agent names, its fix, and 'no rule explains it'") {
  auto in = dropped(8081);
  in.firewall = {"table inet filter chain input handle 7: tcp dport 8081 drop"};
  in.firewall_inspected = true;
  auto r = decide_port(in);
  CHECK(r.verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(r.summary() ==
        "SYNs arrive, nothing answers: the server's firewall drops them: table inet filter chain "
        "input handle 7: tcp dport 8081 drop");
  REQUIRE(r.evidence().firewall_size() == 1);
  CHECK(any_has(r.advice(), "nft delete rule inet filter input handle 7"));

  auto none = dropped(8081);
  none.firewall_inspected = true;
  auto n = decide_port(none);
  CHECK(n.verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(n.summary() == "SYNs arrive, nothing answers, and no firewall rule explains it");
  CHECK(any_has(n.evidence().notes(), "no rule drops port 8081"));

  auto unknown = dropped(8081);  // an agent that could not read the rules claims nothing
  auto u = decide_port(unknown);
  CHECK(u.summary() == "SYNs arrive, nothing answers: a firewall rule on the server drops them");
}

TEST_CASE("verdict: the agent's commands for the host, each once, without every other manager's") {
  auto in = dropped(8081);
  in.firewall = {"table inet filter chain input handle 7: tcp dport 8081 drop"};
  in.firewall_inspected = true;
  in.host_advice = {"nft delete rule inet filter input handle 7", "ufw allow 8081/tcp"};
  auto r = decide_port(in);
  std::vector<std::string> advice(r.advice().begin(), r.advice().end());
  CHECK(std::count_if(advice.begin(), advice.end(), [](const std::string& a) {
          return a.find("nft delete rule inet filter input handle 7") != std::string::npos;
        }) == 1);
  CHECK(advice.front() == "nft delete rule inet filter input handle 7");
  CHECK_FALSE(any_has(r.advice(), "firewall-cmd"));             // a ufw host: no firewalld commands
  CHECK_FALSE(any_has(r.advice(), "list the server's rules"));  // the agent listed them: the rule is named

  auto blind = dropped(8081);  // no agent facts: the generic commands for every manager
  auto b = decide_port(blind);
  CHECK(any_has(b.advice(), "firewall-cmd"));
  CHECK(any_has(b.advice(), "list the server's rules"));
}

namespace {

using test::data_file;

/// A Debian host whose live nft rules were changed by hand (tests/data/firewall/nft_live_changed.*)
/// with its saved /etc/nftables.conf, configuration files and a fake systemd.
host_snapshot debian_host(std::vector<v1::Listener> listeners) {
  const std::string root = std::string(DROPSPOT_TEST_DATA) + "/host/debian";
  host_snapshot h;
  auto nft = parse_nft_json(data_file("firewall/nft_live_changed.json"), data_file("firewall/nft_live_changed.txt"));
  REQUIRE(nft);
  h.live.nft = std::move(nft).value();
  h.saved = saved_rules_from(data_file("firewall/nft_saved.json"), data_file("firewall/nft_saved.txt"), "", "",
                             {"/etc/nftables.conf"});
  h.system = detect_system(root);
  h.listeners = std::move(listeners);
  h.configs = read_daemon_configs(root);
  h.installed = installed_daemons(root);
  return h;
}

v1::Listener owned(std::uint32_t port, const char* process, std::uint32_t pid, const char* unit = "") {
  v1::Listener l;
  l.set_port(port);
  l.set_address("0.0.0.0");
  l.set_process(process);
  l.set_pid(pid);
  l.set_unit(unit);
  return l;
}

}  // namespace

TEST_CASE("port_facts: interface of the SYN, saved-rules warnings, services and advice") {
  auto host = debian_host({owned(2222, "sshd", 812, "ssh.service"), owned(8080, "python3", 1000)});
  fake_service_manager sd;
  const auto ssh = unit("ssh.service", "active", "running", "enabled");
  sd.units["ssh.service"] = ssh;
  sd.units["sshd.service"] = ssh;
  const std::vector<std::uint16_t> ports{22, 443, 3306, 8080};
  auto services = find_services(host, ports, sd);
  auto facts =
      port_facts(host, services, asio::ip::make_address("203.0.113.5"), ports, {{3306, "eth1"}, {443, "eth0"}});
  REQUIRE(facts.size() == 4);
  // 22: the policy drops it (no saved difference); sshd moved to 2222
  CHECK(facts[0].firewall_size() == 0);
  CHECK(any_has(facts[0].services(), "sshd (pid 812) listens on port 2222, not 22"));
  CHECK(any_has(facts[0].services(), "/etc/ssh/sshd_config:6: Port 2222 (sshd)"));
  CHECK(any_has(facts[0].advice(), "connect to port 2222"));
  // 443: blocked by a rule added by hand; the saved rules allow it
  CHECK(facts[1].in_interface() == "eth0");
  REQUIRE(facts[1].firewall_size() == 1);
  CHECK(facts[1].saved_rules(0) ==
        "blocked now, but the saved rules (/etc/nftables.conf) allow port 443: someone changed the live rules "
        "(table inet filter chain input handle 4: tcp dport 443 drop comment \"added by hand\")");
  CHECK(any_has(facts[1].advice(), "nft delete rule inet filter input handle 4"));
  // 3306 on eth1: the iifname rule accepts, exactly (no "may match" note)
  CHECK(facts[2].in_interface() == "eth1");
  CHECK(facts[2].firewall_size() == 0);
  CHECK_FALSE(any_has(facts[2].notes(), "interface"));
  // 8080: allowed by a runtime rule that is not saved
  CHECK(facts[3].saved_rules(0).rfind("allowed now, not saved: gone after reboot", 0) == 0);
  CHECK(any_has(facts[3].advice(), "nft list ruleset > /etc/nftables.conf"));
}

TEST_CASE("check_ports: a moved sshd, a runtime-only rule, rendered as text and JSON") {
  auto host = debian_host({owned(2222, "sshd", 812), owned(8080, "python3", 1000)});
  fake_service_manager sd;
  sd.unavailable_reason = "systemd not running: unit state unknown";
  const std::vector<std::uint16_t> ports{22, 443, 8080};
  auto checks = check_ports(host, find_services(host, ports, sd), ports);
  REQUIRE(checks.size() == 3);
  CHECK(checks[0].verdict() == v1::NO_LISTENER);
  CHECK(checks[0].summary() == "nothing listens on port 22: sshd listens on port 2222 instead");
  CHECK(checks[0].evidence().notes(checks[0].evidence().notes_size() - 1) ==
        "services: systemd not running: unit state unknown");
  CHECK(checks[1].verdict() == v1::DROPPED_BY_HOST_FIREWALL);
  CHECK(checks[1].evidence().saved_rules(0).rfind(
            "IPv4: blocked now, but the saved rules (/etc/nftables.conf) allow port 443", 0) == 0);
  CHECK(checks[2].verdict() == v1::OPEN);
  CHECK(checks[2].evidence().saved_rules(0).rfind("IPv4: allowed now, not saved: gone after reboot", 0) == 0);
  CHECK(std::find(checks[2].advice().begin(), checks[2].advice().end(), "nft list ruleset > /etc/nftables.conf") !=
        checks[2].advice().end());
  const auto report = check_report(checks, "vps1");
  auto text = render_text(report, text_style{false, 400});
  CHECK(text.find("  service    sshd (pid 812) listens on port 2222, not 22\n") != std::string::npos);
  CHECK(text.find("  saved      IPv4: allowed now, not saved") != std::string::npos);
  says_everything(report, text);
  auto json = render_json(report);
  CHECK(json.find("\"services\": [") != std::string::npos);
  CHECK(json.find("\"savedRules\": [") != std::string::npos);
  // The JSON is the report message: it parses back into one, losslessly.
  v1::Report back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(back, report));
}

TEST_CASE("host check: the sources that could not be read, for the agent's --metrics") {
  host_snapshot h;
  CHECK(inspection_errors(h).empty());
  h.live.notes = {"nftables not read (nft: not found)", "iptables-save: line 3: no table",
                  "ip6tables-legacy rules not read (ip6tables-legacy-save failed)"};
  h.saved.notes = {"saved nft rules: not JSON"};
  h.firewalld = firewalld_config{};
  h.firewalld->unreadable = "/etc/firewalld: permission denied";
  CHECK(inspection_errors(h) ==
        std::vector<std::string>{"nftables", "iptables", "iptables-legacy", "firewalld", "saved-rules"});
}
