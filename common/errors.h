#pragma once
// Errors of the control protocol, as an error_code category.
#include <string>
#include <system_error>

namespace dropspot {

enum class errc {
  ok = 0,
  frame_too_large = 1,     ///< a length prefix above max_frame_size
  frame_empty = 2,         ///< a zero length prefix: no message is empty
  bad_message = 3,         ///< the payload is not a valid Envelope
  closed = 4,              ///< the peer closed the channel (possibly mid-frame)
  timeout = 5,             ///< a read or handshake deadline passed
  version_mismatch = 6,    ///< the peer speaks another protocol version
  unexpected_message = 7,  ///< a valid message at the wrong step
  auth_failed = 8,         ///< the MAC did not match the token
  peer_error = 9,          ///< the peer sent an Error message
  no_token = 10,           ///< no token was configured
};

const std::error_category& protocol_category();
std::error_code make_error_code(errc e);

}  // namespace dropspot

template <>
struct std::is_error_code_enum<dropspot::errc> : std::true_type {};
