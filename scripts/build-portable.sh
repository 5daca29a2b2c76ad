#!/usr/bin/env bash
# The portable Linux build: one agent and one prober that run on every
# glibc-based distribution from glibc 2.28 (RHEL 8) on, and the packages made
# of them (.deb, .rpm, .tar.gz). Prints the build folder on stdout.
#
# How: the host's GCC compiles against the C library of a Debian 11 root
# (glibc 2.31, made by mmdebstrap from Debian's registry, cached), and links
# everything but the C library and libgcc_s statically: the C++ runtime,
# protobuf and OpenSSL (Debian's static libraries of the host, the versions
# the main build uses), libpcap and libxml2 (built here from Debian's own
# source packages without their optional parts: Debian's static libpcap wants
# D-Bus and libsystemd, its libxml2 ICU's 30 MB of data), prometheus-cpp's
# core and civetweb (built here too: Debian has only their shared libraries).
# The programs the agent runs (nft, iptables-save, systemctl, journalctl,
# firewall-cmd) are found at run time, never linked. The binaries' highest
# glibc symbol version is checked: at most GLIBC_2.28.
#
#   scripts/build-portable.sh             the binaries and the packages
#   scripts/build-portable.sh --deps-only the cached root and libraries only
#
# Needs root (mmdebstrap). Environment: DROPSPOT_PORTABLE_CACHE (default
# /var/cache/dropspot-portable), PORTABLE_BUILD_DIR (default build-portable),
# JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

deps_only=0
for arg in "$@"; do
  case $arg in
    --deps-only) deps_only=1 ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-portable: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
# shellcheck source=scripts/source-version.sh
source scripts/source-version.sh
# shellcheck source=scripts/windows-deps.sh
source scripts/windows-deps.sh  # enable_deb_src, fetch_source, pick_source_version
# shellcheck source=scripts/portable-deps.sh
source scripts/portable-deps.sh  # make_root, stage_host_libraries, build_libpcap, build_libxml2, ...
install_packages "${DROPSPOT_PACKAGES[@]}" "${DROPSPOT_PORTABLE_PACKAGES[@]}"
[ "$(id -u)" -eq 0 ] || { echo "build-portable: needs root (mmdebstrap makes the old root)" >&2; exit 2; }

cache=${DROPSPOT_PORTABLE_CACHE:-/var/cache/dropspot-portable}
build_dir=${PORTABLE_BUILD_DIR:-build-portable}
jobs=${JOBS:-2}
toolchain=$repo/cmake/portable-linux.cmake
# The newest glibc symbol version the binaries may ask for: RHEL 8's glibc.
GLIBC_MAX=2.28
SUITE=bullseye

log() { echo "build-portable: $*" >&2; }

mkdir -p "$cache/src"
# One build of the cache at a time (scripts/test.sh may start one in the background).
exec 9>"$cache/.lock"
flock 9
# deb-src lines, with apt one at a time (the Windows and the portable builds'
# set-up run side by side in scripts/test.sh; scripts/deps.sh apt_serial).
(flock 8; enable_deb_src) 8>"$APT_LOCK"
pcap_version=$(pick_source_version libpcap libpcap-dev)
xml2_version=$(pick_source_version libxml2 libxml2-dev)
prometheus_version=$(pick_source_version prometheus-cpp prometheus-cpp-dev)
civetweb_version=$(pick_source_version civetweb libcivetweb-dev)
# The recipe: scripts/portable-deps.sh, the toolchain file, the compiler and
# the host's libraries copied in. A change makes a new root.
recipe=$( (cat scripts/portable-deps.sh "$toolchain"; g++ --version
  dpkg-query -W libprotobuf-dev libssl-dev zlib1g-dev libasio-dev libcli11-dev nlohmann-json3-dev) | sha256sum | cut -c1-12)
root=$cache/$SUITE-pcap-$pcap_version-xml2-$xml2_version-prometheus-cpp-$prometheus_version-civetweb-$civetweb_version-recipe-$recipe
log "root and libraries: $root"
[ -d "$root" ] || make_root "$root"
if [ ! -f "$root/.host-libraries-done" ]; then
  stage_host_libraries "$root"
  touch "$root/.host-libraries-done"
fi
# build_once NAME VERSION FUNCTION: FUNCTION VERSION ROOT, once per root (a marker file).
build_once() {
  local name=$1 version=$2 fn=$3
  [ -f "$root/.$name-done" ] && return 0
  log "building $name $version against $SUITE's glibc (once)"
  "$fn" "$version" "$root"
  touch "$root/.$name-done"
}
build_once libpcap "$pcap_version" build_libpcap
build_once libxml2 "$xml2_version" build_libxml2
build_once prometheus-cpp "$prometheus_version" build_prometheus_cpp
build_once civetweb "$civetweb_version" build_civetweb
for old in "$cache"/"$SUITE"-*; do
  [ "$old" = "$root" ] || [ ! -d "$old" ] || { log "removing the unused $old"; rm -rf "$old"; }
done
if [ "$deps_only" -eq 1 ]; then
  log "ready in $root"
  exit 0
fi

log "building agent and prober in $build_dir"
# A build folder configured against another root (an older recipe, since
# removed) keeps that root's library paths in its cache: configured anew.
if [ -f "$build_dir/CMakeCache.txt" ] && grep -F "$cache/$SUITE-" "$build_dir/CMakeCache.txt" | grep -vF "$root" >/dev/null; then
  log "$build_dir was configured for another root: configuring it anew"
  rm -f "$build_dir/CMakeCache.txt"
fi
# -O2 as the Linux build (GCC 12 warns falsely about std::string at -O3).
PKG_CONFIG_LIBDIR="$root/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="" \
  cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DDROPSPOT_PORTABLE_ROOT="$root" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DDROPSPOT_BUILD_TESTS=OFF -DDROPSPOT_PORTABLE=ON \
  -DProtobuf_PROTOC_EXECUTABLE=/usr/bin/protoc >&2
echo "$root" >"$build_dir/portable-root"  # tests/portable_test.sh runs the packages there
nice ninja -C "$build_dir" -j "$jobs" agent prober >&2
scripts/check-portable.sh --root "$root" --glibc-max "$GLIBC_MAX" "$build_dir/bin/agent" "$build_dir/bin/prober" >&2

# The packages, in $build_dir/packages: the .deb and .rpm by cpack, and a
# .tar.gz of the installed tree with packaging/install.sh for anything else.
out=$(realpath -m "$build_dir/packages")
rm -rf "$out"
mkdir -p "$out"
(cd "$build_dir" && cpack -G "DEB;RPM" -B "$out" >cpack.log 2>&1) || { cat "$build_dir/cpack.log" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"
version=$(sed -n 's/^project(dropspot VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
name=dropspot-$version-linux-x86_64
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cmake --install "$build_dir" --prefix "$stage/$name" --strip >/dev/null
install -m 755 packaging/install.sh "$stage/$name/install.sh"
tar -C "$stage" --owner=0 --group=0 -czf "$out/$name.tar.gz" "$name"
log "packages: $(cd "$out" && echo *)"
realpath "$build_dir"
