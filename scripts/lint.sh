#!/usr/bin/env bash
# The house style and the bug-finding checks:
# - clang-format (.clang-format) over every C++ file of the tree: a check,
#   it rewrites nothing (to fix: clang-format -i FILE);
# - clang-tidy (.clang-tidy) over the C++ files the last commit changed (a
#   changed header brings the .cc files of its folder), or with --all over
#   every source file the build compiles (~3 min on 2 CPUs).
# usage: scripts/lint.sh [--all] [BUILD_DIR]   (default build/, made by scripts/build.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
all=0
if [ "${1:-}" = --all ]; then
  all=1
  shift
fi
build=${1:-${BUILD_DIR:-build}}
format=$(command -v clang-format-14 || command -v clang-format) || { echo "lint: no clang-format" >&2; exit 1; }
tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || { echo "lint: no clang-tidy" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json: run scripts/build.sh" >&2; exit 1; }
rc=0
# clang-tidy wants each file's own command; a unity build's database (the
# default, CMakeLists.txt) names its batches instead. Then a per-file one is
# configured beside it with the same options, and only the generated
# protobuf header built (seconds).
db=$build
if grep -q '/Unity/unity_' "$build/compile_commands.json"; then
  db=$(mktemp -d /tmp/dropspot-lint.XXXXXX)
  trap 'rm -rf "$db"' EXIT
  cmake -S . -B "$db" -G Ninja -DCMAKE_UNITY_BUILD=OFF \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(sed -n 's/^CMAKE_CXX_FLAGS_RELWITHDEBINFO:STRING=//p' "$build/CMakeCache.txt")" >/dev/null &&
    ninja -C "$db" proto/dropspot.pb.h >/dev/null || { echo "lint: cannot make a per-file compile database" >&2; exit 1; }
fi

mapfile -t sources < <(git ls-files '*.cc' '*.h')
unformatted=()
for f in "${sources[@]}"; do
  "$format" --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "lint: not formatted as .clang-format says (clang-format -i FILE): ${unformatted[*]}" >&2
  rc=1
else
  echo "lint: clang-format: ${#sources[@]} files as .clang-format says" >&2
fi

# The files clang-tidy checks: the sources the build compiles (not the
# generated protobuf code, not the tests' fixtures and fakes).
mapfile -t compiled < <(jq -r '.[].file' "$db/compile_commands.json" | sed "s|^$PWD/||" |
  grep -E '^(agent|common|prober|render|verdict)/' | sort -u)
if [ $all = 1 ]; then
  targets=("${compiled[@]}")
  what="every compiled file"
else
  mapfile -t changed < <(git diff --name-only HEAD~1 HEAD -- '*.cc' '*.h' 2>/dev/null)
  targets=()
  for f in "${compiled[@]}"; do
    for c in "${changed[@]}"; do
      if [ "$f" = "$c" ] || { [[ $c == *.h ]] && [ "$(dirname "$f")" = "$(dirname "$c")" ]; }; then
        targets+=("$f")
        break
      fi
    done
  done
  what="the last commit's files"
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "lint: clang-tidy: no compiled C++ file changed in the last commit" >&2
else
  echo "lint: clang-tidy over ${#targets[@]} files ($what)" >&2
  # The database is GCC's; for clang 14 with libstdc++ 12, Asio needs to be
  # told that C++20 coroutines exist (as fuzz/CMakeLists.txt does).
  printf '%s\n' "${targets[@]}" |
    xargs -P "$(nproc)" -n 4 "$tidy" -p "$db" --quiet --extra-arg=-DASIO_HAS_CO_AWAIT=1 2>/dev/null |
    grep -E -A3 "(warning|error):" >"$build/clang-tidy.txt"
  if [ -s "$build/clang-tidy.txt" ]; then
    cat "$build/clang-tidy.txt" >&2
    echo "lint: clang-tidy found the above (.clang-tidy)" >&2
    rc=1
  else
    echo "lint: clang-tidy: nothing found" >&2
  fi
fi
exit $rc
