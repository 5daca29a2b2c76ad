// Host firewall attribution: nft JSON and iptables-save rulesets captured in lab
// namespaces (tests/data/firewall), evaluated for a TCP SYN.
#include <catch2/catch.hpp>

#include "support/test_files.h"
#include <fstream>
#include <sstream>

#include "agent/firewall/firewall.h"
#include "agent/run_program.h"
#include "common/firewall_rule.h"

using namespace dropspot;
using namespace dropspot::agent;
using namespace std::chrono_literals;

namespace {

std::string fixture(const std::string& name) { return test::data_file("firewall/" + name); }

nft_ruleset nft_fixture(const std::string& base, bool with_text = true) {
  auto parsed = parse_nft_json(fixture(base + ".json"), with_text ? fixture(base + ".txt") : std::string());
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

ipt_ruleset ipt_fixture(const std::string& name) {
  auto parsed = parse_iptables_save(fixture(name));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

syn_packet v4(const char* src, std::uint16_t port, const char* iface = "eth0") {
  syn_packet p;
  p.source = asio::ip::make_address(src);
  p.destination = asio::ip::make_address("203.0.113.2");
  p.port = port;
  p.in_interface = iface;
  return p;
}

syn_packet v6(const char* src, std::uint16_t port) {
  syn_packet p;
  p.v6 = true;
  p.source = asio::ip::make_address(src);
  p.destination = asio::ip::make_address("2001:db8:2::2");
  p.port = port;
  p.in_interface = "eth0";
  return p;
}

bool has_note(const fw_finding& f, const std::string& part) {
  for (const auto& n : f.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("nft handles: rule texts of nft -a list ruleset by family, table, chain, handle") {
  auto h = parse_nft_handles(fixture("nft_lab.txt"));
  CHECK(h.at("inet dropspot_lab input 2") == "tcp dport 8081 drop comment \"host-drop 8081\"");
  // iptables-nft leaves two spaces where an xt match hides: collapsed
  CHECK(h.at("ip filter INPUT 2") == "tcp dport 8082 counter packets 0 bytes 0 drop");
  CHECK(h.count("inet dropspot_lab input 1") == 0);  // the chain's own handle is not a rule
}

TEST_CASE("nft JSON: malformed input is an error") {
  CHECK_FALSE(parse_nft_json("{").ok());
  CHECK_FALSE(parse_nft_json("{\"x\": 1}").ok());
  auto empty = parse_nft_json("{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}}]}");
  REQUIRE(empty.ok());
  CHECK(evaluate(*empty, v4("198.51.100.2", 80)).action == fw_action::none);
}

TEST_CASE("nft: the lab's host-drop rule is named with its handle and original text") {
  auto rs = nft_fixture("nft_lab");
  auto f = evaluate(rs, v4("198.51.100.2", 8081));
  CHECK(f.action == fw_action::drop);
  CHECK(f.rule == "table inet dropspot_lab chain input handle 2: tcp dport 8081 drop comment \"host-drop 8081\"");
  CHECK(f.notes.empty());
  CHECK(evaluate(rs, v4("198.51.100.2", 8080)).action == fw_action::accept);
  // an iptables-nft rule: the xt comment match is harmless
  auto g = evaluate(rs, v6("2001:db8:1::2", 8082));
  CHECK(g.action == fw_action::drop);
  CHECK(g.rule == "table ip6 filter chain INPUT handle 2: tcp dport 8082 counter packets 0 bytes 0 drop");
  CHECK(g.notes.empty());
}

TEST_CASE("nft: rules rendered from JSON when the text form is missing") {
  auto rs = nft_fixture("nft_mixed", false);
  CHECK(evaluate(rs, v4("198.51.100.2", 8081)).rule ==
        "table inet filter chain input handle 12: tcp dport @blocked_ports drop");
  CHECK(evaluate(rs, v4("198.51.100.2", 3306)).rule ==
        "table inet filter chain input handle 16: tcp dport 3306 reject with tcp reset");
}

TEST_CASE("nft: sets, ranges, prefixes, jumps, returns, gotos, policies, priorities") {
  auto rs = nft_fixture("nft_mixed");
  SECTION("anonymous set accepts") {
    auto f = evaluate(rs, v4("198.51.100.2", 22));
    CHECK(f.action == fw_action::accept);
    CHECK(f.rule.empty());
  }
  SECTION("named set with an interval element drops") {
    auto f = evaluate(rs, v4("198.51.100.2", 9005));
    CHECK(f.action == fw_action::drop);
    CHECK(f.rule == "table inet filter chain input handle 12: tcp dport @blocked_ports drop");
  }
  SECTION("address set with a prefix: inside accepted, outside falls to the policy") {
    CHECK(evaluate(rs, v4("198.51.100.20", 25)).action == fw_action::accept);
    CHECK(evaluate(rs, v4("192.0.2.7", 25)).action == fw_action::accept);
    auto f = evaluate(rs, v4("203.0.113.9", 25));
    CHECK(f.action == fw_action::drop);
    CHECK(f.rule == "table inet filter chain input policy drop");
  }
  SECTION("jump: accept, drop, and return to the calling chain") {
    auto a = evaluate(rs, v4("198.51.100.5", 587));
    CHECK(a.action == fw_action::accept);
    auto d = evaluate(rs, v4("192.0.2.9", 587));
    CHECK(d.action == fw_action::drop);
    CHECK(d.rule == "table inet filter chain mail handle 20: drop");
    auto r = evaluate(rs, v4("203.0.113.5", 587));  // returns, then the input policy
    CHECK(r.rule == "table inet filter chain input policy drop");
  }
  SECTION("ip6 prefix, and ip saddr rules never match IPv6") {
    CHECK(evaluate(rs, v6("2001:db8:1::2", 8443)).action == fw_action::accept);
    CHECK(evaluate(rs, v6("2001:db8:3::2", 8443)).rule == "table inet filter chain input policy drop");
    CHECK(evaluate(rs, v6("2001:db8:3::2", 25)).rule == "table inet filter chain input policy drop");
  }
  SECTION("reject and tcp flags") {
    auto r = evaluate(rs, v4("198.51.100.2", 3306));
    CHECK(r.action == fw_action::reject);
    CHECK(r.rule == "table inet filter chain input handle 16: tcp dport 3306 reject with tcp reset");
    auto f = evaluate(rs, v4("198.51.100.2", 5432));
    CHECK(f.action == fw_action::drop);
    CHECK(f.rule ==
          "table inet filter chain input handle 17: tcp flags syn / syn,ack tcp dport 5432 counter packets 0 bytes 0 "
          "drop");
  }
  SECTION("the ip table at priority -10 runs before inet filter") {
    auto f = evaluate(rs, v4("192.0.2.66", 8080));
    CHECK(f.rule == "table ip raw_v4 chain pre handle 3: ip saddr 192.0.2.66 tcp dport 8080 drop");
    auto g = evaluate(rs, v4("192.0.2.66", 22));
    CHECK(g.action == fw_action::accept);
  }
  SECTION("goto on an interface match") {
    auto f = evaluate(rs, v4("198.51.100.2", 7005, "eth1"));
    CHECK(f.action == fw_action::reject);
    CHECK(f.rule == "table ip raw_v4 chain sub handle 5: counter packets 0 bytes 0 reject");
    CHECK(evaluate(rs, v4("198.51.100.2", 7005, "eth0")).rule == "table inet filter chain input policy drop");
    // unknown interface: the rule may match, and the finding says so
    auto u = evaluate(rs, v4("198.51.100.2", 7005, ""));
    CHECK(u.action == fw_action::reject);
    CHECK(has_note(u, "input interface, unknown"));
    CHECK(has_note(u, "may not match"));
  }
  SECTION("ip6 table after inet: the inet policy drops first") {
    CHECK(evaluate(rs, v6("2001:db8:1::2", 8082)).rule == "table inet filter chain input policy drop");
  }
  SECTION("any remote source: address matches do not apply, and the note says so") {
    syn_packet p;
    p.port = 25;
    auto f = evaluate(rs, p);
    CHECK(f.rule == "table inet filter chain input policy drop");
    CHECK(has_note(f, "any remote source"));
  }
}

TEST_CASE("nft: verdict maps, goto back to the caller, unknown expressions may match") {
  auto rs = nft_fixture("nft_vmap");
  CHECK(evaluate(rs, v4("198.51.100.2", 80)).action == fw_action::accept);
  CHECK(evaluate(rs, v4("198.51.100.2", 22)).action == fw_action::accept);  // ct state new
  auto inline_map = evaluate(rs, v4("198.51.100.2", 8093));
  CHECK(inline_map.rule ==
        "table inet fw chain filter_IN_public handle 20: tcp dport vmap { 80 : accept, 8093 : drop }");
  auto named_map = evaluate(rs, v4("198.51.100.2", 8090));
  CHECK(named_map.rule == "table inet fw chain filter_INPUT handle 9: tcp dport vmap @port_verdicts");
  CHECK(evaluate(rs, v4("198.51.100.2", 8091)).action == fw_action::accept);
  auto icmpx = evaluate(rs, v4("198.51.100.2", 8092));
  CHECK(icmpx.action == fw_action::reject);
  CHECK(icmpx.rule == "table inet fw chain filter_INPUT handle 10: tcp dport 8092 reject with icmpx admin-prohibited");
  auto concat = evaluate(rs, v4("198.51.100.2", 8094));
  CHECK(concat.action == fw_action::drop);
  CHECK(has_note(concat, "does not evaluate"));
  auto rest = evaluate(rs, v4("198.51.100.2", 9999));
  CHECK(rest.rule == "table inet fw chain filter_INPUT handle 13: reject with icmpx admin-prohibited");
  CHECK(rest.notes.empty());
}

TEST_CASE("iptables-save: parsing") {
  auto rs = ipt_fixture("iptables_legacy_policy.txt");
  CHECK_FALSE(rs.nft_backend);
  CHECK(rs.chains.at("INPUT").policy == "DROP");
  CHECK(rs.chains.at("SERVICES").rules.size() == 4);
  CHECK(rs.chains.at("INPUT").rules.at(7).args.at(12) == "postgres: office only");
  CHECK(ipt_fixture("iptables_lab.txt").nft_backend);
  CHECK_FALSE(parse_iptables_save("*filter\n-X INPUT\nCOMMIT\n").ok());
}

TEST_CASE("iptables: rule order, user chains, RETURN, policy, negation, modules") {
  auto rs = ipt_fixture("iptables_legacy_policy.txt");
  auto line = [&](const char* src, std::uint16_t port, const char* iface = "eth0") {
    return evaluate(rs, v4(src, port, iface), "iptables-legacy");
  };
  CHECK(line("198.51.100.2", 80).action == fw_action::accept);
  CHECK(line("198.51.100.2", 8005).action == fw_action::accept);
  CHECK(line("198.51.100.2", 3306).rule ==
        "iptables-legacy: -A INPUT -p tcp -m tcp --dport 3306 -j REJECT --reject-with tcp-reset");
  CHECK(line("198.51.100.2", 3306).action == fw_action::reject);
  CHECK(line("203.0.113.9", 5432).rule ==
        "iptables-legacy: -A INPUT ! -s 198.51.100.0/25 -p tcp -m tcp --dport 5432 -m comment --comment "
        "\"postgres: office only\" -j DROP");
  CHECK(line("198.51.100.2", 5432).rule == "iptables-legacy: chain INPUT policy DROP (:INPUT DROP)");
  CHECK(line("192.0.2.66", 80).rule == "iptables-legacy: -A BLOCK -j DROP");
  CHECK(line("198.51.100.2", 22).action == fw_action::accept);
  CHECK(line("198.51.100.2", 25, "eth1").action == fw_action::accept);
  CHECK(line("198.51.100.2", 25, "eth0").action == fw_action::drop);
  CHECK(line("198.51.100.2", 2222).rule == "iptables-legacy: chain INPUT policy DROP (:INPUT DROP)");
  CHECK(line("198.51.100.2", 9050).rule ==
        "iptables-legacy: -A INPUT -p tcp -m tcp --dport 9000:9100 --tcp-flags SYN,RST,ACK SYN -j REJECT "
        "--reject-with icmp-port-unreachable");
  auto maybe = line("198.51.100.2", 5433);
  CHECK(maybe.action == fw_action::accept);
  CHECK(has_note(maybe, "-m length"));
  syn_packet any;
  any.port = 5432;
  auto generic = evaluate(rs, any, "iptables-legacy");
  CHECK(generic.action == fw_action::drop);  // ! -s office: any other source is dropped
  CHECK(has_note(generic, "any remote source"));
}

TEST_CASE("diagnose: nft rule plus the iptables-nft line it came from; iptables-legacy apart") {
  firewall_snapshot snap;
  snap.nft = nft_fixture("nft_lab");
  snap.iptables_nft_v4 = ipt_fixture("iptables_lab.txt");
  snap.iptables_legacy_v4 = ipt_fixture("iptables_legacy_lab.txt");
  auto d = diagnose(snap, v4("198.51.100.2", 8082));
  CHECK(d.inspected);
  CHECK(d.action == fw_action::drop);
  REQUIRE(d.blocked.size() == 2);
  CHECK(d.blocked[0] == "table ip filter chain INPUT handle 2: tcp dport 8082 counter packets 0 bytes 0 drop");
  CHECK(d.blocked[1] == "iptables: -A INPUT -p tcp -m tcp --dport 8082 -m comment --comment dropspot_lab -j DROP");
  auto legacy = diagnose(snap, v4("198.51.100.2", 8083));
  REQUIRE(legacy.blocked.size() == 1);
  CHECK(legacy.blocked[0] ==
        "iptables-legacy: -A INPUT -p tcp -m tcp --dport 8083 -m comment --comment dropspot_lab -j DROP");
  auto open = diagnose(snap, v4("198.51.100.2", 80));
  CHECK(open.blocked.empty());
  CHECK(open.action == fw_action::accept);
  CHECK_FALSE(diagnose(firewall_snapshot{}, v4("198.51.100.2", 80)).inspected);
}

TEST_CASE("run_program: output, missing program, failure, timeout, no shell") {
  std::string err;
  auto out = run_program({"echo", "a;b", "$HOME"}, 2s, err);
  REQUIRE(out);
  CHECK(*out == "a;b $HOME\n");
  CHECK_FALSE(run_program({"dropspot-no-such-program"}, 1s, err));
  CHECK(err == "dropspot-no-such-program: not installed");
  CHECK_FALSE(run_program({"false"}, 1s, err));
  CHECK(err == "false: exited with status 1");
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(run_program({"sleep", "5"}, 200ms, err));
  CHECK(err == "sleep: timed out");
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("nft: ingress and prerouting filter chains come before input; nat chains do not filter") {
  auto rs = nft_fixture("nft_hooks");
  // the netdev chain is on lo: remote traffic never passes it
  CHECK(evaluate(rs, v4("198.51.100.2", 8100)).action == fw_action::accept);
  auto pre = evaluate(rs, v4("198.51.100.2", 8101));
  CHECK(pre.action == fw_action::drop);
  CHECK(pre.rule == "table ip raw chain prerouting handle 2: tcp dport 8101 drop");
  auto nat = evaluate(rs, v4("198.51.100.2", 8102));
  CHECK(nat.action == fw_action::accept);
  CHECK(nat.notes.empty());
  CHECK(evaluate(rs, v6("2001:db8:1::2", 8101)).action == fw_action::accept);  // an ip table
}

// Recorded on the real host (scripts/realhost.sh) after `ufw default deny
// incoming; ufw allow 22/tcp; ufw allow 7411/tcp; ufw --force enable` and a
// hand-made `iptables -I INPUT -p tcp --dport 80 -j ACCEPT` (ufw_hand_nft).
TEST_CASE("ufw: a port open only by a rule ufw did not make is said to go at ufw's next reload") {
  firewall_snapshot snap;
  snap.nft = nft_fixture("ufw_hand_nft");
  auto by_hand = diagnose(snap, v4("198.51.100.2", 80));
  CHECK(by_hand.action == fw_action::accept);
  CHECK(by_hand.blocked.empty());
  CHECK(by_hand.unkept ==
        "allowed now only by a rule ufw did not make (table ip filter chain INPUT handle 118: tcp dport 80 counter "
        "packets 0 bytes 0 accept): ufw drops it at its next reload or boot, and then ufw default deny incoming (no "
        "ufw rule allows the port: `ufw status verbose`) blocks the port");
  // ufw's own allow, and a port that stays closed: nothing to say.
  CHECK(diagnose(snap, v4("198.51.100.2", 22)).unkept.empty());
  CHECK(diagnose(snap, v4("198.51.100.2", 8080)).unkept.empty());
  // The hand rule is IPv4's: over IPv6 port 80 is closed by ufw itself.
  auto v6_80 = diagnose(snap, v6("2001:db8:1::2", 80));
  CHECK(v6_80.action == fw_action::drop);
  CHECK(v6_80.unkept.empty());
  // Without ufw's chains (a hand ruleset), an accept is just an accept.
  firewall_snapshot plain;
  plain.nft = nft_fixture("nft_lab");
  for (std::uint16_t port : {22, 80, 8080}) CHECK(diagnose(plain, v4("198.51.100.2", port)).unkept.empty());
}

// Recorded on a Debian 12 booted in the lab (scripts/realhost.sh) after
// `ufw default deny incoming; ufw allow 22/tcp; ufw allow 7411/tcp;
// ufw deny 8080/tcp; ufw --force enable`: nft -j / nft -a list ruleset,
// iptables-save and ip6tables-save (iptables-nft, ufw 0.36.2).
TEST_CASE("ufw: its default policy and its rules are named as ufw names them; its conntrack rules are evaluated") {
  firewall_snapshot snap;
  snap.nft = nft_fixture("ufw_nft");
  snap.iptables_nft_v4 = ipt_fixture("ufw_iptables.txt");
  snap.iptables_nft_v6 = ipt_fixture("ufw_ip6tables.txt");
  REQUIRE(has_ufw_chains(*snap.nft));
  const auto no_maybe = [](const firewall_diagnosis& d) {
    for (const auto& n : d.notes)
      if (n.find("may match") != std::string::npos) return false;
    return true;
  };

  auto closed = diagnose(snap, v4("198.51.100.2", 80));
  CHECK(closed.action == fw_action::drop);
  REQUIRE(closed.blocked.size() >= 2);
  CHECK(closed.blocked[0].rfind("ufw default deny incoming", 0) == 0);
  CHECK(closed.blocked[1] == "table ip filter chain INPUT policy drop");
  CHECK(no_maybe(closed));  // ct state related,established (xt conntrack) does not hold for a first SYN

  auto allowed = diagnose(snap, v4("198.51.100.2", 22));
  CHECK(allowed.action == fw_action::accept);
  CHECK(allowed.blocked.empty());
  CHECK(no_maybe(allowed));

  auto denied = diagnose(snap, v4("198.51.100.2", 8080));
  CHECK(denied.action == fw_action::drop);
  REQUIRE_FALSE(denied.blocked.empty());
  CHECK(denied.blocked[0] == "ufw deny 8080/tcp");
  CHECK(denied.blocked[1].find("chain ufw-user-input") != std::string::npos);

  auto closed6 = diagnose(snap, v6("2001:db8:1::2", 80));
  CHECK(closed6.action == fw_action::drop);
  REQUIRE_FALSE(closed6.blocked.empty());
  CHECK(closed6.blocked[0].rfind("ufw default deny incoming", 0) == 0);
  // ufw's `-m rt --rt-type 0 -j DROP` (type-0 routing headers) is not what drops a SYN
  for (const auto& b : closed6.blocked) CHECK(b.find("--rt-type") == std::string::npos);
  CHECK(diagnose(snap, v6("2001:db8:1::2", 22)).action == fw_action::accept);
  CHECK(diagnose(snap, v6("2001:db8:1::2", 8080)).blocked.at(0) == "ufw deny 8080/tcp");

  // Doubts of rules that cannot apply are not said: with the destination
  // unknown, ufw's mDNS rule (ip daddr 224.0.0.251 udp dport 5353) is ruled
  // out by its udp match, so its address match leaves no note.
  auto anywhere = v4("198.51.100.2", 80);
  anywhere.destination.reset();
  auto d = diagnose(snap, anywhere);
  for (const auto& n : d.notes) CHECK(n.find("224.0.0.251") == std::string::npos);
  CHECK(d.blocked.at(0).rfind("ufw default deny incoming", 0) == 0);

  // Without ufw's chains nothing is renamed.
  auto lab = nft_fixture("nft_lab");
  CHECK_FALSE(has_ufw_chains(lab));
}

TEST_CASE("ufw_rule_name: rules of ufw's user chains in ufw's words") {
  fw_finding f;
  f.action = fw_action::reject;
  f.family = "ip";
  f.chain = "ufw-user-input";
  f.rule =
      "table ip filter chain ufw-user-input handle 9: ip saddr 192.0.2.0/24 tcp dport 80 counter packets 0 bytes 0 "
      "reject";
  CHECK(ufw_rule_name(f, true) == "ufw reject from 192.0.2.0/24 to any port 80 proto tcp");
  CHECK(ufw_rule_name(f, false).empty());
  f.family = "ip6";
  f.chain = "ufw6-user-input";
  f.action = fw_action::drop;
  f.rule = "table ip6 filter chain ufw6-user-input handle 9: ip6 saddr 2001:db8:1::/64 counter packets 0 bytes 0 drop";
  CHECK(ufw_rule_name(f, true) == "ufw deny from 2001:db8:1::/64");
  f.rule = "table ip6 filter chain ufw6-user-input handle 9: tcp dport { 80, 443 } counter packets 0 bytes 0 drop";
  CHECK(ufw_rule_name(f, true) == "ufw deny 80,443/tcp");
  f.chain = "ufw6-user-limit";
  CHECK(ufw_rule_name(f, true).rfind("ufw limit", 0) == 0);
  f.chain = "some-other-chain";
  CHECK(ufw_rule_name(f, true).empty());
  f.action = fw_action::accept;
  f.chain = "ufw6-user-input";
  CHECK(ufw_rule_name(f, true).empty());
}

// Recorded on a Debian 12 booted in the lab (scripts/realhost.sh): firewalld
// 1.3.3 started with its default zone public (ssh, dhcpv6-client) and
// `firewall-cmd --permanent --add-port=7411/tcp; firewall-cmd --reload`.
TEST_CASE("firewalld's nft table: rpfilter and ct status dnat evaluated for a first SYN, the reject named") {
  auto rs = nft_fixture("firewalld_nft");
  const auto no_maybe = [](const fw_finding& f) {
    for (const auto& n : f.notes)
      if (n.find("may match") != std::string::npos || n.find("assumed") != std::string::npos) return false;
    return true;
  };
  for (const auto& pkt : {v4("198.51.100.2", 80), v6("2001:db8:1::2", 80)}) {
    INFO((pkt.v6 ? "IPv6" : "IPv4"));
    auto f = evaluate(rs, pkt);
    CHECK(f.action == fw_action::reject);
    CHECK(f.table == "firewalld");
    CHECK(no_maybe(f));
  }
  for (std::uint16_t open : {22, 7411}) {
    auto f = evaluate(rs, v6("2001:db8:1::2", open));
    CHECK(f.action == fw_action::accept);
    CHECK(no_maybe(f));
    CHECK(evaluate(rs, v4("198.51.100.2", open)).action == fw_action::accept);
  }
}

TEST_CASE("the output path: a rule that drops the server's reply is found and named after the SYN passes") {
  // inet filter: input accepts all; output drops what port 8085 sends, and
  // established replies to 198.51.100.0/24 from port 8086 (ct state, daddr).
  const std::string json = R"({"nftables": [
    {"table": {"family": "inet", "name": "f", "handle": 1}},
    {"chain": {"family": "inet", "table": "f", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
    {"chain": {"family": "inet", "table": "f", "name": "out", "handle": 2, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}},
    {"rule": {"family": "inet", "table": "f", "chain": "in", "handle": 3, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 9999}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "f", "chain": "out", "handle": 4, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}}, "right": 8085}}, {"drop": null}]}},
    {"rule": {"family": "inet", "table": "f", "chain": "out", "handle": 5, "expr": [
      {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "198.51.100.0", "len": 24}}}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}}, "right": 8086}},
      {"reject": null}]}}
  ]})";
  auto parsed = parse_nft_json(json);
  REQUIRE(parsed.ok());
  firewall_snapshot snap;
  snap.nft = std::move(parsed).value();

  // The SYN passes the input chain.
  auto syn = v4("198.51.100.2", 8085);
  CHECK(evaluate(*snap.nft, syn).action == fw_action::accept);
  // Its reply leaves from port 8085: dropped by handle 4.
  auto reply = evaluate(*snap.nft, syn.answer());
  CHECK(reply.action == fw_action::drop);
  CHECK(reply.handle == 4);
  auto d = diagnose(snap, syn);
  REQUIRE(d.blocked.size() == 2);
  CHECK(d.blocked[0] == output_path_marker);
  CHECK(d.blocked[1].rfind("table inet f chain out handle 4:", 0) == 0);
  CHECK(firewall_fix_command(d.blocked[1], 8085, true) == "nft delete rule inet f out handle 4");

  // ct state established, daddr the prober: the reply from 8086 is rejected;
  // another prober's is not; port 22's reply passes.
  CHECK(diagnose(snap, v4("198.51.100.2", 8086)).blocked.at(0) == output_path_marker);
  CHECK(diagnose(snap, v4("192.0.2.7", 8086)).blocked.empty());
  CHECK(diagnose(snap, v4("198.51.100.2", 22)).blocked.empty());

  // iptables: OUTPUT, --sport is the server's port for the reply; --syn never matches a SYN-ACK.
  auto ipt = parse_iptables_save(
      "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A OUTPUT -p tcp --syn -j DROP\n"
      "-A OUTPUT -p tcp -m tcp --sport 8087 -m conntrack --ctstate ESTABLISHED -j DROP\nCOMMIT\n");
  REQUIRE(ipt.ok());
  auto i = evaluate(ipt.value(), v4("198.51.100.2", 8087).answer(), "iptables");
  CHECK(i.action == fw_action::drop);
  CHECK(i.rule == "iptables: -A OUTPUT -p tcp -m tcp --sport 8087 -m conntrack --ctstate ESTABLISHED -j DROP");
  CHECK(evaluate(ipt.value(), v4("198.51.100.2", 22).answer(), "iptables").action == fw_action::accept);
  CHECK(firewall_fix_command("iptables: chain OUTPUT policy DROP (:OUTPUT DROP)", 80, true) ==
        "iptables -I OUTPUT -p tcp --sport 80 -j ACCEPT");
  CHECK(firewall_fix_command("table inet f chain out policy drop", 80, true) ==
        "nft insert rule inet f out tcp sport 80 accept");
}

// Recorded in the lab's server after `scripts/lab.sh fault
// host-drop-frag-needed` (nft inet: icmp type destination-unreachable icmp
// code frag-needed drop; icmpv6 type packet-too-big drop), then
// `iptables -A INPUT -p icmp -j DROP` and `ip6tables -A INPUT -p ipv6-icmp -m
// icmp6 --icmpv6-type packet-too-big -j DROP` (iptables-nft 1.8.9).
TEST_CASE("the ICMP path-MTU discovery needs: the rules that drop 'fragmentation needed' / 'packet too big'") {
  firewall_snapshot snap;
  snap.nft = nft_fixture("icmp_drop_nft");
  snap.iptables_nft_v4 = ipt_fixture("icmp_drop_iptables.txt");
  snap.iptables_nft_v6 = ipt_fixture("icmp_drop_ip6tables.txt");

  // The SYN to 80 passes; the ICMP about that connection's segments does not.
  CHECK(diagnose(snap, v4("198.51.100.2", 80)).blocked.empty());
  auto icmp = diagnose(snap, v4("198.51.100.2", 80).too_big_about());
  CHECK(icmp.action == fw_action::drop);
  REQUIRE_FALSE(icmp.blocked.empty());
  CHECK(icmp.blocked[0] ==
        "table inet dropspot_lab chain input handle 2: icmp type destination-unreachable icmp code frag-needed drop "
        "comment \"host-drop-frag-needed\"");
  for (const auto& n : icmp.notes) CHECK(n.find("may match") == std::string::npos);

  // IPv6: the inet rule first (priority order: all at filter; inet's table came first).
  auto icmp6 = diagnose(snap, v6("2001:db8:1::2", 80).too_big_about());
  CHECK(icmp6.action == fw_action::drop);
  REQUIRE_FALSE(icmp6.blocked.empty());
  CHECK(icmp6.blocked[0].find("icmpv6 type packet-too-big drop") != std::string::npos);

  // The iptables-nft rules, quoted as iptables wrote them.
  auto ipt4 = evaluate(snap.iptables_nft_v4.value(), v4("198.51.100.2", 80).too_big_about(), "iptables");
  CHECK(ipt4.action == fw_action::drop);
  CHECK(ipt4.rule == "iptables: -A INPUT -p icmp -j DROP");
  auto ipt6 = evaluate(snap.iptables_nft_v6.value(), v6("2001:db8:1::2", 80).too_big_about(), "ip6tables");
  CHECK(ipt6.action == fw_action::drop);
  CHECK(ipt6.rule == "ip6tables: -A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 2 -j DROP");
  // ... and neither rule is about a SYN.
  CHECK(evaluate(snap.iptables_nft_v4.value(), v4("198.51.100.2", 80), "iptables").action == fw_action::accept);

  // Other ICMP types and codes are not this packet.
  auto other = parse_iptables_save(
      "*filter\n:INPUT ACCEPT [0:0]\n"
      "-A INPUT -p icmp -m icmp --icmp-type 8 -j DROP\n"
      "-A INPUT -p icmp -m icmp --icmp-type 3/3 -j DROP\n"
      "-A INPUT -p tcp -m tcp --dport 80 -j DROP\n"
      "-A INPUT -m conntrack --ctstate RELATED -j ACCEPT\n"
      "-A INPUT -j DROP\nCOMMIT\n");
  REQUIRE(other.ok());
  auto related = evaluate(other.value(), v4("198.51.100.2", 80).too_big_about(), "iptables");
  CHECK(related.action == fw_action::accept);
  CHECK(related.rule == "iptables: -A INPUT -m conntrack --ctstate RELATED -j ACCEPT");
  auto code4 =
      parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -m icmp --icmp-type 3/4 -j DROP\nCOMMIT\n");
  REQUIRE(code4.ok());
  CHECK(evaluate(code4.value(), v4("198.51.100.2", 80).too_big_about(), "iptables").action == fw_action::drop);
}

TEST_CASE("the ICMP path-MTU discovery needs passes ufw's and firewalld's rulesets (ct state related)") {
  firewall_snapshot ufw;
  ufw.nft = nft_fixture("ufw_nft");
  ufw.iptables_nft_v4 = ipt_fixture("ufw_iptables.txt");
  ufw.iptables_nft_v6 = ipt_fixture("ufw_ip6tables.txt");
  // A port ufw closes: its SYN is dropped, the ICMP about a connection is not.
  CHECK(diagnose(ufw, v4("198.51.100.2", 80)).action == fw_action::drop);
  CHECK(diagnose(ufw, v4("198.51.100.2", 80).too_big_about()).blocked.empty());
  CHECK(diagnose(ufw, v6("2001:db8:1::2", 80).too_big_about()).blocked.empty());

  firewall_snapshot firewalld;
  firewalld.nft = nft_fixture("firewalld_nft");
  CHECK(diagnose(firewalld, v4("198.51.100.2", 8080).too_big_about()).blocked.empty());
  CHECK(diagnose(firewalld, v6("2001:db8:1::2", 8080).too_big_about()).blocked.empty());

  // nft: a policy-drop input chain that accepts related traffic lets it in;
  // one that accepts only new SYNs to its ports does not.
  const std::string json = R"({"nftables": [
    {"table": {"family": "inet", "name": "f", "handle": 1}},
    {"chain": {"family": "inet", "table": "f", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
    {"rule": {"family": "inet", "table": "f", "chain": "in", "handle": 2, "expr": [
      {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}}, {"accept": null}]}},
    {"rule": {"family": "inet", "table": "f", "chain": "in", "handle": 3, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"accept": null}]}}
  ]})";
  auto parsed = parse_nft_json(json);
  REQUIRE(parsed.ok());
  firewall_snapshot strict;
  strict.nft = std::move(parsed).value();
  CHECK(diagnose(strict, v4("198.51.100.2", 80)).blocked.empty());
  auto dropped = diagnose(strict, v4("198.51.100.2", 80).too_big_about());
  CHECK(dropped.action == fw_action::drop);
  CHECK(dropped.blocked.at(0) == "table inet f chain in policy drop");
}
