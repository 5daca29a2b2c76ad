// POSIX side of common/os.h (Linux, macOS).
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "common/os.h"

namespace dropspot::os {

bool ansi_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)) != 0; }

int terminal_columns(std::FILE* stream) {
  struct winsize size {};
  if (::isatty(::fileno(stream)) == 0 || ::ioctl(::fileno(stream), TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

std::optional<file_facts> examine_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  file_facts facts;
  facts.regular = S_ISREG(st.st_mode);
  facts.size = static_cast<std::uintmax_t>(st.st_size);
  facts.others_may_access = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
  return facts;
}

void owner_only_new_files() { ::umask(077); }

void owner_only(const std::string& path) { ::chmod(path.c_str(), 0600); }

void ignore_broken_pipes() { ::signal(SIGPIPE, SIG_IGN); }

}  // namespace dropspot::os
