#pragma once
// Constants and small builders for control-channel messages.
#include <chrono>
#include <string>
#include <string_view>

#include "dropspot.pb.h"

namespace dropspot {

inline constexpr unsigned protocol_version = 1;
inline constexpr std::string_view software_version = "0.1.0";
/// Report.schema_version: the JSON report's shape (docs/json.md).
inline constexpr unsigned report_schema_version = 1;
inline constexpr unsigned short default_agent_port = 7411;

/// After ProbesDone the agent waits this long for its host facts (firewall,
/// services: external commands, slow on a loaded host) before it sends the
/// summary without them (SessionSummary.host_facts_missing says so).
inline constexpr std::chrono::milliseconds host_facts_grace{10'000};
/// The agent logs host facts that took longer than this.
inline constexpr std::chrono::milliseconds host_facts_slow{2'000};
/// How long the prober waits for the summary after ProbesDone: the agent's
/// grace plus a margin for the channel.
inline constexpr std::chrono::milliseconds summary_deadline = host_facts_grace + std::chrono::milliseconds(3'000);
static_assert(summary_deadline > host_facts_grace);

/// Parses a frame payload into an Envelope; false when it is not one, or
/// when it carries no message at all.
bool parse_envelope(const std::string& payload, v1::Envelope& out);

v1::Envelope make_hello(std::string_view software);
v1::Envelope make_error(v1::Error::Code code, std::string message);

/// The name of the message an envelope carries ("hello", "auth", ...).
std::string body_name(const v1::Envelope& envelope);

}  // namespace dropspot
