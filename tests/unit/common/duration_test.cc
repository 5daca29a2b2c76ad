#include <catch2/catch.hpp>

#include "common/duration.h"

using dropspot::format_duration;
using dropspot::millis;
using dropspot::parse_duration;

TEST_CASE("durations parse with units") {
  CHECK(parse_duration("500ms").value() == millis(500));
  CHECK(parse_duration("3s").value() == millis(3000));
  CHECK(parse_duration("1m").value() == millis(60'000));
  CHECK(parse_duration("1m30s").value() == millis(90'000));
  CHECK(parse_duration("1.5s").value() == millis(1500));
  CHECK(parse_duration("2h").value() == millis(7'200'000));
  CHECK(parse_duration("0s").value() == millis(0));
  CHECK(parse_duration(" 250MS ").value() == millis(250));
}

TEST_CASE("bad durations are refused") {
  const char* bad[] = {"", "5", "abc", "5x", "s", "-1s", "1.2.3s", "1s5", "25h", "99999999999999s", ".s", "1 s"};
  for (const char* text : bad) {
    INFO("input: " << text);
    CHECK_FALSE(parse_duration(text).ok());
  }
  CHECK(parse_duration("500").error().find("no unit") != std::string::npos);
  CHECK(parse_duration("5x").error().find("unknown unit") != std::string::npos);
}

TEST_CASE("durations format back") {
  CHECK(format_duration(millis(250)) == "250ms");
  CHECK(format_duration(millis(2000)) == "2s");
  CHECK(format_duration(millis(1500)) == "1.5s");
  CHECK(format_duration(millis(120'000)) == "2m");
}
