// capture_probe: runs the agent's live capture for one session and prints what
// it sees, for tests/e2e/capture_lab_test.sh (run inside a lab namespace with
// `scripts/lab.sh exec server capture_probe ...`).
//
//   capture_probe --peer ADDR --ports LIST [--interface IF]... [--seconds N] [--pcap-dir DIR]
//
// stderr: "capturing on IF,IF" once capture runs; at the end
// "summary packets_seen=N packets_dropped=M pcap_file=PATH".
// stdout: one PacketEvent per line, protobuf JSON with proto field names.
// Runs until SIGTERM/SIGINT or N seconds (default 30). Exit code 0, 1 when
// capture cannot start (the note on stderr), 2 for bad usage.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <iostream>

#include "agent/capture.h"
#include "common/ports.h"

using namespace dropspot;

int main(int argc, char** argv) {
  CLI::App app{"capture_probe: the agent's live capture for one session, for lab tests"};
  std::string peer_text, ports_text;
  agent::capture_config config;
  unsigned seconds = 30;
  app.add_option("--peer", peer_text, "the prober's address")->required();
  app.add_option("--ports", ports_text, "service ports, e.g. 8080-8084")->required();
  app.add_option("--interface", config.interfaces, "capture on IF (default: the any device)");
  app.add_option("--seconds", seconds, "stop after this long");
  app.add_option("--pcap-dir", config.pcap_dir, "also write the session's packets there");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  std::error_code ec;
  const auto peer = asio::ip::make_address(peer_text, ec);
  const auto ports = parse_port_list(ports_text);
  if (ec || !ports) {
    std::cerr << "capture_probe: " << (ec ? "bad --peer " + peer_text : ports.error()) << "\n";
    return 2;
  }

  asio::io_context io(1);
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  std::string note;
  auto capture = agent::start_capture(
      io.get_executor(), config, {peer, ports.value()},
      [&](const v1::PacketEvent& event) {
        std::string line;
        (void)google::protobuf::util::MessageToJsonString(event, &line, json);
        std::cout << line << std::endl;
      },
      note);
  if (!capture) {
    std::cerr << "capture_probe: " << note << "\n";
    return 1;
  }
  std::string names;
  for (const auto& i : capture->interfaces()) names += (names.empty() ? "" : ",") + i;
  std::cerr << "capturing on " << names << std::endl;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer timer(io, std::chrono::seconds(seconds));
  const auto finish = [&] {
    std::cerr << "summary packets_seen=" << capture->packets_seen() << " packets_dropped=" << capture->packets_dropped()
              << " pcap_file=" << capture->pcap_file() << std::endl;
    capture.reset();
    signals.cancel();
    timer.cancel();
  };
  signals.async_wait([&](std::error_code e, int) {
    if (!e && capture) finish();
  });
  timer.async_wait([&](std::error_code e) {
    if (!e && capture) finish();
  });
  io.run();
  return 0;
}
