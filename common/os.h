#pragma once
// The few things common/ and the prober need from the operating system
// beyond the C++ library and asio: whether a stream is a terminal that shows
// colours, and who may read a file. os_posix.cc (Linux, macOS) and
// os_windows.cc implement them; nothing else includes system headers.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace dropspot::os {

/// True when `stream` (stdout or stderr) is an interactive terminal that
/// understands ANSI escapes. On Windows this turns on the console's virtual
/// terminal processing, and is false where the console cannot.
bool ansi_terminal(std::FILE* stream);

/// The width of the terminal `stream` writes to, in columns; 0 when it is
/// not a terminal (or its width is unknown).
int terminal_columns(std::FILE* stream);

/// What stat(2) tells about a file, following links.
struct file_facts {
  bool regular = false;
  std::uintmax_t size = 0;
  /// Whether other users (group or others) may access it; empty where this
  /// platform's check is not implemented (Windows ACLs).
  std::optional<bool> others_may_access;
};

/// nullopt when the path cannot be examined.
std::optional<file_facts> examine_file(const std::string& path);

/// From now on, files this process creates are for its owner only (POSIX
/// umask 077; Windows: no-op, new files inherit the folder's ACL).
void owner_only_new_files();

/// Makes an existing file readable and writable by its owner only (POSIX
/// chmod 0600; Windows: no-op, see owner_only_new_files).
void owner_only(const std::string& path);

/// Writing to a pipe whose reader is gone fails with an error (EPIPE) instead
/// of killing the process (POSIX SIGPIPE, ignored; Windows has none): an ssh
/// child that exits at once, or a `| head` on stdout, is then an error the
/// caller reports, not a silent death (exit 141).
void ignore_broken_pipes();

}  // namespace dropspot::os
