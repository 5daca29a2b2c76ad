#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>

#include "prober/options.h"

using namespace dropspot::prober;

namespace {

/// argv as CLI11 collects it, the way the program does, without starting a process.
raw_options parse_raw(std::vector<std::string> args) {
  CLI::App app;
  raw_options raw;
  setup_options(app, raw);
  args.insert(args.begin(), "prober");
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return raw;
}

dropspot::result<options> parse(std::vector<std::string> args) { return validate_options(parse_raw(std::move(args))); }

}  // namespace

TEST_CASE("prober options: the contract's examples parse") {
  auto o = parse({"--target", "203.0.113.2", "--ports", "22,25,80,443"}).value();
  CHECK(o.ports == std::vector<std::uint16_t>{22, 25, 80, 443});
  REQUIRE(o.agents.size() == 1);
  CHECK(o.agents[0].host == "203.0.113.2");
  CHECK(o.agents[0].port == 7411);
  CHECK(o.format == output_format::text);
  CHECK(o.app_timeout.count() == 30'000);  // an SMTP greeting may be held 6 s and more

  o = parse({"--target",        "example.com", "--ports",          "8000-8002", "--agent",
             "example.com:443", "--agent",     "[2001:db8::2]",    "--probe",   "8000=http",
             "--timeout",       "500ms",       "--retries",        "2",         "--expect",
             "8000=open",       "--expect",    "8001=NO_LISTENER", "--wait",    "30s",
             "--format",        "json"})
          .value();
  REQUIRE(o.agents.size() == 2);
  CHECK(o.agents[0].port == 443);
  CHECK(o.agents[1].host == "2001:db8::2");
  CHECK(o.agents[1].port == 7411);
  CHECK(o.probes.at(8000) == "http");
  CHECK(o.timeout.count() == 500);
  CHECK(o.retries == 2);
  REQUIRE(o.expects.size() == 2);
  CHECK(o.expects[1].what == "NO_LISTENER");
  CHECK(o.wait.count() == 30'000);
  CHECK(o.format == output_format::json);

  o = parse({"--target", "h", "--ports", "993", "--app-timeout", "90s", "--probe", "993=IMAPS"}).value();
  CHECK(o.app_timeout.count() == 90'000);
  CHECK(o.probes.at(993) == "imaps");
}

TEST_CASE("prober options: bad input gets a message") {
  const std::vector<std::vector<std::string>> bad = {
      {"--target", "127.0.0.1", "--ports", "abc"},
      {"--target", "bad host", "--ports", "80"},
      {"--target", "h", "--ports", "80", "--timeout", "5"},
      {"--target", "h", "--ports", "80", "--timeout", "0ms"},
      {"--target", "h", "--ports", "80", "--probe", "80=gopher"},
      {"--target", "h", "--ports", "80", "--probe", "81=http"},
      {"--target", "h", "--ports", "80", "--probe", "http"},
      {"--target", "h", "--ports", "80", "--expect", "80=sometimes"},
      {"--target", "h", "--ports", "80", "--expect", "81=open"},
      {"--target", "h", "--ports", "80", "--format", "xml"},
      {"--target", "h", "--ports", "80", "--agent", "h:0"},
      {"--target", "h", "--ports", "80", "--retries", "99"},
      {"--target", "h", "--ports", "80", "--no-agent", "--agent", "x"},
      {"--target", "h", "--ports", "80", "--wait", "forever"},
      {"--target", "h", "--ports", "80", "--ssh", "@host"},
      {"--target", "h", "--ports", "80", "--app-timeout", "50ms"},
      {"--target", "h", "--ports", "80", "--app-timeout", "3m"},
      {"--target", "h", "--ports", "80", "--app-timeout", "soon"},
      {"--target", "h", "--ports", "53/icmp"},
      {"--target", "h", "--ports", "53/udp", "--probe", "53/udp=http"},
      {"--target", "h", "--ports", "53", "--probe", "53=dns"},
      {"--target", "h", "--ports", "53", "--probe", "53/udp=dns"},
      {"--target", "h", "--ports", "53/udp", "--expect", "53=open"},
      {"--target", "h", "--ports", "53/udp", "--udp-payload", "xyz"},
      {"--target", "h", "--ports", "53/udp", "--udp-payload", "abc"},
      {"--target", "h", "--ports", "53/udp", "--udp-payload", std::string(2402, 'a')},
      {"--target", "h", "--ports", "53/udp", "--dns-name", "bad..name"},
      {"--target", "h", "--ports", "53/udp", "--dns-name", "a name"},
  };
  for (const auto& args : bad) {
    INFO(args[2] << " " << (args.size() > 4 ? args[4] + " " + args[5] : ""));
    auto r = parse(args);
    CHECK_FALSE(r.ok());
    CHECK_FALSE(r.error().empty());
    CHECK(r.error().find('\n') == std::string::npos);
  }
}

TEST_CASE("prober options: a missing target or port list is named after any unknown argument") {
  auto r = parse({"--ports", "80"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "no target: prober HOST -p PORTS (or --target HOST)");
  r = parse({"--target", "h"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "--ports is required: e.g. -p 22,80,443");
  // An unknown option comes first, although --target and --ports are missing.
  try {
    parse({"--frobnicate"});
    FAIL("no error");
  } catch (const CLI::ParseError& e) {
    CHECK(std::string(e.what()).find("--frobnicate") != std::string::npos);
  }
}

TEST_CASE("prober options: the target as an argument, short options, -v/-q, --color") {
  auto o = parse({"vps.example.com", "-p", "22,80", "-t", "500ms", "-f", "json"}).value();
  CHECK(o.target == "vps.example.com");
  CHECK(o.ports == std::vector<std::uint16_t>{22, 80});
  CHECK(o.timeout.count() == 500);
  CHECK(o.format == output_format::json);
  CHECK(o.detail == dropspot::verbosity::normal);
  CHECK(o.color == dropspot::color_mode::automatic);
  CHECK(parse({"-p", "22", "h"}).value().target == "h");  // after the options too
  CHECK(parse({"h", "-p", "22", "--target", "h"}).ok());  // the same twice is fine
  CHECK_FALSE(parse({"h", "-p", "22", "--target", "g"}).ok());
  CHECK(parse({"h", "-p", "22", "-v"}).value().detail == dropspot::verbosity::verbose);
  CHECK(parse({"h", "-p", "22", "-q"}).value().detail == dropspot::verbosity::quiet);
  CHECK_THROWS_AS(parse({"h", "-p", "22", "-q", "-v"}), CLI::ParseError);
  CHECK(parse({"h", "-p", "22", "--color", "always"}).value().color == dropspot::color_mode::always);
  CHECK(parse({"h", "-p", "22", "--color", "never"}).value().color == dropspot::color_mode::never);
  CHECK_FALSE(parse({"h", "-p", "22", "--color", "sometimes"}).ok());
  CHECK_THROWS_AS(parse({"h", "g", "-p", "22"}), CLI::ParseError);  // one target
}

TEST_CASE("prober options: UDP ports, their probes and expectations") {
  auto o = parse({"h", "-p", "22,53/udp,51820/udp", "--probe", "51820/udp=udp", "--probe", "22=ssh", "--expect",
                  "53/udp=open", "--expect", "51820/udp,22=blocked", "--udp-payload", "01:02 ff", "--dns-name",
                  "Example.COM."})
               .value();
  CHECK(o.ports == std::vector<std::uint16_t>{22});
  CHECK(o.udp_ports == std::vector<std::uint16_t>{53, 51820});
  CHECK(o.udp_probes.at(51820) == "udp");
  CHECK(o.probes.at(22) == "ssh");
  REQUIRE(o.expects.size() == 2);
  CHECK(o.expects[0].udp_ports == std::vector<std::uint16_t>{53});
  CHECK(o.expects[0].ports.empty());
  CHECK(o.expects[1].udp_ports == std::vector<std::uint16_t>{51820});
  CHECK(o.expects[1].ports == std::vector<std::uint16_t>{22});
  CHECK(o.udp_payload == std::string("\x01\x02\xff", 3));
  CHECK(o.dns_name == "Example.COM");
  CHECK(parse({"h", "-p", "53", "--probe", "53=dns"}).error().find("53/udp=dns") != std::string::npos);
  CHECK(parse({"h", "-p", "53/x"}).error() == "--ports: '53/x': unknown protocol 'x' (tcp or udp)");
}

namespace {

/// Parses argv and a --targets-file's text as the program does.
dropspot::result<fleet_options> parse_fleet(std::vector<std::string> args, std::string_view file = {}) {
  auto raw = parse_raw(std::move(args));
  if (!file.empty()) raw.targets_file = "fleet.txt";
  auto lines = parse_targets_file(file);
  if (!lines) return dropspot::result<fleet_options>::failure(lines.error());
  return validate_fleet(raw, *lines);
}

}  // namespace

TEST_CASE("prober options: a targets file, one target a line, its own ports and settings") {
  const auto lines = parse_targets_file(
                         "# the fleet\n"
                         "\n"
                         "web1.example.com 22,80,443\n"
                         "  mail.example.com\t25,587 expect=25=blocked expect=587=open  # OP25B at home\n"
                         "db.example.com ssh=admin@db.example.com timeout=500ms\r\n"
                         "vps.example.com 80 agent=10.0.0.1:7412 probe=80=http app-timeout=5s\n")
                         .value();
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].line == 3);
  CHECK(lines[0].host == "web1.example.com");
  CHECK(lines[0].ports == "22,80,443");
  CHECK(lines[1].ports == "25,587");
  REQUIRE(lines[1].settings.size() == 2);
  CHECK(lines[1].settings[0] == std::pair<std::string, std::string>{"expect", "25=blocked"});
  CHECK(lines[2].ports.empty());  // --ports then
  CHECK(lines[2].settings[1] == std::pair<std::string, std::string>{"timeout", "500ms"});
  CHECK(lines[3].settings.size() == 3);

  // Errors name the line.
  auto r = parse_targets_file("ok.example 80\nbad.example 80 colour=red\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "line 2: 'colour' is not a setting here (agent, ssh, expect, probe, timeout, app-timeout)");
  r = parse_targets_file("bad.example 80 443\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().rfind("line 1: '443': after the host and its ports, only key=value", 0) == 0);
  CHECK_FALSE(parse_targets_file("expect=open\n").ok());
  CHECK_FALSE(parse_targets_file("h 80 ssh=\n").ok());
  CHECK(parse_targets_file("# nothing\n\n").value().empty());
}

TEST_CASE("prober options: several targets, each its own agent and settings over the command line's") {
  auto f = parse_fleet(
               {"--target", "a.example", "--target", "b.example", "-p", "22,80", "--expect", "open", "--parallel", "3"},
               "c.example 25 expect=blocked timeout=500ms\nd.example agent=10.0.0.9\n")
               .value();
  REQUIRE(f.targets.size() == 4);
  CHECK(f.parallel == 3);
  CHECK(f.targets[0].target == "a.example");
  CHECK(f.targets[1].agents.at(0).host == "b.example");  // each target's own agent
  CHECK(f.targets[1].ports == std::vector<std::uint16_t>{22, 80});
  CHECK(f.targets[2].ports == std::vector<std::uint16_t>{25});
  CHECK(f.targets[2].expects.at(0).what == "blocked");
  CHECK(f.targets[2].timeout.count() == 500);
  CHECK(f.targets[2].agents.at(0).host == "c.example");
  CHECK(f.targets[3].agents.at(0).host == "10.0.0.9");
  CHECK(f.targets[3].expects.at(0).what == "open");  // the command line's
  // The default: up to 8 at once.
  CHECK(parse_fleet({"-p", "80", "--target", "a", "--target", "b"}).value().parallel == 2);
  // One target: as ever, the argument and --target the same host counted once.
  f = parse_fleet({"h.example", "--target", "h.example", "-p", "80"}).value();
  CHECK(f.targets.size() == 1);
}

TEST_CASE("prober options: a fleet's bad settings are named, with the line and the target") {
  const auto error = [](std::vector<std::string> args, std::string_view file = {}) {
    auto r = parse_fleet(std::move(args), file);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find('\n') == std::string::npos);
    return r.error();
  };
  CHECK(error({"-p", "80"}, "a.example\nb.example 99999\n") ==
        "--targets-file line 2 (b.example): --ports: '99999' is out of range (1-65535)");
  CHECK(error({}, "a.example\n") == "--targets-file line 1 (a.example): --ports is required: e.g. -p 22,80,443");
  CHECK(error({"-p", "80", "--target", "a", "--target", "A"}) == "target 'A' given twice");
  CHECK(error({"-p", "80", "--target", "a", "--target", "b", "--ssh", "root@a"}).rfind("--ssh names one host", 0) == 0);
  CHECK(error({"-p", "80", "--target", "a", "--target", "b", "--agent", "a"}).rfind("--agent names one agent", 0) == 0);
  CHECK(error({"-p", "80", "--target", "a", "--target", "b", "--parallel", "65"}) == "--parallel: must be 1..64");
  CHECK(error({"-p", "80"}, "# none\n") == "--targets-file: no target in it (one a line: HOST [PORTS] [key=value...])");
  CHECK(error({"-p", "80", "--target", "a", "--target", "b"}, "c 80 expect=22=open\n")
            .rfind("--targets-file line 1 (c): --expect '22=open': port 22 is not in --ports", 0) == 0);
  CHECK(error({"h", "-p", "80", "-f", "yaml"}) == "--format: 'yaml' is not text, json, junit or prometheus");
}

TEST_CASE("prober options: -4, -6 and --all-addresses choose a name's addresses") {
  auto o = parse({"www.example.com", "-p", "80"}).value();
  CHECK(o.addresses == address_choice{true, true, false});
  CHECK(parse({"www.example.com", "-p", "80", "-4"}).value().addresses == address_choice{true, false, false});
  CHECK(parse({"www.example.com", "-p", "80", "-6", "--all-addresses"}).value().addresses ==
        address_choice{false, true, true});
  CHECK(parse({"www.example.com", "-p", "80", "-4", "-6"}).error() ==
        "-4 and -6 exclude each other (the default tests both)");
  CHECK(parse({"203.0.113.2", "-p", "80", "-6"}).error() == "-6: the target 203.0.113.2 is an IPv4 address");
  CHECK(parse({"2001:db8::2", "-p", "80", "-4"}).error() == "-4: the target 2001:db8::2 is an IPv6 address");
  CHECK(parse({"2001:db8::2", "-p", "80", "-6"}).ok());
}
