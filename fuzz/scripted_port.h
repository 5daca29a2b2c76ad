#pragma once
// A message_port that plays back the frames of a fuzz input and swallows what
// is sent: the session logic of either end runs without a network.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "common/auth.h"
#include "common/errors.h"
#include "common/framing.h"
#include "common/message_port.h"
#include "common/protocol.h"

namespace dropspot::fuzz {

class scripted_port final : public message_port {
 public:
  /// `bytes` are framed Envelopes as the peer would send them. With a
  /// binding, the port looks like TLS (token authentication applies).
  scripted_port(std::span<const std::uint8_t> bytes, bool has_binding) : has_binding_(has_binding) {
    decoder_.feed(bytes);
    binding_.fill(0x5a);
  }

  /// Called on each received Envelope before it is handed out (to forge a
  /// valid MAC, say).
  std::function<void(v1::Envelope&)> on_receive;

  asio::awaitable<std::error_code> receive(v1::Envelope& out, duration) override {
    if (closed_) co_return make_error_code(errc::closed);
    std::string payload;
    switch (decoder_.next(payload)) {
      case frame_decoder::status::frame:
        if (!parse_envelope(payload, out)) co_return make_error_code(errc::bad_message);
        if (on_receive) on_receive(out);
        co_return std::error_code{};
      case frame_decoder::status::error: co_return decoder_.error();
      case frame_decoder::status::need_more: break;
    }
    co_return make_error_code(errc::closed);
  }

  asio::awaitable<std::error_code> send(const v1::Envelope& message) override {
    // What we send must frame and parse back: the peer has to read it.
    std::string payload, frame;
    if (!message.SerializeToString(&payload)) std::abort();
    if (encode_frame(payload, frame)) std::abort();
    v1::Envelope back;
    if (!parse_envelope(payload, back)) std::abort();
    ++sent_;
    co_return std::error_code{};
  }

  asio::awaitable<void> close() override {
    closed_ = true;
    co_return;
  }

  std::optional<std::array<std::uint8_t, exporter_size>> channel_binding() override {
    if (!has_binding_) return std::nullopt;
    return binding_;
  }
  const char* path() const override { return has_binding_ ? "tls" : "stdio"; }

  const std::array<std::uint8_t, exporter_size>& binding() const { return binding_; }
  std::size_t sent() const { return sent_; }

 private:
  frame_decoder decoder_;
  bool has_binding_;
  std::array<std::uint8_t, exporter_size> binding_{};
  bool closed_ = false;
  std::size_t sent_ = 0;
};

}  // namespace dropspot::fuzz
