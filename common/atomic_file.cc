#include "common/atomic_file.h"

#include <filesystem>
#include <random>

#include "common/text.h"

namespace dropspot {

namespace fs = std::filesystem;

atomic_file::atomic_file(std::string path, std::string temporary)
    : path_(std::move(path)), temporary_(std::move(temporary)), out_(temporary_, std::ios::binary | std::ios::trunc) {}

result<std::unique_ptr<atomic_file>> atomic_file::create(const std::string& path) {
  using R = result<std::unique_ptr<atomic_file>>;
  const fs::path target(path);
  if (target.filename().empty()) return R::failure(quote(path) + " names a folder, not a file");
  std::error_code ec;
  if (fs::is_directory(target, ec)) return R::failure(quote(path) + " is a folder");
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, ec)) return R::failure("no folder " + quote(folder.string()) + " for " + quote(path));
  std::random_device random;
  const auto temporary = folder / ("." + target.filename().string() + ".tmp-" + std::to_string(random() % 1000000000u));
  std::unique_ptr<atomic_file> file(new atomic_file(path, temporary.string()));
  if (!file->out_) return R::failure("cannot write in " + quote(folder.string()));
  return R(std::move(file));
}

atomic_file::~atomic_file() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  fs::remove(temporary_, ec);
}

result<bool> atomic_file::commit() {
  out_.flush();
  const bool written = static_cast<bool>(out_);
  out_.close();
  std::error_code ec;
  if (!written || out_.fail()) {
    fs::remove(temporary_, ec);
    committed_ = true;
    return result<bool>::failure("cannot write " + quote(temporary_) + " (disk full?)");
  }
  fs::rename(temporary_, path_, ec);
  committed_ = true;
  if (ec) {
    fs::remove(temporary_, ec);
    return result<bool>::failure("cannot rename the new file over " + quote(path_) + ": " + ec.message());
  }
  return true;
}

}  // namespace dropspot
