#include "common/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fstream>
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
