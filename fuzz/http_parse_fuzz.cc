// The HTTP response head parser (prober/app/parse) on whatever a server sends,
// at every prefix length the probe may have read, then the result built from it.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prober/app/parse.h"

using namespace dropspot::prober::app;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const std::size_t cap = 16 * 1024;
  const auto r = parse_http_head(all, cap);
  if (r.status == parse_status::done) {
    if (r.value.head_size == 0 || r.value.head_size > size) std::abort();
    if (r.value.status < 100 || r.value.status > 599) std::abort();
    // The head alone parses to the same thing.
    const auto again = parse_http_head(all.substr(0, r.value.head_size), cap);
    if (again.status != parse_status::done || again.value.headers != r.value.headers) std::abort();
    (void)http_result(r.value);
    (void)r.value.header("location");
  }
  if (r.status == parse_status::bad && r.error.empty()) std::abort();
  // A prefix of a head is never done past what the whole says.
  if (size > 1) {
    const auto half = parse_http_head(all.substr(0, size / 2), cap);
    if (half.status == parse_status::done && r.status != parse_status::done) std::abort();
  }
  (void)banner_text(all);
  return 0;
}
