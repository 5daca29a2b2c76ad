#pragma once
// One line per event on stderr, with a UTC timestamp. Never pass secrets.
#include <string_view>

namespace dropspot::agent {

void log_line(std::string_view message);

}  // namespace dropspot::agent
