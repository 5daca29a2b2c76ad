#pragma once
// Command-line parsing shared by agent and prober: help and version exit 0,
// any parse error is one line on stderr and exit code 2.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>

namespace dropspot {

/// Parses argv into app. Returns the exit code when the program should stop
/// now (help, version, or a usage error), nothing when it should go on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, const std::string& program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << program << ": " << e.what() << " (see " << program << " --help)\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace dropspot
