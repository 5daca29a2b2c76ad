#!/usr/bin/env bash
# Cross-builds the prober for 64-bit Windows: one static prober.exe, the
# whole install. Uses Debian's MinGW-w64 (cmake/mingw-w64-x86_64.cmake) and
# builds the two libraries Debian has no MinGW package of, protobuf and
# OpenSSL, from Debian's own source packages at the versions the Linux build
# uses, into a cache folder outside the repository (one folder per version,
# reused when present). Prints the path of prober.exe on stdout.
#
#   scripts/build-windows.sh          build (deps only when not cached)
#   scripts/build-windows.sh --test   build, then tests/windows/wine_test.sh
#
# Environment: DROPSPOT_WINDOWS_CACHE (default /var/cache/dropspot-windows as
# root, else ${XDG_CACHE_HOME:-~/.cache}/dropspot-windows), WINDOWS_BUILD_DIR
# (default build-windows), JOBS (default 2: the machine's cores are shared);
# the Wine test runs the Linux agent from $BUILD_DIR/bin (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

run_tests=0
for arg in "$@"; do
  case $arg in
    --test) run_tests=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-windows: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
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

# The Debian source version of the library the Linux build links.
source_version() { dpkg-query -W -f='${source:Version}' "$1"; }

# deb-src lines for the suites apt already uses, in a sources file of our own.
enable_deb_src() {
  apt-cache showsrc protobuf 2>/dev/null | grep -q '^Package: protobuf' && return 0
  [ "$(id -u)" -eq 0 ] || { log "no deb-src for Debian's suites and not root"; return 1; }
  local list=/etc/apt/sources.list.d/dropspot-deb-src.sources
  log "enabling deb-src in $list"
  {
    echo "# deb-src for the suites of the deb lines: scripts/build-windows.sh"
    echo "# builds protobuf and OpenSSL for MinGW from Debian's source packages."
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
      [ "$f" = "$list" ] && continue
      grep -q '^URIs:.*debian' "$f" || continue
      sed -n 's/^Types: deb$/Types: deb-src/; /^#/d; p' "$f"
      echo
    done
  } >"$list.tmp"
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*debian.*\)$/deb-src \1/p' /etc/apt/sources.list >"${list%.sources}.list"
  fi
  mv "$list.tmp" "$list"
  apt-get update -qq >&2
}

# Unpacks Debian's source package $1 at version $2 into $3 (Debian's patches
# applied). When the .dsc of that version cannot be fetched (the security
# pool does not always keep it), the orig tarball of the same version is
# enough: upstream's source, without Debian's patches.
fetch_source() {
  local pkg=$1 version=$2 dest=$3 work upstream orig
  upstream=${version%-*}
  upstream=${upstream#*:}
  work=$(mktemp -d "$cache/src.XXXXXX")
  chmod 755 "$work"  # apt's download user writes there
  if (cd "$work" && apt-get source -qq "$pkg=$version" >&2); then
    mv "$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$pkg-*" | head -1)" "$dest"
  else
    log "no complete source package $pkg=$version: using the orig tarball of $upstream"
    orig=$(find "$work" -maxdepth 1 -name "${pkg}_${upstream}.orig.tar.*" ! -name '*.asc' | head -1)
    if [ -z "$orig" ]; then
      (cd "$work" && apt-get source -qq --download-only "$pkg=$version" >&2) || true
      orig=$(find "$work" -maxdepth 1 -name "${pkg}_${upstream}.orig.tar.*" ! -name '*.asc' | head -1)
    fi
    [ -n "$orig" ] || { log "cannot fetch the source of $pkg $version"; rm -rf "$work"; return 1; }
    mkdir -p "$dest"
    tar -xf "$orig" -C "$dest" --strip-components=1
  fi
  rm -rf "$work"
}

build_protobuf() {
  local version=$1 prefix=$2
  local src=$cache/src/protobuf-$version
  [ -d "$src" ] || fetch_source protobuf "$version" "$src"
  # 3.21 keeps its CMake project in cmake/. (An interrupted build resumes.)
  nice cmake -S "$src/cmake" -B "$src/build-mingw" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" \
    -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_PROTOC_BINARIES=OFF \
    -Dprotobuf_BUILD_SHARED_LIBS=OFF -Dprotobuf_WITH_ZLIB=OFF \
    -Dprotobuf_BUILD_EXAMPLES=OFF >&2
  nice ninja -C "$src/build-mingw" -j "$jobs" libprotobuf >&2
  # Only what dropspot links (not the lite library, which `install` would build).
  cmake --install "$src/build-mingw" --component libprotobuf >&2
  cmake --install "$src/build-mingw" --component protobuf-headers >&2
  rm -rf "$src"
}

build_openssl() {
  local version=$1 prefix=$2
  local src=$cache/src/openssl-$version
  [ -d "$src" ] || fetch_source openssl "$version" "$src"
  (
    cd "$src"
    # Static libraries only (build_libs: no apps), no tests or engines, none of the
    # legacy or national ciphers that dropspot's TLS 1.2/1.3 never uses.
    nice ./Configure mingw64 no-shared no-tests no-engine no-module \
      no-comp no-dtls no-srp no-idea no-mdc2 no-rc5 no-camellia no-seed no-aria \
      no-sm2 no-sm3 no-sm4 no-whirlpool no-cast no-bf no-rc2 no-gost \
      --cross-compile-prefix=$triple- --prefix="$prefix" --libdir=lib >&2
    nice make -j "$jobs" build_libs >&2
    make install_dev >&2
  )
  rm -rf "$src"
}

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
protobuf_version=$(source_version libprotobuf-dev)
openssl_version=$(source_version libssl-dev)
prefix=$cache/prefix-protobuf-$protobuf_version-openssl-$openssl_version
if [ ! -f "$prefix/.protobuf-done" ] || [ ! -f "$prefix/.openssl-done" ]; then
  enable_deb_src
fi
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
link_header_only "$prefix"

log "building prober.exe in $build_dir"
# -O2 as the Linux build (GCC 12 warns falsely about std::string at -O3).
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DDROPSPOT_WINDOWS_PREFIX="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DDROPSPOT_BUILD_AGENT=OFF -DDROPSPOT_BUILD_TESTS=OFF \
  -DOPENSSL_ROOT_DIR="$prefix" -DOPENSSL_USE_STATIC_LIBS=TRUE \
  -DProtobuf_USE_STATIC_LIBS=ON -DProtobuf_PROTOC_EXECUTABLE=/usr/bin/protoc \
  -DCLI11_DIR="$prefix/lib/cmake/CLI11" >&2
nice ninja -C "$build_dir" -j "$jobs" prober >&2
exe=$(realpath "$build_dir/bin/prober.exe")
echo "$exe"

if [ "$run_tests" -eq 1 ]; then
  tests/windows/wine_test.sh "$exe"
fi
