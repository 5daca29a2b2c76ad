// Windows side of common/os.h.
#include <windows.h>

#include <filesystem>
#include <io.h>

#include "common/os.h"

namespace dropspot::os {

bool ansi_terminal(std::FILE* stream) {
  if (::_isatty(::_fileno(stream)) == 0) return false;
  HANDLE console = ::GetStdHandle(stream == stderr ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE);
  DWORD mode = 0;
  if (console == INVALID_HANDLE_VALUE || !::GetConsoleMode(console, &mode)) return false;
  if (mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING) return true;
  // Windows 10 and later: the console interprets ANSI escapes once asked to.
  return ::SetConsoleMode(console, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0;
}

int terminal_columns(std::FILE* stream) {
  if (::_isatty(::_fileno(stream)) == 0) return 0;
  CONSOLE_SCREEN_BUFFER_INFO info{};
  HANDLE console = ::GetStdHandle(stream == stderr ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE);
  if (console == INVALID_HANDLE_VALUE || !::GetConsoleScreenBufferInfo(console, &info)) return 0;
  return info.srWindow.Right - info.srWindow.Left + 1;
}

std::optional<file_facts> examine_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return std::nullopt;
  file_facts facts;
  facts.regular = std::filesystem::is_regular_file(status);
  if (facts.regular) {
    facts.size = std::filesystem::file_size(path, ec);
    if (ec) return std::nullopt;
  }
  // Who may read it is in the file's ACL, which is not examined yet.
  return facts;
}

void owner_only_new_files() {}

void owner_only(const std::string&) {}

void ignore_broken_pipes() {}

}  // namespace dropspot::os
