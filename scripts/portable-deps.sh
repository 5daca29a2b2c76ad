# The recipe of the portable build's old root and static libraries (see
# scripts/build-portable.sh, which sources this file and sets cache, jobs,
# toolchain, SUITE and defines log). The cache folder's name carries a hash of
# this file, of the toolchain file and of the host's compiler and libraries, so
# a change here makes them anew.

# The Debian 11 root: its C library and kernel headers are what the build
# compiles against; nothing of it is linked statically.
make_root() {
  local root=$1 tmp=$1.partial.$$
  rm -rf "$tmp"
  log "making a $SUITE root in $root (once)"
  mmdebstrap --quiet --variant=minbase --include=libc6-dev,linux-libc-dev "$SUITE" "$tmp" \
    "deb http://deb.debian.org/debian $SUITE main" \
    "deb http://deb.debian.org/debian-security $SUITE-security main" >&2
  # The host GCC's C++ headers, seen from the root (gcc looks for them under
  # the sysroot); the compiler's own headers and libraries are not under it.
  relative_links "$tmp"
  ln -sfn /usr/include/c++ "$tmp/usr/include/c++"
  ln -sfn /usr/include/x86_64-linux-gnu/c++ "$tmp/usr/include/x86_64-linux-gnu/c++"
  mv "$tmp" "$root"
}

# The root's libraries link to each other with absolute symlinks
# (/lib64/ld-linux-x86-64.so.2 -> /lib/...), which the linker, outside the
# root, would follow into the host: made relative.
relative_links() {
  local root=$1 link target
  while IFS= read -r link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -s -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
  done < <(find "$root/lib64" "$root/lib/x86_64-linux-gnu" "$root/usr/lib/x86_64-linux-gnu" \
    -maxdepth 1 -type l -lname '/*')
}

# The compiler and linker flags of a C library build against the root (its
# configure tests link too: against the root's glibc, not the host's).
root_cc() { echo "gcc --sysroot=$1"; }
root_ldflags() {
  echo "-B$1/usr/lib/x86_64-linux-gnu -L$1/usr/lib/x86_64-linux-gnu -L$1/lib/x86_64-linux-gnu"
}

# protobuf, OpenSSL, zlib (protobuf's) and jemalloc (the prober's) as the host's -dev packages have
# them, and links to the header-only Asio, CLI11 and nlohmann/json: copied
# into the root's /usr/local, never all of the host's /usr/include.
stage_host_libraries() {
  local local_dir=$1/usr/local
  mkdir -p "$local_dir/include" "$local_dir/lib" "$local_dir/share/cmake/CLI11" "$local_dir/share/cmake"
  cp -rL /usr/include/google "$local_dir/include/"
  cp -rL /usr/include/openssl "$local_dir/include/"
  cp -rL /usr/include/x86_64-linux-gnu/openssl/. "$local_dir/include/openssl/"
  cp -L /usr/include/zlib.h /usr/include/zconf.h "$local_dir/include/"
  local lib
  for lib in libprotobuf.a libssl.a libcrypto.a libz.a libjemalloc.a; do
    cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$local_dir/lib/"
  done
  ln -sfn /usr/include/asio "$local_dir/include/asio"
  ln -sfn /usr/include/asio.hpp "$local_dir/include/asio.hpp"
  ln -sfn /usr/include/CLI "$local_dir/include/CLI"
  ln -sfn /usr/include/nlohmann "$local_dir/include/nlohmann"
  cp -r /usr/share/cmake/nlohmann_json "$local_dir/share/cmake/"
  cat >"$local_dir/share/cmake/CLI11/CLI11Config.cmake" <<EOF
# Written by scripts/build-portable.sh: Debian's header-only CLI11.
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "/usr/local/include")
endif()
set(CLI11_FOUND TRUE)
EOF
}

# libpcap, Linux capture only: no D-Bus, RDMA, Bluetooth, USB, netmap or
# libnl (monitor mode), none of which the agent captures on.
build_libpcap() {
  local version=$1 root=$2
  local src=$cache/src/libpcap-$version
  [ -d "$src" ] || fetch_source libpcap "$version" "$src"
  (
    cd "$src"
    nice ./configure --quiet CC="$(root_cc "$root")" CFLAGS="-O2" LDFLAGS="$(root_ldflags "$root")" --prefix=/usr/local \
      --disable-shared --enable-static --with-pcap=linux --disable-usb --disable-netmap \
      --disable-bluetooth --disable-dbus --disable-rdma --without-libnl --without-dpdk --disable-remote >&2
    nice make -j "$jobs" >&2
    make install DESTDIR="$root" >&2
    # Its pkg-config file asks for an rpath to /usr/local/lib: not in binaries
    # that run as root on hosts we do not know.
    sed -i 's/ -Wl,-rpath,[^ ]*//' "$root/usr/local/lib/pkgconfig/libpcap.pc"
  )
  rm -rf "$src"
}

# libxml2, the parser only: no ICU, lzma, zlib, HTTP/FTP, Python or modules
# (the agent reads firewalld's UTF-8 files from disk).
build_libxml2() {
  local version=$1 root=$2
  local src=$cache/src/libxml2-$version
  [ -d "$src" ] || fetch_source libxml2 "$version" "$src"
  (
    cd "$src"
    # Debian's patches touch configure.ac and Makefile.am: regenerate, as its rules do.
    nice autoreconf -fi >autoreconf.log 2>&1 || { cat autoreconf.log >&2; exit 1; }
    nice ./configure --quiet CC="$(root_cc "$root")" CFLAGS="-O2" LDFLAGS="$(root_ldflags "$root")" --prefix=/usr/local \
      --disable-shared --enable-static --without-python --without-icu --without-lzma --without-zlib \
      --without-http --without-ftp --without-modules --without-debug --without-docbook >&2
    nice make -j "$jobs" libxml2.la >&2
    make install-libLTLIBRARIES install-pkgconfigDATA DESTDIR="$root" >&2
    make -C include install DESTDIR="$root" >&2
  )
  rm -rf "$src"
}

# The CMake projects below are compiled by the host's GCC against the root
# with the portable build's own toolchain file (its --sysroot, the root's C
# library and start files) and installed into the root's /usr/local, CMake
# config included: find_package(... CONFIG) finds them there under the same
# toolchain. -O2 as the Linux build.
root_cmake() {
  local src=$1 root=$2
  shift 2
  nice cmake -S "$src" -B "$src/build-portable" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DDROPSPOT_PORTABLE_ROOT="$root" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCMAKE_INSTALL_PREFIX=/usr/local -DBUILD_SHARED_LIBS=OFF "$@" >&2
  nice ninja -C "$src/build-portable" -j "$jobs" >&2
  DESTDIR=$root cmake --install "$src/build-portable" >&2
}

# prometheus-cpp's core only (Debian has no static library of it): the
# registry and text serializer of the prober's --format prometheus. No pull
# (civetweb), push (curl) or compression (zlib), no tests (googletest), no
# pkg-config files.
build_prometheus_cpp() {
  local version=$1 root=$2
  local src=$cache/src/prometheus-cpp-$version
  [ -d "$src" ] || fetch_source prometheus-cpp "$version" "$src"
  root_cmake "$src" "$root" -DENABLE_PULL=OFF -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF \
    -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF -DGENERATE_PKGCONFIG=OFF
  rm -rf "$src"
}

# civetweb and its C++ wrapper, CivetServer (Debian has no static library of
# them): the prober's serve mode. Plain HTTP: with SSL civetweb dlopens
# "libssl.so", a name only the -dev packages install. No websockets, Lua,
# Duktape or zlib; IPv6 on (Debian's build has it off). No tests and no
# civetweb program; no LTO (the archive holds plain objects, as the others).
build_civetweb() {
  local version=$1 root=$2
  local src=$cache/src/civetweb-$version
  [ -d "$src" ] || fetch_source civetweb "$version" "$src"
  root_cmake "$src" "$root" -DCIVETWEB_ENABLE_CXX=ON -DCIVETWEB_ENABLE_SSL=OFF \
    -DCIVETWEB_ENABLE_IPV6=ON -DCIVETWEB_ENABLE_WEBSOCKETS=OFF -DCIVETWEB_ENABLE_LUA=OFF \
    -DCIVETWEB_ENABLE_DUKTAPE=OFF -DCIVETWEB_ENABLE_ZLIB=OFF -DCIVETWEB_BUILD_TESTING=OFF \
    -DCIVETWEB_ENABLE_SERVER_EXECUTABLE=OFF -DCIVETWEB_INSTALL_EXECUTABLE=OFF \
    -DCIVETWEB_CXX_ENABLE_LTO=OFF -DCIVETWEB_ENABLE_LTO=OFF
  rm -rf "$src"
}
