#include "common/http.h"

#include <CivetServer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <vector>

#include "common/net.h"
#include "common/text.h"

namespace dropspot::http {

namespace {

class metrics_handler : public CivetHandler {
 public:
  explicit metrics_handler(prometheus::Registry& registry) : registry_(registry) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    send(conn, 200, prometheus::TextSerializer().Serialize(registry_.Collect()), exposition_type);
    return true;
  }

 private:
  prometheus::Registry& registry_;
};

class not_found_handler : public CivetHandler {
 public:
  explicit not_found_handler(std::string paths) : paths_(std::move(paths)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    if (on_not_found) on_not_found();
    send(conn, 404, "no such path: " + paths_ + "\n", text_type);
    return true;
  }
  std::function<void()> on_not_found;

 private:
  std::string paths_;
};

/// The handlers live as long as the server: civetweb keeps pointers.
struct metrics_server : CivetServer {
  using CivetServer::CivetServer;
  std::unique_ptr<metrics_handler> metrics;
  std::unique_ptr<not_found_handler> other;
};

}  // namespace

void send(mg_connection* conn, int status, const std::string& body, const char* type) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", type, -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  mg_write(conn, body.data(), body.size());
}

std::string listening_port(const endpoint_spec& listen) {
  return (looks_ipv6(listen.host) ? "[" + listen.host + "]" : listen.host) + ":" + std::to_string(listen.port);
}

result<std::shared_ptr<CivetServer>> start_server(const endpoint_spec& listen, unsigned threads) {
  // Debian's libcivetweb1 is built without IPv6 (the portable build's own is not).
  constexpr unsigned civetweb_ipv6 = 8;
  if (looks_ipv6(listen.host) && mg_check_feature(civetweb_ipv6) == 0)
    return result<std::shared_ptr<CivetServer>>::failure(
        "this build's civetweb (Debian's libcivetweb1) has no IPv6: listen on an IPv4 address, e.g. 127.0.0.1:" +
        std::to_string(listen.port));
  const std::vector<std::string> options{"listening_ports",    listening_port(listen),
                                         "num_threads",        std::to_string(threads),
                                         "request_timeout_ms", "5000",
                                         "enable_keep_alive",  "no",
                                         "decode_url",         "no"};
  try {
    return std::shared_ptr<CivetServer>(std::make_shared<metrics_server>(options));
  } catch (const CivetException& e) {
    return result<std::shared_ptr<CivetServer>>::failure("cannot serve on " + listening_port(listen) + " (" + e.what() +
                                                         ")");
  }
}

void serve_metrics(CivetServer& server, prometheus::Registry& registry, const std::string& paths,
                   std::function<void()> on_not_found) {
  auto& owner = static_cast<metrics_server&>(server);
  owner.metrics = std::make_unique<metrics_handler>(registry);
  owner.other = std::make_unique<not_found_handler>(paths);
  owner.other->on_not_found = std::move(on_not_found);
  server.addHandler("/metrics", owner.metrics.get());
  server.addHandler("/", owner.other.get());
}

}  // namespace dropspot::http
