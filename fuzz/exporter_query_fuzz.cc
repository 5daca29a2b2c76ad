// What prober serve reads from the network before anything runs: a /probe
// URL's query (parse_query, probe_request, then the options it makes), and
// the same bytes as a --targets-file. Every outcome is a value or one line.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prober/exporter.h"
#include "prober/options.h"

using namespace dropspot;
using namespace dropspot::prober;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto query = parse_query(text)) {
    if (query.value().size() > max_query_params) std::abort();
    for (const auto& [name, value] : query.value())
      if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) std::abort();
    if (auto line = probe_request(query.value())) {
      if (line.value().host.empty()) std::abort();
      raw_options raw;
      raw.targets = {line.value().host};
      apply_target_line(raw, line.value());
      if (auto o = validate_options(raw); !o && (o.error().empty() || o.error().find('\n') != std::string::npos))
        std::abort();
    } else if (line.error().empty()) {
      std::abort();
    }
  } else if (query.error().empty()) {
    std::abort();
  }
  if (auto rule = parse_allow_rule(text)) {
    (void)target_allowed({rule.value()}, text, std::nullopt);
  }
  if (auto lines = parse_targets_file(text)) {
    for (const auto& l : lines.value())
      if (l.host.empty() || l.line == 0) std::abort();
  } else if (lines.error().empty()) {
    std::abort();
  }
  return 0;
}
