#pragma once
// Durations as users write them: "500ms", "3s", "1m", "1m30s", "1.5s".
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dropspot {

using millis = std::chrono::milliseconds;

/// Parses a duration made of one or more <number><unit> parts (units ms, s,
/// m, h; the number may have a fraction). A bare number is an error, since
/// "500" could mean either milliseconds or seconds. At most 24 hours.
result<millis> parse_duration(std::string_view text);

/// "1.5s", "250ms", "2m".
std::string format_duration(millis d);

/// The wall clock in microseconds since the Unix epoch: the times of
/// attempts and packets, which the prober and the agent compare.
std::uint64_t now_unix_us();

}  // namespace dropspot
