#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ (or
# $FUZZ_BUILD_DIR) and runs each for SECONDS (default 20), starting from its
# seed corpus fuzz/corpus/<name>/. Fails when any target crashes, leaks,
# times out on an input, trips ASan/UBSan or runs out of memory; the input
# that did it is kept as build-fuzz/artifacts/<name>-crash-... and printed.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 300 packet
#   scripts/fuzz.sh --build-only              builds every target, runs none
#                                             (scripts/test.sh, in the background)
# New inputs the fuzzers find go to build-fuzz/corpus/<name>/ (kept between
# runs, never to the repository's seeds).
# FUZZ_JOBS targets run at once (default 2: one a core).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_ONLY=0
if [ "${1:-}" = --build-only ]; then
  BUILD_ONLY=1
  shift
fi
SECONDS_EACH=${1:-20}
shift || true
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
ALL=(framing agent_session prober_stream packet http_parse smtp_parse mail_parse ssh_parse nft_json iptables_save cli_values udp_reply
  exporter_query icmp_error)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

# -O1 -gline-tables-only: a sixth less compile time than RelWithDebInfo's
# -O2 -g, stacks with file and line still, the fuzzers hardly slower.
CC=${CC:-clang-14} CXX=${CXX:-clang++-14} cmake -S . -B "$BUILD" -G Ninja -DDROPSPOT_FUZZ=ON \
  -DDROPSPOT_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" >/dev/null
ninja -C "$BUILD" -j "${FUZZ_BUILD_JOBS:-2}" $(printf '%s_fuzz ' "${TARGETS[@]}")
[ "$BUILD_ONLY" = 1 ] && exit 0

# The ASan checks a fuzzer needs; Asio's coroutine frames are allocated with
# operator new and freed through its recycling allocator, which ASan
# misreads as a mismatch (see scripts/test-sanitizers.sh).
export ASAN_OPTIONS=${ASAN_OPTIONS:-alloc_dealloc_mismatch=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$BUILD/artifacts"
failed=()
# One target: its summary (or, on a finding, the end of its log) on stdout;
# fails on a finding.
run_target() {
  local t=$1 work="$BUILD/corpus/$1" log="$BUILD/artifacts/$1.log"
  mkdir -p "$work"
  if "$BUILD/bin/${t}_fuzz" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" "$work" \
      $([ -d "fuzz/corpus/$t" ] && echo "fuzz/corpus/$t") >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "$log" | tr '\n' ' ')$(
      grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' "$log" | tail -1)"
  else
    echo "fuzz: $t FAILED; the end of its log ($log):"
    tail -n 40 "$log"
    return 1
  fi
}

# FUZZ_JOBS targets at a time (default 2, one a core), each for SECONDS_EACH.
jobs=${FUZZ_JOBS:-2}
for ((i = 0; i < ${#TARGETS[@]}; i += jobs)); do
  batch=("${TARGETS[@]:i:jobs}")
  pids=()
  for t in "${batch[@]}"; do
    echo "fuzz: $t for ${SECONDS_EACH}s" >&2
    run_target "$t" >"$BUILD/artifacts/$t.summary" 2>&1 &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    wait "${pids[$j]}" || failed+=("${batch[$j]}")
    cat "$BUILD/artifacts/${batch[$j]}.summary" >&2
  done
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs in $BUILD/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets ran ${SECONDS_EACH}s each without a finding" >&2
