#pragma once
// Token handling and the channel-bound proof of knowledge of the token.
//
// Both ends compute HMAC-SHA256(token, label || exporter) where exporter is
// the TLS exporter value (RFC 5705 / RFC 9266) of *this* TLS connection.
// A MAC recorded on one connection is useless on any other, so a relay or
// man in the middle (who necessarily has two TLS sessions) cannot reuse it.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dropspot {

inline constexpr std::string_view prober_auth_label = "dropspot prober auth v1";
inline constexpr std::string_view agent_auth_label = "dropspot agent auth v1";
/// TLS exporter label (RFC 5705 requires the "EXPORTER" prefix).
inline constexpr std::string_view exporter_label = "EXPORTER-dropspot-channel-binding";
inline constexpr std::size_t exporter_size = 32;
inline constexpr std::size_t min_token_length = 16;

using mac_bytes = std::array<std::uint8_t, 32>;

/// HMAC-SHA256(token, label || exporter).
mac_bytes compute_mac(std::string_view token, std::string_view label, std::span<const std::uint8_t> exporter);

/// Constant-time comparison of a received MAC against the expected one.
bool verify_mac(std::string_view token, std::string_view label, std::span<const std::uint8_t> exporter,
                std::string_view received);

/// The session request sealed with the prober's proof (AuthProof
/// .sealed_start), so that it needs no round trip of its own and a host
/// without the token learns nothing from it: AES-256-GCM under
/// HMAC-SHA256(token, seal_label || exporter), a key of this TLS connection
/// used for this one message (hence a zero nonce); the 16-byte tag follows
/// the ciphertext.
inline constexpr std::string_view seal_label = "dropspot session request seal v1";
std::string seal_session_request(std::string_view token, std::span<const std::uint8_t> exporter,
                                 std::string_view plaintext);
/// The plaintext, or nothing when the tag does not verify (another token,
/// another connection, or a changed message).
std::optional<std::string> open_session_request(std::string_view token, std::span<const std::uint8_t> exporter,
                                                std::string_view sealed);

/// A fresh random token: 32 random bytes, hex (64 characters).
std::string generate_token();

/// Checks a token's shape (length, printable, no spaces).
result<std::string> validate_token(std::string_view token, std::string_view origin);

struct token_source {
  std::string token;
  std::string warning;  ///< e.g. the file is readable by others
};

/// Reads the token from --token-file if given, else from DROPSPOT_TOKEN.
/// An empty result value (token empty) means neither was set.
result<token_source> load_token(const std::string& token_file, const char* env_value);

}  // namespace dropspot
