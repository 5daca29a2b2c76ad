#include "common/framing.h"

namespace dropspot {

void frame_decoder::feed(std::span<const std::uint8_t> bytes) {
  if (error_) return;
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

frame_decoder::status frame_decoder::next(std::string& payload) {
  if (error_) return status::error;
  const std::size_t available = buffer_.size() - consumed_;
  if (available < frame_header_size) return status::need_more;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
  const std::uint32_t length =
      (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (length == 0) {
    error_ = errc::frame_empty;
    return status::error;
  }
  if (length > max_frame_size) {
    error_ = errc::frame_too_large;
    return status::error;
  }
  if (available - frame_header_size < length) return status::need_more;
  payload.assign(buffer_, consumed_ + frame_header_size, length);
  consumed_ += frame_header_size + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > max_frame_size) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return status::frame;
}

std::error_code encode_frame(std::string_view payload, std::string& out) {
  if (payload.empty()) return errc::frame_empty;
  if (payload.size() > max_frame_size) return errc::frame_too_large;
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(payload);
  return {};
}

}  // namespace dropspot
