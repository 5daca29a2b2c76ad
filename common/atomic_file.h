#pragma once
// A file replaced whole or not at all: written to a new file beside it and
// renamed over it on commit, so a reader (node_exporter's textfile
// collector, a dashboard, a script) sees the old contents or the new, never
// half. Nothing is left behind when commit is not reached.
#include <fstream>
#include <memory>
#include <string>

#include "common/result.h"

namespace dropspot {

class atomic_file {
 public:
  /// Creates the temporary file (".NAME.tmp-RANDOM" in the same folder,
  /// where rename(2) is atomic); fails, with a line saying why, when the
  /// folder does not exist or cannot be written.
  static result<std::unique_ptr<atomic_file>> create(const std::string& path);
  ~atomic_file();
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;

  std::ostream& stream() { return out_; }
  /// Flushes, closes and renames the file over `path`: true, or why not
  /// (the temporary file is then removed).
  result<bool> commit();

 private:
  atomic_file(std::string path, std::string temporary);
  std::string path_, temporary_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace dropspot
