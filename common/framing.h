#pragma once
// Frames on the control channel: a 4-byte big-endian length, then that many
// bytes of one serialized Envelope. Pure code: no sockets here.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/errors.h"

namespace dropspot {

inline constexpr std::size_t max_frame_size = 1u << 20;  // 1 MiB
inline constexpr std::size_t frame_header_size = 4;

/// Incremental decoder: feed bytes as they arrive, take frames out.
class frame_decoder {
 public:
  enum class status { need_more, frame, error };

  /// Appends received bytes.
  void feed(std::span<const std::uint8_t> bytes);
  void feed(std::string_view bytes) { feed(bytes.data(), bytes.size()); }
  void feed(const char* data, std::size_t size) { feed({reinterpret_cast<const std::uint8_t*>(data), size}); }

  /// Takes the next complete frame's payload out, if there is one. After an
  /// error the decoder stays in error: the stream cannot be resynchronised.
  status next(std::string& payload);

  std::error_code error() const { return error_; }
  /// Bytes buffered but not yet returned as a frame.
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
  std::error_code error_;
};

/// Prepends the header. Fails with frame_too_large / frame_empty.
std::error_code encode_frame(std::string_view payload, std::string& out);

}  // namespace dropspot
