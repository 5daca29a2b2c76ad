#!/usr/bin/env bash
# Which Debian source version of a library to build for Windows, when the
# archive no longer offers the source of the version installed here (Debian's
# archive moves with every security update; a machine's image does not).
# Sourced by scripts/build-windows.sh; tested by tests/windows/source_version_test.sh.
#
#   choose_source_version INSTALLED [AVAILABLE...]
#     prints, in this order of preference:
#       INSTALLED, when its source is among AVAILABLE (the Linux build's own version);
#       the newest AVAILABLE of INSTALLED's upstream series (3.0.19-1 -> newest 3.0.x);
#       the newest AVAILABLE.
#     INSTALLED may be empty (the -dev package is not installed). Fails (status 1,
#     nothing printed) when AVAILABLE is empty.
#
#   available_source_versions PACKAGE
#     the versions of source package PACKAGE that apt can fetch (deb-src lines), one a line.

# The upstream series of a Debian version: epoch and Debian revision dropped,
# the first two components of upstream kept ("1:3.0.19-1~deb12u2" -> "3.0").
upstream_series() {
  local v=${1#*:}
  v=${v%-*}
  local IFS=.
  # shellcheck disable=SC2206
  local parts=($v)
  if [ ${#parts[@]} -ge 2 ]; then echo "${parts[0]}.${parts[1]}"; else echo "${parts[0]}"; fi
}

# The newest of the versions given, by dpkg's ordering.
newest_version() {
  local best='' v
  for v in "$@"; do
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
  done
  [ -n "$best" ] && echo "$best"
}

choose_source_version() {
  local installed=$1 v series
  shift
  [ $# -gt 0 ] || return 1
  if [ -n "$installed" ]; then
    for v in "$@"; do
      [ "$v" = "$installed" ] && { echo "$v"; return 0; }
    done
    series=$(upstream_series "$installed")
    local same=()
    for v in "$@"; do
      [ "$(upstream_series "$v")" = "$series" ] && same+=("$v")
    done
    [ ${#same[@]} -gt 0 ] && { newest_version "${same[@]}"; return 0; }
  fi
  newest_version "$@"
}

available_source_versions() {
  apt-cache showsrc "$1" 2>/dev/null |
    awk -v pkg="$1" '/^Package: /{p = $2} /^Version: / && p == pkg {print $2}' | sort -u
}
