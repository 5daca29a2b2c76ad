#pragma once
// The little that prober serve and the agent's --metrics share on top of
// civetweb (Debian's libcivetweb-dev): a whole answer in one call, the
// listening address in civetweb's words, and /metrics from a registry.
#include <functional>
#include <memory>
#include <string>

#include "common/endpoint.h"
#include "common/result.h"

struct mg_connection;
class CivetServer;
namespace prometheus {
class Registry;
}

namespace dropspot::http {

/// The Prometheus text exposition's media type.
inline constexpr const char* exposition_type = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr const char* text_type = "text/plain; charset=utf-8";

/// Sends status, Content-Type, Content-Length, Cache-Control: no-store and the body.
void send(mg_connection* conn, int status, const std::string& body, const char* type);

/// civetweb's listening_ports for an address and port: "203.0.113.1:9115",
/// "[2001:db8::1]:9115".
std::string listening_port(const endpoint_spec& listen);

/// Starts civetweb on `listen` with `threads` threads, each connection's
/// reads and writes timing out after 5 s (a slow client holds one thread),
/// no keep-alive; the error says why it cannot serve there.
result<std::shared_ptr<CivetServer>> start_server(const endpoint_spec& listen, unsigned threads);

/// On a server start_server made: GET /metrics (the registry's exposition),
/// and 404 naming `paths` for any path no other handler takes (on_not_found
/// called first, to count them). The registry must outlive the server.
void serve_metrics(CivetServer& server, prometheus::Registry& registry, const std::string& paths = "GET /metrics",
                   std::function<void()> on_not_found = {});

}  // namespace dropspot::http
