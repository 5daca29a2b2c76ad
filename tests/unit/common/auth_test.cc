#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/auth.h"
#include "support/tls_pair.h"

using namespace dropspot;

TEST_CASE("MAC: right token verifies, wrong token does not") {
  const std::array<std::uint8_t, 32> exporter{1, 2, 3};
  const std::string token = "0123456789abcdef0123";
  const auto mac = compute_mac(token, prober_auth_label, exporter);
  const std::string sent(reinterpret_cast<const char*>(mac.data()), mac.size());
  CHECK(verify_mac(token, prober_auth_label, exporter, sent));
  CHECK_FALSE(verify_mac("0123456789abcdef0124", prober_auth_label, exporter, sent));
  // The agent's proof is not the prober's: no reflection.
  CHECK_FALSE(verify_mac(token, agent_auth_label, exporter, sent));
  CHECK_FALSE(verify_mac(token, prober_auth_label, exporter, sent.substr(0, 31)));
  CHECK_FALSE(verify_mac(token, prober_auth_label, exporter, ""));
}

TEST_CASE("MAC from another TLS session does not verify (channel binding)") {
  asio::io_context io;
  auto server_ctx = make_agent_tls_context("");
  auto client_ctx = make_prober_tls_context();
  auto a = testing::make_tls_pair(io, server_ctx, client_ctx);
  auto b = testing::make_tls_pair(io, server_ctx, client_ctx);
  const auto a_client = a.client->channel_binding().value();
  const auto a_server = a.server->channel_binding().value();
  const auto b_server = b.server->channel_binding().value();
  CHECK(a_client == a_server);  // both ends of one session agree
  CHECK(a_server != b_server);  // sessions differ

  const std::string token = "0123456789abcdef0123";
  const auto mac = compute_mac(token, prober_auth_label, a_client);
  const std::string sent(reinterpret_cast<const char*>(mac.data()), mac.size());
  CHECK(verify_mac(token, prober_auth_label, a_server, sent));
  CHECK_FALSE(verify_mac(token, prober_auth_label, b_server, sent));
}

TEST_CASE("the sealed session request: opened only with the token, on the same connection, unchanged") {
  const std::array<std::uint8_t, 32> exporter{1, 2, 3};
  const std::array<std::uint8_t, 32> other_connection{1, 2, 4};
  const std::string token = "0123456789abcdef0123";
  const std::string request = "ports 22, 25, 80";
  const auto sealed = seal_session_request(token, exporter, request);
  CHECK(sealed.size() == request.size() + 16);       // the GCM tag follows
  CHECK(sealed.find("ports") == std::string::npos);  // nothing in the clear
  CHECK(open_session_request(token, exporter, sealed) == request);
  CHECK_FALSE(open_session_request("0123456789abcdef0124", exporter, sealed));
  CHECK_FALSE(open_session_request(token, other_connection, sealed));
  auto changed = sealed;
  changed[0] = static_cast<char>(changed[0] ^ 1);
  CHECK_FALSE(open_session_request(token, exporter, changed));
  CHECK_FALSE(open_session_request(token, exporter, sealed.substr(0, 15)));
  CHECK_FALSE(open_session_request("", exporter, sealed));
  // The key is not the MAC: a proof does not open the request.
  CHECK(seal_session_request(token, exporter, "") != seal_session_request(token, other_connection, ""));
  CHECK(open_session_request(token, exporter, seal_session_request(token, exporter, "")) == std::string());
}

TEST_CASE("tokens: generated ones are long and distinct; bad ones are refused") {
  const auto t1 = generate_token();
  const auto t2 = generate_token();
  CHECK(t1.size() == 64);
  CHECK(t1 != t2);
  CHECK(validate_token(t1, "x").ok());
  CHECK(validate_token("  " + t1 + "\n", "x").value() == t1);
  CHECK_FALSE(validate_token("", "x").ok());
  CHECK_FALSE(validate_token("short", "x").ok());
  CHECK_FALSE(validate_token("has space in the token 123", "x").ok());
  CHECK_FALSE(validate_token(std::string(5000, 'a'), "x").ok());
}

TEST_CASE("token files: missing, empty, world-readable") {
  CHECK_FALSE(load_token("/nonexistent/token", nullptr).ok());
  char path[] = "/tmp/dropspot-token-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  CHECK_FALSE(load_token(path, nullptr).ok());  // empty
  {
    std::FILE* f = std::fopen(path, "w");
    std::fputs("0123456789abcdef0123\n", f);
    std::fclose(f);
  }
  chmod(path, 0600);
  auto ok = load_token(path, "ignored-when-a-file-is-given");
  REQUIRE(ok.ok());
  CHECK(ok->token == "0123456789abcdef0123");
  CHECK(ok->warning.empty());
  chmod(path, 0644);
  CHECK_FALSE(load_token(path, nullptr)->warning.empty());
  std::remove(path);
  CHECK(load_token("", "0123456789abcdef0123")->token == "0123456789abcdef0123");
  CHECK(load_token("", nullptr)->token.empty());
  CHECK_FALSE(load_token("", "short").ok());
  CHECK_FALSE(load_token("/tmp", nullptr).ok());  // a directory
}

TEST_CASE("agent TLS key: kept 0600 in the state directory and reused") {
  char dir_template[] = "/tmp/dropspot-state-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = std::string(dir_template) + "/agent";
  make_agent_tls_context(dir);
  struct stat key_stat {};
  REQUIRE(stat((dir + "/agent-key.pem").c_str(), &key_stat) == 0);
  CHECK((key_stat.st_mode & 0777) == 0600);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string cert = read(dir + "/agent-cert.pem");
  CHECK(cert.find("BEGIN CERTIFICATE") != std::string::npos);
  make_agent_tls_context(dir);  // a second start reuses the key
  CHECK(read(dir + "/agent-cert.pem") == cert);
  std::filesystem::remove_all(dir_template);
}
