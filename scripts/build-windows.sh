#!/usr/bin/env bash
# Cross-builds the prober for 64-bit Windows: one static prober.exe, the
# whole install. Uses Debian's MinGW-w64 (cmake/mingw-w64-x86_64.cmake) and
# builds the libraries Debian has no MinGW package of, protobuf, OpenSSL and
# prometheus-cpp's core, from Debian's own source packages
# (scripts/windows-deps.sh) into a cache folder outside the repository, reused
# when present. The source is the version the Linux build uses when the
# archive still has it, else the nearest one it offers
# (scripts/source-version.sh); the folder's name carries their versions and a
# hash of the recipe. Prints the path of prober.exe on stdout.
#
#   scripts/build-windows.sh          build (deps only when not cached)
#   scripts/build-windows.sh --test   build, then tests/windows/wine_test.sh and wine_hops_test.sh
#   scripts/build-windows.sh --deps-only   only the cached libraries (scripts/test.sh
#                                     builds them in the background while other stages run)
#
# Environment: DROPSPOT_WINDOWS_CACHE (default /var/cache/dropspot-windows as
# root, else ${XDG_CACHE_HOME:-~/.cache}/dropspot-windows), WINDOWS_BUILD_DIR
# (default build-windows), JOBS (default 2: the machine's cores are shared);
# the Wine test runs the Linux agent from $BUILD_DIR/bin (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

run_tests=0
deps_only=0
for arg in "$@"; do
  case $arg in
    --test) run_tests=1 ;;
    --deps-only) deps_only=1 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-windows: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
# shellcheck source=scripts/source-version.sh
source scripts/source-version.sh
# shellcheck source=scripts/windows-deps.sh
source scripts/windows-deps.sh
install_packages "${DROPSPOT_PACKAGES[@]}" "${DROPSPOT_WINDOWS_PACKAGES[@]}"

if [ "$(id -u)" -eq 0 ]; then
  cache=${DROPSPOT_WINDOWS_CACHE:-/var/cache/dropspot-windows}
else
  cache=${DROPSPOT_WINDOWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dropspot-windows}
fi
build_dir=${WINDOWS_BUILD_DIR:-build-windows}
jobs=${JOBS:-2}
triple=x86_64-w64-mingw32
toolchain=$repo/cmake/mingw-w64-x86_64.cmake

log() { echo "build-windows: $*" >&2; }

# Header-only Asio and CLI11 from Debian's packages, seen through links (the
# cross compiler must not see all of /usr/include), and an imported CLI11
# target for find_package(CLI11 CONFIG).
link_header_only() {
  local prefix=$1
  mkdir -p "$prefix/include" "$prefix/lib/cmake/CLI11"
  ln -sfn /usr/include/asio "$prefix/include/asio"
  ln -sfn /usr/include/asio.hpp "$prefix/include/asio.hpp"
  ln -sfn /usr/include/CLI "$prefix/include/CLI"
  cat >"$prefix/lib/cmake/CLI11/CLI11Config.cmake" <<EOF
# Written by scripts/build-windows.sh: Debian's header-only CLI11 for MinGW.
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$prefix/include")
endif()
set(CLI11_FOUND TRUE)
EOF
}

mkdir -p "$cache/src"
# One build of the cache at a time (scripts/test.sh starts one in the background).
exec 9>"$cache/.lock"
flock 9
# deb-src lines, with apt one at a time (the Windows and the portable builds'
# set-up run side by side in scripts/test.sh; scripts/deps.sh apt_serial).
(flock 8; enable_deb_src) 8>"$APT_LOCK"
protobuf_version=$(pick_source_version protobuf libprotobuf-dev)
openssl_version=$(pick_source_version openssl libssl-dev)
prometheus_version=$(pick_source_version prometheus-cpp prometheus-cpp-dev)
# The recipe's hash: a change to how the libraries are built (or to the
# cross compiler) builds them anew instead of reusing an old cache.
recipe=$(cat scripts/windows-deps.sh "$toolchain" <("$triple-g++-posix" --version) | sha256sum | cut -c1-12)
prefix=$cache/prefix-protobuf-$protobuf_version-openssl-$openssl_version-prometheus-cpp-$prometheus_version-recipe-$recipe
log "dependencies: $prefix"
if [ ! -f "$prefix/.protobuf-done" ]; then
  log "building protobuf $protobuf_version for MinGW into $prefix (once)"
  start=$SECONDS
  build_protobuf "$protobuf_version" "$prefix"
  touch "$prefix/.protobuf-done"
  log "protobuf built in $((SECONDS - start)) s"
fi
if [ ! -f "$prefix/.openssl-done" ]; then
  log "building OpenSSL $openssl_version for MinGW into $prefix (once)"
  start=$SECONDS
  build_openssl "$openssl_version" "$prefix"
  touch "$prefix/.openssl-done"
  log "OpenSSL built in $((SECONDS - start)) s"
fi
if [ ! -f "$prefix/.prometheus-done" ]; then
  log "building prometheus-cpp $prometheus_version for MinGW into $prefix (once)"
  start=$SECONDS
  build_prometheus_cpp "$prometheus_version" "$prefix"
  touch "$prefix/.prometheus-done"
  log "prometheus-cpp built in $((SECONDS - start)) s"
fi
# Older builds of other versions or recipes are not used again.
for old in "$cache"/prefix-*; do
  [ "$old" = "$prefix" ] || [ ! -d "$old" ] || { log "removing the unused $old"; rm -rf "$old"; }
done
link_header_only "$prefix"
if [ "$deps_only" -eq 1 ]; then
  log "dependencies ready in $prefix"
  exit 0
fi

log "building prober.exe in $build_dir"
# A build folder configured against another prefix (an older recipe, since
# removed) keeps that prefix's library paths in its cache: configured anew.
if [ -f "$build_dir/CMakeCache.txt" ] && grep -F "$cache/prefix-" "$build_dir/CMakeCache.txt" | grep -vF "$prefix" >/dev/null; then
  log "$build_dir was configured for another prefix: configuring it anew"
  rm -f "$build_dir/CMakeCache.txt"
fi
# -O2 as the Linux build (GCC 12 warns falsely about std::string at -O3).
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DDROPSPOT_WINDOWS_PREFIX="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DDROPSPOT_BUILD_AGENT=OFF -DDROPSPOT_BUILD_TESTS=OFF \
  -DOPENSSL_ROOT_DIR="$prefix" -DOPENSSL_USE_STATIC_LIBS=TRUE \
  -DProtobuf_USE_STATIC_LIBS=ON -DProtobuf_PROTOC_EXECUTABLE=/usr/bin/protoc \
  -DCLI11_DIR="$prefix/lib/cmake/CLI11" -Dprometheus-cpp_DIR="$prefix/lib/cmake/prometheus-cpp" >&2
nice ninja -C "$build_dir" -j "$jobs" prober >&2
exe=$(realpath "$build_dir/bin/prober.exe")
echo "$exe"

if [ "$run_tests" -eq 1 ]; then
  rc=0
  tests/windows/wine_test.sh "$exe" || rc=1
  tests/windows/wine_hops_test.sh "$exe" || rc=1
  exit "$rc"
fi
