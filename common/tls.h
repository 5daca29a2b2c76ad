#pragma once
// TLS 1.3 contexts for the control channel and the channel-binding value.
#include <asio/ssl.hpp>
#include <optional>
#include <string>

#include "common/auth.h"

namespace dropspot {

/// Agent side: a self-signed EC P-256 certificate, made on first use. With a
/// non-empty state_dir, the key and certificate are kept there (0600) and
/// reused; otherwise they live in memory only. Throws on failure.
asio::ssl::context make_agent_tls_context(const std::string& state_dir);

/// Prober side: TLS 1.3 only. The agent's certificate is not verified: the
/// token MAC over the exporter value authenticates the agent instead.
asio::ssl::context make_prober_tls_context();

/// The RFC 5705 exporter value of an established TLS 1.3 connection.
std::optional<std::array<std::uint8_t, exporter_size>> export_channel_binding(SSL* ssl);

/// SHA-256 fingerprint of the peer's (or our own) certificate, hex with colons.
std::string certificate_fingerprint(X509* cert);

}  // namespace dropspot
