#include "common/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/os.h"
#include "common/text.h"

namespace dropspot {

mac_bytes compute_mac(std::string_view token, std::string_view label, std::span<const std::uint8_t> exporter) {
  std::string message(label);
  message.append(reinterpret_cast<const char*>(exporter.data()), exporter.size());
  mac_bytes mac{};
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &length) ||
      length != mac.size())
    throw std::runtime_error("HMAC-SHA256 failed");
  return mac;
}

bool verify_mac(std::string_view token, std::string_view label, std::span<const std::uint8_t> exporter,
                std::string_view received) {
  const mac_bytes expected = compute_mac(token, label, exporter);
  if (received.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

namespace {

constexpr std::size_t gcm_tag_size = 16;

/// AES-256-GCM one way or the other with a zero nonce; false when the tag
/// does not verify (open) or OpenSSL fails.
bool aes_gcm(bool seal, const mac_bytes& key, std::string_view in, std::string& out, unsigned char* tag) {
  const std::array<unsigned char, 12> nonce{};
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data(), seal ? 1 : 0) != 1)
    return false;
  out.resize(in.size());
  int n = 0;
  if (!in.empty() &&
      EVP_CipherUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n,
                       reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size())) != 1)
    return false;
  if (!seal && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, gcm_tag_size, tag) != 1) return false;
  int tail = 0;
  if (EVP_CipherFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &tail) != 1) return false;
  return !seal || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, gcm_tag_size, tag) == 1;
}

}  // namespace

std::string seal_session_request(std::string_view token, std::span<const std::uint8_t> exporter,
                                 std::string_view plaintext) {
  const auto key = compute_mac(token, seal_label, exporter);
  std::string out;
  std::array<unsigned char, gcm_tag_size> tag{};
  if (!aes_gcm(true, key, plaintext, out, tag.data())) throw std::runtime_error("AES-256-GCM failed");
  out.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  return out;
}

std::optional<std::string> open_session_request(std::string_view token, std::span<const std::uint8_t> exporter,
                                                std::string_view sealed) {
  if (token.empty() || sealed.size() < gcm_tag_size) return std::nullopt;
  const auto key = compute_mac(token, seal_label, exporter);
  std::array<unsigned char, gcm_tag_size> tag{};
  std::memcpy(tag.data(), sealed.data() + sealed.size() - gcm_tag_size, gcm_tag_size);
  std::string out;
  if (!aes_gcm(false, key, sealed.substr(0, sealed.size() - gcm_tag_size), out, tag.data())) return std::nullopt;
  return out;
}

std::string generate_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("no randomness available for a token");
  static constexpr char hex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 0xf];
  }
  return token;
}

result<std::string> validate_token(std::string_view token, std::string_view origin) {
  using R = result<std::string>;
  token = trim(token);
  if (token.empty()) return R::failure(std::string(origin) + " is empty");
  for (unsigned char c : token)
    if (c <= 0x20 || c >= 0x7f) return R::failure(std::string(origin) + " contains spaces or non-printable characters");
  if (token.size() < min_token_length)
    return R::failure(std::string(origin) + " is too short (at least " + std::to_string(min_token_length) +
                      " characters; `agent token` makes a good one)");
  if (token.size() > 4096) return R::failure(std::string(origin) + " is too long (at most 4096 characters)");
  return std::string(token);
}

result<token_source> load_token(const std::string& token_file, const char* env_value) {
  using R = result<token_source>;
  token_source source;
  if (!token_file.empty()) {
    const auto st = os::examine_file(token_file);
    if (!st) return R::failure("token file " + quote(token_file) + " cannot be read");
    if (!st->regular) return R::failure("token file " + quote(token_file) + " is not a regular file");
    if (st->size > 8192) return R::failure("token file " + quote(token_file) + " is too large for a token");
    std::ifstream in(token_file, std::ios::binary);
    if (!in) return R::failure("token file " + quote(token_file) + " cannot be read");
    std::stringstream content;
    content << in.rdbuf();
    auto token = validate_token(content.str(), "token file " + quote(token_file));
    if (!token) return R::failure(token.error());
    source.token = *token;
    if (!st->others_may_access)
      source.warning = "token file " + quote(token_file) + ": who may read it is not checked on this platform";
    else if (*st->others_may_access)
      source.warning = "token file " + quote(token_file) + " is readable by others: chmod 600 it";
    return source;
  }
  if (env_value != nullptr) {
    auto token = validate_token(env_value, "DROPSPOT_TOKEN");
    if (!token) return R::failure(token.error());
    source.token = *token;
  }
  return source;
}

}  // namespace dropspot
