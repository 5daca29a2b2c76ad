#!/usr/bin/env bash
# Installs, with Debian's apt, whatever dropspot's build, tests and lab need
# and the machine lacks. Idempotent: does nothing when all is there.
# Sourced by scripts/test.sh and scripts/demo.sh; runnable on its own.
set -euo pipefail

DROPSPOT_PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config
  libasio-dev libpcap-dev libprotobuf-dev protobuf-compiler libcli11-dev catch2 libssl-dev
  prometheus-cpp-dev  # --format prometheus: prometheus-cpp's registry and text serializer
  libjemalloc-dev  # the prober's allocator (prober/CMakeLists.txt)
  libcivetweb-dev civetweb  # prober serve: civetweb, a small embeddable HTTP server (its CMake
                            # configuration names /usr/bin/civetweb, which the -dev does not bring)
  # lab and end-to-end tests
  openssh-server openssh-client
  sudo  # tests/e2e/sudo_stdio_test.sh: the documented sudoers rule with a real sudo
  iproute2 nftables iptables socat util-linux iputils-ping jq procps tcpdump
  nlohmann-json3-dev
  libxml2-dev  # the agent reads firewalld's zone and service XML with libxml2
  libxml2-utils  # xmllint: JUnit output checked against tests/data/junit.xsd
  nginx openssl python3  # real peers for tests/e2e/app_probes_test.sh (nginx is run with its own config)
  dnsmasq-base  # a real DNS server for tests/e2e/udp_test.sh (run in the lab, no service)
  nmap wrk  # scripts/bench.sh: the peers the benchmarks are measured against
  clang-14 libclang-rt-14-dev  # libFuzzer + ASan/UBSan runtimes for the fuzz targets (scripts/fuzz.sh)
  clang-format-14 clang-tidy-14  # scripts/lint.sh: .clang-format and .clang-tidy
  mmdebstrap systemd-container  # scripts/realhost.sh: a real Debian booted with its own systemd
  zsh python3-yaml  # tests/docs_test.sh: the zsh completion parses; docs/examples/*.yml read as YAML
)
# The Windows prober (scripts/build-windows.sh installs these itself): MinGW-w64
# cross compiler, Wine to test prober.exe, dpkg-dev and make to build protobuf,
# OpenSSL and prometheus-cpp from Debian's source packages.
DROPSPOT_WINDOWS_PACKAGES=(g++-mingw-w64-x86-64-posix wine64 dpkg-dev make perl)
# The portable Linux build and its packages (scripts/build-portable.sh installs
# these itself): libpcap and libxml2 from Debian's source packages (flex,
# bison, autotools; prometheus-cpp and civetweb need only CMake), the .rpm
# (rpm: rpmbuild for cpack), binutils' objdump.
DROPSPOT_PORTABLE_PACKAGES=(dpkg-dev make flex bison autoconf automake libtool rpm binutils file)

# One apt at a time: scripts/test.sh sets up the Windows and the portable
# builds side by side in the background, and apt fails at once on a lock.
APT_LOCK=/var/lock/dropspot-apt.lock
apt_serial() { flock "$APT_LOCK" "$@"; }

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages and not root: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_serial apt-get update -qq >&2 || apt_serial apt-get update >&2
  apt_serial apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  install_packages "${DROPSPOT_PACKAGES[@]}" "$@"
fi
