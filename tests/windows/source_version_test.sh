#!/usr/bin/env bash
# scripts/source-version.sh: which Debian source version the Windows build
# fetches, for an installed version and what the archive offers. The first
# row is the fresh machine of issue 14: libssl-dev 3.0.19-1~deb12u2 installed,
# its source gone from the archive.
set -uo pipefail
# shellcheck source=scripts/source-version.sh
source "$(dirname "$0")/../../scripts/source-version.sh"

pass=0 fail=0
expect() {  # expect WANT INSTALLED AVAILABLE...
  local want=$1 got
  shift
  got=$(choose_source_version "$@")
  if [ "$got" = "$want" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: choose_source_version '$1' ${*:2} -> '$got', want '$want'" >&2
  fi
}

openssl_archive=(3.0.17-1~deb12u2 3.0.20-1~deb12u2 3.0.22-1~deb12u2)
# Installed source gone: the newest of the same upstream series.
expect 3.0.22-1~deb12u2 3.0.19-1~deb12u2 "${openssl_archive[@]}"
# Installed source present: that one, even when newer ones exist.
expect 3.0.20-1~deb12u2 3.0.20-1~deb12u2 "${openssl_archive[@]}"
expect 3.0.17-1~deb12u2 3.0.17-1~deb12u2 "${openssl_archive[@]}"
# Order of the archive's list does not matter.
expect 3.0.22-1~deb12u2 3.0.19-1~deb12u2 3.0.22-1~deb12u2 3.0.17-1~deb12u2 3.0.20-1~deb12u2
# Tilde and revision ordering is dpkg's, not the shell's: 3.0.9 < 3.0.10, ~ sorts first.
expect 3.0.10-1 3.0.8-1 3.0.9-1 3.0.10-1 3.0.10-1~bpo1
expect 3.21.12-3+deb12u1 3.21.12-3 3.21.12-3+deb12u1 3.21.12-2
# No version of the installed series: the newest overall.
expect 3.1.4-1 3.0.19-1~deb12u2 3.1.4-1 3.1.2-1
expect 3.21.12-3+deb12u1 3.12.4-1 3.21.12-3+deb12u1
# Epochs: kept in the answer, ignored for the series, ordered by dpkg.
expect 1:3.0.22-1 1:3.0.19-1 1:3.0.22-1 3.5.0-1
expect 1:2.0-1 '' 1:2.0-1 3.0-1
# Not installed: the newest offered.
expect 3.21.12-3+deb12u1 '' 3.21.12-3+deb12u1 3.21.12-2
# Nothing offered: failure, nothing printed.
if out=$(choose_source_version 3.0.19-1~deb12u2); then
  fail=$((fail + 1)); echo "FAIL: an empty archive chose '$out'" >&2
else
  [ -z "$out" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: printed '$out'" >&2; }
fi
# upstream_series itself.
for row in "3.0.19-1~deb12u2 3.0" "1:3.0.19-1 3.0" "3.21.12-3+deb12u1 3.21" "2-1 2" "1.2.3.4 1.2"; do
  set -- $row
  got=$(upstream_series "$1")
  if [ "$got" = "$2" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: upstream_series $1 -> $got, want $2" >&2; fi
done

echo "source_version: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
