// The SMTP reply parser (prober/app/parse): one reply (multi-line), the EHLO
// capabilities and the text shown for it.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prober/app/parse.h"

using namespace dropspot::prober::app;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto r = parse_smtp_reply(all, 64 * 1024);
  if (r.status == parse_status::done) {
    if (r.value.size == 0 || r.value.size > size) std::abort();
    if (r.value.code < 200 || r.value.code > 599 || r.value.lines.empty()) std::abort();
    const auto again = parse_smtp_reply(all.substr(0, r.value.size), 64 * 1024);
    if (again.status != parse_status::done || again.value.lines != r.value.lines) std::abort();
    (void)ehlo_capabilities(r.value);
    (void)has_capability(r.value, "STARTTLS");
    (void)smtp_reply_text(r.value);
  }
  if (r.status == parse_status::bad && r.error.empty()) std::abort();
  (void)banner_text(all, 40);
  return 0;
}
