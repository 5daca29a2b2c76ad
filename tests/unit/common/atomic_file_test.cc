#include "common/atomic_file.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace dropspot;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t files_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("dropspot-atomic-" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("atomic file: the old contents until commit, then the new, and nothing else left") {
  temp_dir dir;
  const auto target = dir.path / "dropspot.prom";
  std::ofstream(target) << "old\n";
  {
    auto file = atomic_file::create(target.string());
    REQUIRE(file);
    file.value()->stream() << "new\n";
    CHECK(read(target) == "old\n");  // a reader meanwhile sees the old
    CHECK(files_in(dir.path) == 2);
    REQUIRE(file.value()->commit());
  }
  CHECK(read(target) == "new\n");
  CHECK(files_in(dir.path) == 1);
  // Not committed (the run failed): the old stays, the new file goes.
  {
    auto file = atomic_file::create(target.string());
    REQUIRE(file);
    file.value()->stream() << "half";
  }
  CHECK(read(target) == "new\n");
  CHECK(files_in(dir.path) == 1);
}

TEST_CASE("atomic file: a folder that is missing, or a folder as the file, is an error before anything runs") {
  temp_dir dir;
  auto r = atomic_file::create((dir.path / "missing" / "x.prom").string());
  REQUIRE_FALSE(r);
  CHECK(r.error().rfind("no folder '", 0) == 0);
  r = atomic_file::create(dir.path.string());
  REQUIRE_FALSE(r);
  CHECK(r.error().find("is a folder") != std::string::npos);
  CHECK(files_in(dir.path) == 0);
}
