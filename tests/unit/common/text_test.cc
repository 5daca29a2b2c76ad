#include "common/text.h"

#include <catch2/catch.hpp>

using namespace dropspot;

TEST_CASE("text: trim, split and words") {
  CHECK(trim("  a b \t\r\n") == "a b");
  CHECK(trim("   ").empty());
  CHECK(split("a,,b", ',') == std::vector<std::string_view>{"a", "", "b"});
  CHECK(split("", ',') == std::vector<std::string_view>{""});
  CHECK(words("  Port   2222\t# x ") == std::vector<std::string>{"Port", "2222", "#", "x"});
  CHECK(words(" \t ").empty());
}

TEST_CASE("text: escape and quote make any bytes printable, and say what they were") {
  CHECK(escape("plain text: 1/2") == "plain text: 1/2");
  CHECK(escape("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e");
  CHECK(escape(std::string("\0\x1b[2J\x7f\xc3\xa9", 8)) == "\\x00\\x1b[2J\\x7f\\xc3\\xa9");
  CHECK(quote("it's") == "'it's'");
  CHECK(quote("\x01") == "'\\x01'");
  for (int c = 0; c < 256; ++c) {
    const auto shown = escape(std::string(1, static_cast<char>(c)));
    for (unsigned char s : shown) CHECK((s >= 0x20 && s < 0x7f));
  }
}

TEST_CASE("text: lower and starts_with_icase") {
  CHECK(lower("SSH-2.0-OpenSSH_9.2") == "ssh-2.0-openssh_9.2");
  CHECK(starts_with_icase("EHLO mx", "ehlo"));
  CHECK_FALSE(starts_with_icase("EH", "ehlo"));
}

TEST_CASE("text: contains and add_unique keep a list's order without repeats") {
  std::vector<std::string> advice;
  add_unique(advice, "systemctl start nginx");
  add_unique(advice, "ufw allow 80/tcp");
  add_unique(advice, "systemctl start nginx");
  CHECK(advice == std::vector<std::string>{"systemctl start nginx", "ufw allow 80/tcp"});
  CHECK(contains(advice, "ufw allow 80/tcp"));
  CHECK_FALSE(contains(advice, "ufw allow"));
}
