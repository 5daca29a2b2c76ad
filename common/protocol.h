#pragma once
// Constants and small builders for control-channel messages.
#include <string>
#include <string_view>

#include "dropspot.pb.h"

namespace dropspot {

inline constexpr unsigned protocol_version = 1;
inline constexpr std::string_view software_version = "0.1.0";
inline constexpr unsigned short default_agent_port = 7411;

/// Parses a frame payload into an Envelope; false when it is not one, or
/// when it carries no message at all.
bool parse_envelope(const std::string& payload, v1::Envelope& out);

v1::Envelope make_hello(std::string_view software);
v1::Envelope make_error(v1::Error::Code code, std::string message);

/// The name of the message an envelope carries ("hello", "auth", ...).
std::string body_name(const v1::Envelope& envelope);

}  // namespace dropspot
