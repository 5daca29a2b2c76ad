#include "common/duration.h"

#include <cmath>
#include <cstdio>

#include "common/text.h"

namespace dropspot {

result<millis> parse_duration(std::string_view text) {
  using R = result<millis>;
  const std::string shown = quote(text.substr(0, 40));
  text = trim(text);
  if (text.empty()) return R::failure("empty duration");
  double total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    bool dot = false;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !dot))) {
      if (text[i] == '.') dot = true;
      ++i;
    }
    std::string_view number = text.substr(start, i - start);
    if (number.empty() || number == ".") return R::failure("duration " + shown + " is not like 500ms, 3s, 1m or 1m30s");
    std::size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = lower(text.substr(unit_start, i - unit_start));
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else if (unit.empty()) {
      return R::failure("duration " + shown + " has no unit: write e.g. " + std::string(number) + "ms or " +
                        std::string(number) + "s");
    } else {
      return R::failure("duration " + shown + " has an unknown unit " + quote(unit) + " (use ms, s, m or h)");
    }
    // Digits only (checked above), so strtod cannot fail; cap the length to stay finite.
    if (number.size() > 12) return R::failure("duration " + shown + " is too long (at most 24h)");
    total_ms += std::strtod(std::string(number).c_str(), nullptr) * scale;
  }
  if (total_ms > 24.0 * 3'600'000) return R::failure("duration " + shown + " is too long (at most 24h)");
  return millis(static_cast<long long>(std::llround(total_ms)));
}

std::string format_duration(millis d) {
  auto ms = d.count();
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    if (ms % 1000 == 0)
      std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
    else
      std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms % 60'000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ms / 60'000));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>((ms % 60'000) / 1000));
  }
  return buf;
}

std::uint64_t now_unix_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace dropspot
