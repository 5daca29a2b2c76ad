// Reading the host's configuration files under an injectable root directory
// (tests point the root at fixtures in tests/data).
#pragma once

#include <string>
#include <string_view>

namespace dropspot::agent {

/// The whole file at `path` into `out`; false when it cannot be opened.
bool read_text(const std::string& path, std::string& out);

/// Whether anything exists at `path`.
bool path_exists(const std::string& path);

/// `path` (absolute) under `root`; `root` empty or "/" means the real root.
std::string join_root(const std::string& root, std::string_view path);

/// This host's name (gethostname); empty when it cannot be read.
std::string this_host_name();

}  // namespace dropspot::agent
