#include "common/tls.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/os.h"

namespace dropspot {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

std::string openssl_error(const char* what) {
  std::string message = what;
  if (unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    message += ": ";
    message += buf;
  }
  return message;
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

struct key_pair {
  std::string key_pem;
  std::string cert_pem;
};

key_pair make_self_signed() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error(openssl_error("cannot generate the agent key"));
  x509_ptr cert(X509_new());
  if (!cert) throw std::runtime_error(openssl_error("cannot create the agent certificate"));
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) throw std::runtime_error("no randomness for a serial number");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("dropspot-agent"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    throw std::runtime_error(openssl_error("cannot sign the agent certificate"));

  key_pair pair;
  bio_ptr key_bio(BIO_new(BIO_s_mem()));
  bio_ptr cert_bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ||
      !PEM_write_bio_X509(cert_bio.get(), cert.get()))
    throw std::runtime_error(openssl_error("cannot encode the agent key"));
  pair.key_pem = bio_string(key_bio.get());
  pair.cert_pem = bio_string(cert_bio.get());
  return pair;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_private_file(const std::filesystem::path& path, const std::string& content) {
  const std::string tmp = path.string() + ".tmp";
  os::owner_only_new_files();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  os::owner_only(tmp);
  std::filesystem::rename(tmp, path);
}

key_pair load_or_make(const std::string& state_dir) {
  if (state_dir.empty()) return make_self_signed();
  namespace fs = std::filesystem;
  const fs::path dir(state_dir);
  const fs::path key_path = dir / "agent-key.pem";
  const fs::path cert_path = dir / "agent-cert.pem";
  std::error_code ec;
  if (fs::exists(key_path, ec) && fs::exists(cert_path, ec)) {
    key_pair pair{read_file(key_path), read_file(cert_path)};
    if (!pair.key_pem.empty() && !pair.cert_pem.empty()) return pair;
  }
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create state directory " + state_dir + ": " + ec.message());
  key_pair pair = make_self_signed();
  write_private_file(key_path, pair.key_pem);
  write_private_file(cert_path, pair.cert_pem);
  return pair;
}

}  // namespace

asio::ssl::context make_agent_tls_context(const std::string& state_dir) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  ctx.set_options(asio::ssl::context::no_compression);
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.native_handle(), 0);
  const key_pair pair = load_or_make(state_dir);
  ctx.use_certificate_chain(asio::buffer(pair.cert_pem));
  ctx.use_private_key(asio::buffer(pair.key_pem), asio::ssl::context::pem);
  return ctx;
}

asio::ssl::context make_prober_tls_context() {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
  ctx.set_verify_mode(asio::ssl::verify_none);
  return ctx;
}

std::optional<std::array<std::uint8_t, exporter_size>> export_channel_binding(SSL* ssl) {
  std::array<std::uint8_t, exporter_size> out{};
  if (SSL_export_keying_material(ssl, out.data(), out.size(), exporter_label.data(), exporter_label.size(), nullptr, 0,
                                 0) != 1)
    return std::nullopt;
  return out;
}

std::string certificate_fingerprint(X509* cert) {
  if (cert == nullptr) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xf];
  }
  return out;
}

}  // namespace dropspot
