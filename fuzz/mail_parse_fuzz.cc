// The IMAP and POP3 parsers (prober/app/parse): the greeting, a tagged
// response with its untagged lines, the capability list, and a POP3 reply in
// one-line and multi-line form. The first byte picks the parser.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prober/app/parse.h"

using namespace dropspot::prober::app;

namespace {

constexpr std::size_t cap = 64 * 1024;

void imap(const parsed<imap_response>& r, std::size_t size) {
  if (r.status == parse_status::bad && r.error.empty()) std::abort();
  if (r.status != parse_status::done) return;
  if (r.value.size == 0 || r.value.size > size || r.value.status.empty()) std::abort();
  (void)imap_capabilities(r.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: imap(parse_imap_greeting(all, cap), all.size()); break;
    case 1: imap(parse_imap_response(all, "a1", cap), all.size()); break;
    default: {
      const bool multiline = data[0] % 4 == 3;
      const auto r = parse_pop3_reply(all, multiline, cap);
      if (r.status == parse_status::bad && r.error.empty()) std::abort();
      if (r.status == parse_status::done) {
        if (r.value.size == 0 || r.value.size > all.size()) std::abort();
        if (!multiline && !r.value.lines.empty()) std::abort();
        const auto again = parse_pop3_reply(all.substr(0, r.value.size), multiline, cap);
        if (again.status != parse_status::done || again.value.lines != r.value.lines) std::abort();
      }
    }
  }
  return 0;
}
