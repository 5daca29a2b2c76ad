#pragma once
// Reading the tests' data (tests/data/) and splitting rendered text into lines.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dropspot::test {

/// The whole file tests/data/<name>; the test fails when it is missing.
/// (DROPSPOT_TEST_DATA is set for the agent's tests, tests/CMakeLists.txt.)
#ifdef DROPSPOT_TEST_DATA
inline std::string data_file(const std::string& name) {
  std::ifstream in(std::string(DROPSPOT_TEST_DATA) + "/" + name);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
#endif

/// The lines of `text`, without their line breaks.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace dropspot::test
