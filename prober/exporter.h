#pragma once
// `prober serve`'s rules, apart from its HTTP server (prober/serve.cc): what
// a /probe request asks for, and which targets it may ask for. Pure.
#include <asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "prober/options.h"

namespace dropspot::prober {

/// A URL's query as name=value pairs in order: '+' and %XX decoded; a
/// name without '=' has an empty value. Errors: a bad %-escape, a NUL byte,
/// more than max_query_params pairs or max_query_size bytes.
using query_params = std::vector<std::pair<std::string, std::string>>;
inline constexpr std::size_t max_query_size = 4096;
inline constexpr std::size_t max_query_params = 64;
result<query_params> parse_query(std::string_view query);

/// /probe's parameters as a --targets-file line: target (required, once),
/// ports, and agent, expect, probe, timeout, app-timeout as on a line
/// (agent, expect and probe repeatable). ssh is not taken over HTTP: it
/// would run ssh with this server's keys towards a login the caller names.
result<target_line> probe_request(const query_params& params);

/// One --allow-target: a host name (the target's name as given, any case,
/// a trailing dot ignored) or an address prefix ("203.0.113.0/24", one
/// address); "*" allows any target (a lab's, never the internet's).
struct allow_rule {
  std::string text;  ///< as given (a name lower-cased)
  bool any = false;
  bool prefix = false;  ///< an address or prefix, else a name
};
result<allow_rule> parse_allow_rule(std::string_view text);

/// Whether the rules allow probing `host` at `address` (the address it
/// resolved to, the one probed): a name rule matches the host, a prefix
/// rule the address.
bool target_allowed(const std::vector<allow_rule>& rules, std::string_view host,
                    const std::optional<asio::ip::address>& address);

}  // namespace dropspot::prober
