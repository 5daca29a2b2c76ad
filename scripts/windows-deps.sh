#!/usr/bin/env bash
# The recipe of the libraries the Windows prober links and Debian has no
# MinGW package of, protobuf, OpenSSL and prometheus-cpp: built from Debian's
# own source packages. Sourced by scripts/build-windows.sh, which sets cache,
# toolchain, triple and jobs and defines log. The cache folder's name carries
# a hash of this file (and of the toolchain), so a change here builds them
# anew.

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
  # -O1, not Release's -O3: a third less compile time (descriptor.cc: 13 s
  # against 20 s), and the prober's speed is its network's, not protobuf's.
  nice cmake -S "$src/cmake" -B "$src/build-mingw" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
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
    # legacy or national ciphers that dropspot's TLS 1.2/1.3 never uses; -O1
    # after OpenSSL's -O3 (a few handshakes a run need no faster crypto).
    nice ./Configure mingw64 no-shared no-tests no-engine no-module -O1 \
      no-comp no-dtls no-srp no-idea no-mdc2 no-rc5 no-camellia no-seed no-aria \
      no-sm2 no-sm3 no-sm4 no-whirlpool no-cast no-bf no-rc2 no-gost \
      --cross-compile-prefix=$triple- --prefix="$prefix" --libdir=lib >&2
    nice make -j "$jobs" build_libs >&2
    make install_dev >&2
  )
  rm -rf "$src"
}

# prometheus-cpp's core only: the registry and text serializer of the prober's
# --format prometheus. No pull (civetweb), push (curl) or compression (zlib),
# no tests (googletest) and no pkg-config files (build-windows.sh names its
# CMake config). -O2 as the Linux build: its thirteen files take 15 s, -O1
# would save two.
build_prometheus_cpp() {
  local version=$1 prefix=$2
  local src=$cache/src/prometheus-cpp-$version
  [ -d "$src" ] || fetch_source prometheus-cpp "$version" "$src"
  nice cmake -S "$src" -B "$src/build-mingw" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DBUILD_SHARED_LIBS=OFF -DENABLE_PULL=OFF -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF \
    -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF -DGENERATE_PKGCONFIG=OFF >&2
  nice ninja -C "$src/build-mingw" -j "$jobs" >&2
  cmake --install "$src/build-mingw" >&2
  rm -rf "$src"
}

# The source version of $1 to build, for the -dev package $2 the Linux build
# uses: that version when the archive still has its source, else the nearest
# the archive offers (scripts/source-version.sh). Logs the choice.
pick_source_version() {
  local pkg=$1 dev=$2 installed chosen
  installed=$(dpkg-query -W -f='${source:Version}' "$dev" 2>/dev/null || true)
  local available
  mapfile -t available < <(available_source_versions "$pkg")
  if ! chosen=$(choose_source_version "$installed" "${available[@]}"); then
    log "the archive offers no source of $pkg (apt-cache showsrc $pkg)"
    return 1
  fi
  if [ "$chosen" = "$installed" ]; then
    log "$pkg $chosen: the version $dev has here"
  else
    log "$pkg $chosen: $dev ${installed:-(not installed)} has no source in the archive, which offers ${available[*]}"
  fi
  echo "$chosen"
}
