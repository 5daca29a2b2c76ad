#!/usr/bin/env bash
# Checks that binaries of the portable Linux build (scripts/build-portable.sh)
# run on every glibc distribution dropspot supports:
#   - no glibc symbol version newer than GLIBC_MAX (2.28: RHEL 8), the
#     symbols that ask for more named;
#   - shared libraries only from the C library and libgcc_s, which every such
#     distribution has (nothing of protobuf, OpenSSL, libpcap, libxml2 or
#     libstdc++, whose versions differ between them), and no RPATH/RUNPATH;
#   - with --root ROOT: each binary runs `--version` under the C library of
#     that older root (its loader and libraries), not the host's.
#
#   scripts/check-portable.sh [--root ROOT] [--glibc-max 2.28] BINARY...
# Exit code: 0 when all hold, 1 when one does not, 2 for bad usage.
set -euo pipefail

GLIBC_MAX=2.28
root=""
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root ROOT}; shift ;;
    --glibc-max) GLIBC_MAX=${2:?--glibc-max VERSION}; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check-portable: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "check-portable: no binary given (see --help)" >&2; exit 2; }

# The shared libraries a portable binary may need: glibc's and libgcc_s.
ALLOWED_NEEDED='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|libgcc_s\.so\.1)$'

# version_gt A B: A is a newer version than B.
version_gt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }

failed=0
for bin in "$@"; do
  [ -f "$bin" ] || { echo "check-portable: $bin: no such file" >&2; exit 2; }
  name=$(basename "$bin")
  # Dynamic symbols with their version: "... GLIBC_2.17 clock_gettime".
  symbols=$(objdump -T "$bin" | awk '$0 ~ /GLIBC_[0-9]/ {for (i = 1; i <= NF; i++) if ($i ~ /^\(?GLIBC_[0-9.]+\)?$/) {v = $i; gsub(/[()]|GLIBC_/, "", v); print v, $NF}}')
  newest=$(awk '{print $1}' <<<"$symbols" | sort -V | tail -n 1)
  if [ -z "$newest" ]; then
    echo "check-portable: $name: no glibc symbol versions found (not a dynamic glibc binary?)" >&2
    failed=1
  elif version_gt "$newest" "$GLIBC_MAX"; then
    echo "check-portable: $name: needs GLIBC_$newest, more than GLIBC_$GLIBC_MAX; from:" >&2
    while read -r v sym; do
      if version_gt "$v" "$GLIBC_MAX"; then echo "check-portable:   $sym (GLIBC_$v)" >&2; fi
    done <<<"$symbols"
    failed=1
  else
    echo "check-portable: $name: newest glibc symbol GLIBC_$newest (<= $GLIBC_MAX)" >&2
  fi
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  bad=$(grep -Ev "$ALLOWED_NEEDED" <<<"$needed" || true)
  if [ -n "$bad" ]; then
    echo "check-portable: $name: links shared libraries a distribution may lack: $(echo $bad)" >&2
    failed=1
  else
    echo "check-portable: $name: shared libraries: $(echo $needed)" >&2
  fi
  if readelf -d "$bin" | grep -Eq '\((RPATH|RUNPATH)\)'; then
    echo "check-portable: $name: has a library search path of its own: $(readelf -d "$bin" | grep -E 'R(UN)?PATH')" >&2
    failed=1
  fi
  if [ -n "$root" ]; then
    loader=$root/lib64/ld-linux-x86-64.so.2
    libs=$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu
    glibc=$("$loader" --library-path "$libs" "$root/lib/x86_64-linux-gnu/libc.so.6" 2>/dev/null | head -n 1 || true)
    if out=$("$loader" --library-path "$libs" "$bin" --version 2>&1); then
      echo "check-portable: $name: runs under ${glibc:-its glibc}: $out" >&2
    else
      echo "check-portable: $name: does not run under $root's C library: $out" >&2
      failed=1
    fi
  fi
done
exit "$failed"
