#!/usr/bin/env bash
# Configures and builds dropspot into build/ (or $BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# -g1 (line tables: file and line in backtraces and perf), not -g: a quarter
# less compile time (agent/session.cc: 9.8 s against 12.9 s at -O2), and no
# one debugs these binaries from their variables.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "$@" >/dev/null
ninja -C "$BUILD_DIR"
