#!/usr/bin/env bash
# The one command that runs every test on a fresh Debian machine:
# installs what is missing, builds, runs unit tests and the end-to-end tests
# in network namespaces (these need root, as CI has), then the extra stages
# below. Every stage runs even when an earlier one failed; the exit code is
# non-zero when any failed, and the failed stages are named at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
source scripts/deps.sh
# deps.sh sets errexit for its own use; here every stage runs even when one
# fails, and the exit code is decided at the end (an errexit left on made a
# failing `kill` in the EXIT trap turn "all stages passed" into exit 1).
set +e
install_packages "${DROPSPOT_PACKAGES[@]}" || exit 1
export BUILD_DIR=${BUILD_DIR:-build}
if [ "$(id -u)" -ne 0 ]; then
  echo "test: not root: the end-to-end tests in network namespaces will fail; run as root" >&2
fi

failed=()
stage() {
  local name=$1
  shift
  echo "== test: $name" >&2
  local start=$SECONDS
  if "$@"; then
    echo "== test: $name passed ($((SECONDS - start)) s)" >&2
  else
    echo "== test: $name FAILED ($((SECONDS - start)) s)" >&2
    failed+=("$name")
  fi
}

main_tests() {
  scripts/build.sh && ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j "${CTEST_PARALLEL:-2}" "$@"
}

# The Windows prober's libraries (protobuf and OpenSSL for MinGW, built once
# into a cache: some 25 CPU-minutes on a cold machine) build from the start in
# the background at the lowest priority, on the CPU time the first stage's
# end-to-end tests leave idle. The Windows stage comes next and waits for them,
# so that the sanitizer stage's end-to-end tests (slow ASan binaries) and the
# benchmarks run on a quiet machine. The first stage's tests are sure under
# that load since the prober waits for the agent's host facts past the agent's
# own grace (common/protocol.h) and a lost SYN-ACK is retried (issues 16, 21).
windows_deps_log=$(mktemp /tmp/dropspot-windows-deps.XXXXXX)
nice -n 19 scripts/build-windows.sh --deps-only >"$windows_deps_log" 2>&1 &
windows_deps_pid=$!
trap 'kill "$windows_deps_pid" 2>/dev/null || true; rm -f "$windows_deps_log"' EXIT
# The real-host lab's Debian images (scripts/realhost.sh: mmdebstrap from
# Debian's registry, some 3 min for Debian 12's two and 2 min for the small
# one of Debian 11, 12 and 13 each, cached) are fetched in the background too;
# a test that needs one waits for it (a lock) if it comes first.
realhost_log=$(mktemp /tmp/dropspot-realhost.XXXXXX)
(
  nice -n 10 scripts/realhost.sh rootfs && REALHOST_IMAGE=exim nice -n 10 scripts/realhost.sh rootfs &&
    for suite in bullseye bookworm trixie; do
      REALHOST_IMAGE=web REALHOST_SUITE=$suite nice -n 10 scripts/realhost.sh rootfs || exit
    done
) >"$realhost_log" 2>&1 &
# The portable build's Debian 11 root and its libpcap and libxml2
# (scripts/build-portable.sh --deps-only: some 2 CPU-minutes and a download,
# cached) likewise; its stage waits for them.
portable_deps_log=$(mktemp /tmp/dropspot-portable-deps.XXXXXX)
nice -n 19 scripts/build-portable.sh --deps-only >"$portable_deps_log" 2>&1 &
portable_deps_pid=$!
fuzz_build_log=$(mktemp /tmp/dropspot-fuzz-build.XXXXXX)
fuzz_build_pid=""  # set by the sanitizer stage
trap 'kill "$windows_deps_pid" "$portable_deps_pid" $fuzz_build_pid 2>/dev/null || true
  rm -f "$windows_deps_log" "$realhost_log" "$portable_deps_log" "$fuzz_build_log"' EXIT
windows_stage() {
  local rc=0
  wait "$windows_deps_pid" || rc=$?
  sed 's/^/  /' "$windows_deps_log" | grep -E 'build-windows:|rror' >&2 || true
  if [ "$rc" -ne 0 ]; then
    echo "test: the Windows libraries failed to build (exit $rc); the end of the log:" >&2
    tail -n 30 "$windows_deps_log" >&2
    return 1
  fi
  scripts/build-windows.sh --test
}

# The portable Linux build (glibc >= 2.28, static libraries) and its .deb,
# .rpm and .tar.gz, used on a Debian 11 root with the main build's prober;
# then its .deb installed with apt on booted Debian 11, 12 and 13.
portable_stage() {
  local rc=0
  wait "$portable_deps_pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "test: the portable build's root and libraries failed (exit $rc); the end of the log:" >&2
    tail -n 30 "$portable_deps_log" >&2
    return 1
  fi
  local dir
  dir=$(scripts/build-portable.sh) || return 1
  rc=0
  tests/portable_test.sh "$dir" "$BUILD_DIR/bin" || rc=1
  tests/e2e/releases_test.sh "$dir" "$BUILD_DIR" || rc=1
  return "$rc"
}

# The sanitizer build alone (both cores), then its tests while the fuzz
# targets build at the lowest priority: another build of the libraries (clang,
# libFuzzer's instrumentation), on the CPU time the sanitizer stage's
# end-to-end tests leave idle (they mostly wait on the lab's network). The
# fuzz stage waits for it; the benchmarks come last, on a quiet machine.
sanitizer_stage() {
  scripts/test-sanitizers.sh --build-only || return 1
  nice -n 19 scripts/fuzz.sh --build-only >"$fuzz_build_log" 2>&1 &
  fuzz_build_pid=$!
  scripts/test-sanitizers.sh
}
fuzz_stage() {
  if [ -n "$fuzz_build_pid" ] && ! wait "$fuzz_build_pid"; then
    echo "test: the fuzz targets failed to build; the end of the log:" >&2
    tail -n 30 "$fuzz_build_log" >&2
    return 1
  fi
  scripts/fuzz.sh 20
}

stage "build and ctest" main_tests "$@"
# Further stages are appended here, one line each: stage "name" command args...
stage "lint (clang-format; clang-tidy on the last commit's files)" scripts/lint.sh
stage "windows prober (MinGW + Wine)" windows_stage
stage "portable Linux build and packages (glibc 2.28+; Debian 11, 12, 13)" portable_stage
stage "sanitizers (ASan + UBSan, unit and e2e)" sanitizer_stage
stage "fuzz (libFuzzer, 20 s per target, two at a time)" fuzz_stage
stage "benchmarks (quick)" scripts/bench.sh --quick

if [ ${#failed[@]} -ne 0 ]; then
  echo "test: failed stages: ${failed[*]}" >&2
  exit 1
fi
echo "test: all stages passed" >&2
exit 0
