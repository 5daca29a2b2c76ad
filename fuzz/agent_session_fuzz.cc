// Message dispatch in the agent: the session state machine (agent/session)
// fed with whatever Envelopes a peer sends, in any order, through a scripted
// port. The first byte picks the configuration: TLS or stdio, a token or
// none, whether the fuzzer's auth messages carry the right MAC (so the
// states after authentication are reached), --allow-ports, a port cap, and
// a capture that reports packets.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "agent/session.h"
#include "scripted_port.h"

using namespace dropspot;

namespace {

const std::string token = "0123456789abcdef0123456789abcdef";

/// Reports a few packets as soon as it starts, more than the per-flow ACK cap.
class fake_capture final : public agent::capture_handle {
 public:
  fake_capture(const agent::capture_request& request, const agent::packet_sink& sink) {
    v1::PacketEvent e;
    e.set_direction(v1::PacketEvent::INBOUND);
    e.set_src_port(40000);
    e.set_port(request.ports.empty() ? 1 : request.ports.front());
    e.set_kind(v1::PacketEvent::SYN);
    sink(e);
    e.set_kind(v1::PacketEvent::ACK);
    for (int i = 0; i < 6; ++i) sink(e);
    e.set_direction(v1::PacketEvent::OUTBOUND);
    e.set_dst_port(40000);
    e.set_kind(v1::PacketEvent::SYN_ACK);
    sink(e);
  }
  std::vector<std::string> interfaces() const override { return {"fuzz0"}; }
  std::uint64_t packets_seen() const override { return 9; }
  std::uint64_t packets_dropped() const override { return 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const bool tls = mode & 0x01;
  const bool has_token = mode & 0x02;
  const bool forge_mac = mode & 0x04;
  const bool with_capture = mode & 0x08;

  agent::session_config config;
  if (has_token) config.token = token;
  config.require_token = tls;
  if (mode & 0x10) config.allow_ports = {22, 80, 443};
  if (mode & 0x20) config.max_ports = 4;
  config.hostname = "fuzz";

  agent::session_services services;
  if (with_capture)
    services.start_capture = [](const agent::capture_request& request, agent::packet_sink sink,
                                std::string& note) -> std::unique_ptr<agent::capture_handle> {
      if (request.ports.empty() && request.udp_ports.empty()) {
        note = "no ports";
        return nullptr;
      }
      return std::make_unique<fake_capture>(request, sink);
    };
  services.listeners = [](const std::vector<std::uint16_t>& ports, const std::vector<std::uint16_t>& udp_ports) {
    std::vector<v1::Listener> out;
    for (auto p : ports) {
      out.emplace_back().set_port(p);
      if (out.size() == 4) break;
    }
    for (auto p : udp_ports) {
      auto& l = out.emplace_back();
      l.set_port(p);
      l.set_protocol(v1::UDP);
      if (out.size() == 8) break;
    }
    return out;
  };

  auto port = std::make_shared<fuzz::scripted_port>(std::span(data + 1, size - 1), tls);
  if (forge_mac)
    port->on_receive = [raw = port.get()](v1::Envelope& e) {
      if (!e.has_auth()) return;
      const auto mac = compute_mac(token, prober_auth_label, raw->binding());
      e.mutable_auth()->set_mac(mac.data(), mac.size());
    };

  asio::io_context io;
  bool finished = false;
  asio::co_spawn(io, agent::run_session(port, asio::ip::make_address("203.0.113.7"), 40001, config, services),
                 [&](std::exception_ptr e, agent::session_outcome) {
                   if (e) std::abort();  // a session must end with an outcome, never throw
                   finished = true;
                 });
  io.run();
  if (!finished) std::abort();
  return 0;
}
