// The SSH identification parser (prober/app/parse): lines before it, the
// identification itself, the KEXINIT packet after it, and the banner text a
// report shows.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "prober/app/parse.h"

using namespace dropspot::prober::app;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto r = parse_ssh_ident(all, 8 * 1024);
  if (r.status == parse_status::done) {
    if (r.value.line.rfind("SSH-", 0) != 0 || r.value.line.size() > 255) std::abort();
    if (r.value.software.empty()) std::abort();
  }
  if (r.status == parse_status::bad && r.error.empty()) std::abort();
  if (r.status == parse_status::done) {
    // What follows the line, as the probe reads it: the server's KEXINIT.
    const auto rest = all.substr(r.value.size);
    const auto k = parse_ssh_kexinit(rest, 35000);
    if (k.status == parse_status::done && (k.value.size > rest.size() || k.value.size < 16)) std::abort();
    if (k.status == parse_status::bad && k.error.empty()) std::abort();
    for (const auto& names : {k.value.kex, k.value.host_key})
      for (const auto& name : names)
        for (const char c : name)
          if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
  }
  const auto text = banner_text(all);
  // Escaped for a terminal: printable ASCII only.
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) std::abort();
  return 0;
}
