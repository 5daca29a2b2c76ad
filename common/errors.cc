#include "common/errors.h"

namespace dropspot {

namespace {

class protocol_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dropspot"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::ok: return "success";
      case errc::frame_too_large: return "frame larger than 1 MiB";
      case errc::frame_empty: return "empty frame";
      case errc::bad_message: return "malformed message";
      case errc::closed: return "connection closed by peer";
      case errc::timeout: return "timed out";
      case errc::version_mismatch: return "protocol version mismatch";
      case errc::unexpected_message: return "unexpected message";
      case errc::auth_failed: return "authentication failed";
      case errc::peer_error: return "peer reported an error";
      case errc::no_token: return "no token configured";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& protocol_category() {
  static const protocol_category_impl category;
  return category;
}

std::error_code make_error_code(errc e) { return {static_cast<int>(e), protocol_category()}; }

}  // namespace dropspot
