#pragma once
// The agent's command line (contract in DESIGN.md).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/endpoint.h"
#include "common/result.h"

namespace dropspot::agent {

struct raw_options {
  std::vector<std::string> listen;
  std::string token_file;
  std::vector<std::string> interfaces;
  std::string allow_ports;
  std::string pcap_dir;
  std::string state_dir;
  bool stdio = false;
  std::string peer;
  unsigned max_sessions = 16;
  std::string max_session = "5m";
};

struct options {
  std::vector<endpoint_spec> listen;  ///< default [::]:7411
  std::string token_file;
  std::vector<std::string> interfaces;
  std::vector<std::uint16_t> allow_ports;  ///< empty: every port
  std::string pcap_dir;
  std::string state_dir;
  bool stdio = false;
  std::string peer;
  unsigned max_sessions = 16;
  std::chrono::milliseconds max_session{300'000};
};

void setup_options(CLI::App& app, raw_options& raw);
result<options> validate_options(const raw_options& raw);

}  // namespace dropspot::agent
