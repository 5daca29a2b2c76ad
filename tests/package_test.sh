#!/usr/bin/env bash
# The Debian package: built with cpack from the build tree (no rebuild),
# unpacked into a scratch root, checked for its files and metadata, and both
# programs run from it.
# usage: package_test.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/dropspot-deb.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0
check() {
  local what=$1
  shift
  if "$@"; then PASSED=$((PASSED + 1)); echo "ok   - $what"; else FAILED=$((FAILED + 1)); echo "FAIL - $what"; fi
}

(cd "$TMP" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMP/out" >"$TMP/cpack.log" 2>&1) ||
  { cat "$TMP/cpack.log"; exit 1; }
deb=$(ls "$TMP"/out/dropspot_*.deb)
echo "    built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
check "package name dropspot" test "$(dpkg-deb -f "$deb" Package)" = dropspot
depends=$(dpkg-deb -f "$deb" Depends)
for d in libpcap0.8 libprotobuf32 libssl3 libprometheus-cpp-core1.0 libcivetweb1 libjemalloc2; do check "depends on $d" grep -q "$d" <<<"$depends"; done
root="$TMP/root"
dpkg-deb -x "$deb" "$root"
for f in usr/bin/agent usr/bin/prober; do check "$f installed, executable" test -x "$root/$f"; done
for f in usr/lib/systemd/system/dropspot-agent.service usr/share/man/man8/agent.8 usr/share/man/man1/prober.1 \
  usr/share/doc/dropspot/agent.md usr/share/doc/dropspot/ci.md usr/lib/sysusers.d/dropspot.conf \
  usr/share/bash-completion/completions/prober usr/share/bash-completion/completions/agent \
  usr/share/zsh/vendor-completions/_prober usr/share/zsh/vendor-completions/_agent; do
  check "$f installed" test -s "$root/$f"
done
check "agent --help runs from the package" bash -c "'$root/usr/bin/agent' --help | grep -q -- --pcap-dir"
check "prober --help runs from the package, with examples" \
  bash -c "'$root/usr/bin/prober' --help | grep -q -- '--wait 60s -f junit'"
check "agent token from the package prints a token only on stdout" \
  bash -c "test \$('$root/usr/bin/agent' token 2>/dev/null | wc -l) -eq 1"
check "postinst is executable" bash -c "dpkg-deb -e '$deb' '$TMP/control' && test -x '$TMP/control/postinst'"
check "postinst makes /etc/dropspot, root's only (0700)" grep -q 'install -d -m 0700 /etc/dropspot' "$TMP/control/postinst"
unit="$root/usr/lib/systemd/system/dropspot-agent.service"
check "sysusers.d: the system user dropspot" grep -q '^u dropspot ' "$root/usr/lib/sysusers.d/dropspot.conf"
for k in User=dropspot "SupplementaryGroups=systemd-journal root" "RestrictNamespaces=user net" NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes StateDirectory=dropspot \
  RuntimeDirectory=dropspot RuntimeDirectoryMode=0700 \
  "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_NET_BIND_SERVICE" \
  "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_NET_BIND_SERVICE"; do
  check "unit: $k" grep -qx "$k" "$unit"
done
if command -v systemd-analyze >/dev/null; then
  # The unit as systemd parses it, with ExecStart pointed at the scratch root.
  sed "s|/usr/bin/agent|$root/usr/bin/agent|" "$unit" >"$TMP/dropspot-agent.service"
  check "systemd-analyze verify: no complaint about the unit" \
    bash -c "! systemd-analyze verify '$TMP/dropspot-agent.service' 2>&1 | grep -v 'man agent(8)' | grep ."
fi
command -v man >/dev/null && check "man pages render without warnings" \
  bash -c "! MANWIDTH=80 man --warnings -l '$root/usr/share/man/man8/agent.8' '$root/usr/share/man/man1/prober.1' 2>&1 >/dev/null | grep ."
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
