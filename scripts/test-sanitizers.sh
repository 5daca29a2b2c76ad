#!/usr/bin/env bash
# The unit and end-to-end tests again, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC, -DDROPSPOT_SANITIZE=ON: -fsanitize=
# address,undefined -fno-sanitize-recover=undefined) in build-asan/ (or
# $ASAN_BUILD_DIR). Fails when a test fails or when any sanitizer report was
# written, by any process: the agents the e2e tests start in the background
# too, whose death a test might not notice. Extra arguments go to ctest.
#   scripts/test-sanitizers.sh [-R e2e.verdicts]
#   scripts/test-sanitizers.sh --build-only   (scripts/test.sh: the build alone first)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${ASAN_BUILD_DIR:-build-asan}

# -Og -g1 with assertions on (Debug, its flags made -Og): optimised for
# debugging, as sanitizer runs want, and the cheapest level to compile with
# UBSan: GCC 12 at -O1 spends most of its time on UBSan's null and alignment
# checks (agent/session.cc: 41 s at -O1, 19 s at -Og, all checks kept), and
# compiling is most of this stage. -g1: line tables, all a report's stack
# needs (file and line), a fifth less compile time than -g (15.6 s, 12.1 s).
nice cmake -S . -B "$BUILD" -G Ninja -DDROPSPOT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" >/dev/null || exit 1
nice ninja -C "$BUILD" -j "${ASAN_BUILD_JOBS:-2}" || exit 1
[ "${1:-}" = --build-only ] && exit 0

# Every report goes to a file of its own (log_path.<pid>), so that one from a
# process whose output nobody reads still fails the run.
REPORTS=$(mktemp -d /tmp/dropspot-sanitizers.XXXXXX)
chmod 1777 "$REPORTS"  # an agent that dropped root to another user still writes its report
trap 'rm -rf "$REPORTS"' EXIT
# alloc_dealloc_mismatch=0: Asio 1.22 allocates coroutine frames with its own
# operator new (thread_info_base::allocate, recycling blocks between frames)
# and frees them through a different path; ASan's malloc/delete pairing check
# misreads that as a mismatch in every coroutine. The other checks (heap and
# stack overflows, use after free/return/scope, leaks, double free) stay on.
# abort_on_error=1: a report kills the process with SIGABRT (non-zero exit,
# core-style death the e2e scripts see as a crash).
export ASAN_OPTIONS="alloc_dealloc_mismatch=0:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$REPORTS/ubsan"
export LSAN_OPTIONS="log_path=$REPORTS/lsan"

# package.deb and e2e.real_host are left out: they pack the build tree with
# cpack, and a .deb of sanitized binaries is nothing anyone installs (nor does
# the real host have the sanitizers' runtime); the agent code they run is run
# by the other end-to-end tests. e2e.lab_selftest runs none of our binaries
# (it tests scripts/lab.sh): 40 s for nothing here.
ctest --test-dir "$BUILD" --output-on-failure --timeout 600 -j "${CTEST_PARALLEL:-2}" \
  -E '^(package\.deb|e2e\.real_host|e2e\.lab_selftest)$' "$@"
rc=$?

shopt -s nullglob
reports=("$REPORTS"/*)
if [ ${#reports[@]} -ne 0 ]; then
  echo "test-sanitizers: ${#reports[@]} sanitizer report(s):" >&2
  for r in "${reports[@]}"; do
    echo "---- $r" >&2
    head -n 60 "$r" >&2
  done
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "test-sanitizers: ctest failed (exit $rc)" >&2
  exit $rc
fi
echo "test-sanitizers: all tests passed, no sanitizer report" >&2
