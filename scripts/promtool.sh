#!/usr/bin/env bash
# Prints the path of Prometheus' own promtool (`promtool check metrics`
# validates our exposition the way Prometheus' maintainers do), from
# Debian's `prometheus` package unpacked into a cache folder, never
# installed: the package would bring a Prometheus server and its service.
# Environment: DROPSPOT_PROMTOOL_CACHE (default /var/cache/dropspot-promtool).
# `promtool.sh --server` prints the path of the Prometheus server of the same
# package instead (e2e.fleet runs it in the lab, scraping `prober serve`).
set -euo pipefail
cache=${DROPSPOT_PROMTOOL_CACHE:-/var/cache/dropspot-promtool}
tool=$cache/root/usr/bin/promtool
server=$cache/root/usr/bin/prometheus
wanted=$tool
[ "${1:-}" = --server ] && wanted=$server
if [ -x "$tool" ] && [ -x "$server" ]; then
  echo "$wanted"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$tool" ] || [ ! -x "$server" ]; then
  work=$(mktemp -d "$cache/download.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"  # apt's download user writes there
  if ! (cd "$work" && apt-get download -qq prometheus >&2 2>/dev/null); then
    apt-get update -qq >&2
    (cd "$work" && apt-get download -qq prometheus >&2)
  fi
  rm -rf "$cache/root"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  mkdir -p "$cache/root/usr/bin"
  mv "$work/root/usr/bin/promtool" "$tool"
  mv "$work/root/usr/bin/prometheus" "$server"
fi
echo "$wanted"
