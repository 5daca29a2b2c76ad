#include "agent/host_files.h"

#include <unistd.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace dropspot::agent {

bool read_text(const std::string& path, std::string& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  out = s.str();
  return true;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string join_root(const std::string& root, std::string_view path) {
  if (root.empty() || root == "/") return std::string(path);
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + std::string(path);
}

std::string this_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace dropspot::agent
