#!/usr/bin/env bash
# The portable build's packages (scripts/build-portable.sh), used as a user
# would on a Debian 11 root (glibc 2.31, the old root the build compiled
# against, mounted as a fresh overlay for each use):
#   - the .deb: its dependencies (glibc and libgcc_s only), installed with
#     dpkg into Debian 11;
#   - the .rpm: files, requirements and scriptlets (rpm -qp), installed into
#     a scratch root (rpm --root --nodeps) whose agent runs;
#   - the .tar.gz: install.sh on the bare Debian 11 root (with and without
#     systemd), then a real session: the installed agent, inside Debian 11's
#     root in the lab's server namespace, serves the prober of the main build
#     (an open port and a closed one, decided with the agent's evidence); its
#     prober verifies an HTTPS server's certificate with the bundle where the
#     RHEL family keeps it (the root has no /usr/lib/ssl, OpenSSL's default).
#
# usage: tests/portable_test.sh PORTABLE_BUILD_DIR MAIN_BIN_DIR   (KEEP_TMP=1 keeps its scratch folder)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
MAIN_BIN=$(cd "$2" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/e2e/check.sh
source "$SRC/tests/e2e/check.sh"
ROOT=$(cat "$BUILD/portable-root")
PKG=$BUILD/packages
LAB="$SRC/scripts/lab.sh"
TMP=$(mktemp -d /tmp/dropspot-portable.XXXXXX)
MOUNTS=()
cleanup() {
  local rc=$? m i
  if [ -n "${DROPSPOT_LAB:-}" ]; then "$LAB" down >/dev/null 2>&1 || true; fi
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
  return $rc
}
trap cleanup EXIT

# fresh_root NAME: r becomes a writable Debian 11 root on an overlay of the
# cached one (the cache stays as built), with /proc.
fresh_root() {
  local dir=$TMP/$1
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  MOUNTS+=("$dir/root")
  mount --bind /proc "$dir/root/proc"
  MOUNTS+=("$dir/root/proc")
  r=$dir/root
}
# has TEXT PATTERN: TEXT holds a line matching the extended regex PATTERN.
has() { grep -Eq -- "$2" <<<"$1"; }
has_line() { grep -qx -- "$2" <<<"$1"; }

deb=$(ls "$PKG"/dropspot_*_amd64.deb)
rpm=$(ls "$PKG"/dropspot-*.x86_64.rpm)
tgz=$(ls "$PKG"/dropspot-*-linux-x86_64.tar.gz)
echo "    $(basename "$deb") $(du -k "$deb" | cut -f1) KiB, $(basename "$rpm") $(du -k "$rpm" | cut -f1) KiB, $(basename "$tgz") $(du -k "$tgz" | cut -f1) KiB"
echo "    Debian 11 root: $ROOT ($(chroot "$ROOT" /usr/bin/ldd --version | head -n 1))"

# ---- the binaries: glibc symbols and shared libraries (scripts/check-portable.sh)
check "binaries: glibc <= 2.28, only libc and libgcc_s shared, run under Debian 11's glibc" \
  "$SRC/scripts/check-portable.sh" --root "$ROOT" "$BUILD/bin/agent" "$BUILD/bin/prober"

# ---- the .deb on Debian 11
check "deb: depends on glibc and libgcc_s only" \
  test "$(dpkg-deb -f "$deb" Depends)" = "libc6 (>= 2.28), libgcc-s1 | libgcc1"
fresh_root deb
cp "$deb" "$r/tmp/"
check "deb: dpkg -i on Debian 11 (its dependencies met by a minimal root)" \
  chroot "$r" dpkg -i "/tmp/$(basename "$deb")"
check "deb: the agent runs on Debian 11" bash -c "chroot '$r' /usr/bin/agent --version | grep -q dropspot"
check "deb: the prober runs on Debian 11" bash -c "chroot '$r' /usr/bin/prober --version | grep -q dropspot"
check "deb: the unit and the system user's sysusers.d file" \
  test -s "$r/usr/lib/systemd/system/dropspot-agent.service" -a -s "$r/usr/lib/sysusers.d/dropspot.conf"

# ---- the .rpm, inspected and installed into a scratch root
rpm_q() { rpm -qp "$@" "$rpm" 2>/dev/null; }
check "rpm: named dropspot, x86_64" test "$(rpm_q --qf '%{NAME} %{ARCH}')" = "dropspot x86_64"
requires=$(rpm_q --requires)
check "rpm: requires glibc >= 2.28" has_line "$requires" 'glibc >= 2.28'
check "rpm: requires libgcc" has_line "$requires" libgcc
check "rpm: requires nothing of protobuf, OpenSSL, libpcap or libxml2" \
  bash -c '! grep -Eiq "protobuf|ssl|pcap|xml" <<<"$1"' _ "$requires"
files=$(rpm_q -l)
for f in /usr/bin/agent /usr/bin/prober /usr/lib/systemd/system/dropspot-agent.service /usr/lib/sysusers.d/dropspot.conf \
  /usr/share/man/man8/agent.8 /usr/share/man/man1/prober.1 /usr/share/doc/dropspot/agent.md \
  /usr/share/bash-completion/completions/prober /usr/share/zsh/site-functions/_prober; do
  check "rpm: carries $f" has_line "$files" "$f"
done
check "rpm: owns no directory of the distribution's (/usr/lib/systemd, /usr/share/man)" \
  bash -c '! grep -Ex "/usr/lib/systemd|/usr/lib/systemd/system|/usr/share/man|/usr/share/man/man1|/usr/bin|/usr/share/zsh|/usr/share/zsh/site-functions|/usr/share/zsh/vendor-completions|/usr/share/bash-completion|/usr/share/bash-completion/completions" <<<"$1"' _ "$files"
scripts=$(rpm_q --scripts)
check "rpm: %post makes the user with systemd-sysusers" has "$scripts" 'systemd-sysusers /usr/lib/sysusers.d/dropspot.conf'
check "rpm: %post and %postun reload systemd" test "$(grep -c 'systemctl daemon-reload' <<<"$scripts")" -eq 2
mkdir -p "$TMP/rpmroot"
check "rpm: installs into a scratch root (rpm --root --nodeps)" \
  rpm --root "$TMP/rpmroot" --nodeps --noscripts --force-debian -i "$rpm"
check "rpm: its agent runs" bash -c "'$TMP/rpmroot/usr/bin/agent' --version | grep -q dropspot"

# ---- the .tar.gz and install.sh on a bare Debian 11
fresh_root tgz
tar -C "$r/tmp" -xzf "$tgz"
dir=/tmp/$(basename "$tgz" .tar.gz)
check "tgz: install.sh --help" bash -c "chroot '$r' sh '$dir/install.sh' --help | grep -q -- --prefix"
check "tgz: install.sh refuses a relative prefix (exit 2)" \
  bash -c "chroot '$r' sh '$dir/install.sh' --prefix usr; test \$? -eq 2"
check "tgz: install.sh on a bare Debian 11 (no systemd: useradd)" chroot "$r" sh "$dir/install.sh"
check "tgz: the system user dropspot, no login" bash -c "grep -q '^dropspot:.*:/var/lib/dropspot:/usr/sbin/nologin$' '$r/etc/passwd'"
check "tgz: the unit names the installed agent" \
  grep -qx 'ExecStart=/usr/local/bin/agent --token-file /run/dropspot/token --state-dir /var/lib/dropspot' \
  "$r/etc/systemd/system/dropspot-agent.service"
check "tgz: man pages and docs" test -s "$r/usr/local/share/man/man8/agent.8" -a -s "$r/usr/local/share/doc/dropspot/agent.md"
check "tgz: bash and zsh completion" \
  test -s "$r/usr/local/share/bash-completion/completions/prober" -a -s "$r/usr/local/share/zsh/site-functions/_agent"
check "tgz: /etc/dropspot made, root's only" test "$(stat -c %a "$r/etc/dropspot")" = 700
check "tgz: install.sh again changes nothing that fails (idempotent)" chroot "$r" sh "$dir/install.sh"
check "tgz: the agent from the tarball runs on Debian 11" \
  bash -c "chroot '$r' /usr/local/bin/agent --version | grep -q dropspot"

# ---- a real session: the tarball's agent in Debian 11, the main build's prober
unset DROPSPOT_LAB
eval "$("$LAB" up)"
"$MAIN_BIN/agent" token >"$r/tmp/token"
chmod 600 "$r/tmp/token"
"$LAB" serve server 0.0.0.0 8080 --http >/dev/null
"$LAB" exec server chroot "$r" /usr/local/bin/agent --token-file /tmp/token --state-dir /tmp >"$TMP/agent.log" 2>&1 &
"$LAB" wait-listen server 7411 5 || cat "$TMP/agent.log"
server=$("$LAB" addr server 4)
"$LAB" exec client "$MAIN_BIN/prober" --target "$server" --token-file "$r/tmp/token" --ports 8080,8081 \
  --format json >"$TMP/report.json" 2>"$TMP/prober.err" || true
check "session: the agent in Debian 11 connected" test "$(jq -r .agent.status "$TMP/report.json" 2>/dev/null)" = CONNECTED
check "session: 8080 OPEN, seen by the agent" \
  test "$(jq -r '.ports[] | select(.port == 8080) |
    "\(.verdict) \([.evidence.agentPackets[] | select(.direction == "INBOUND" and .kind == "SYN")] | length > 0)"' \
    "$TMP/report.json")" = "OPEN true"
check "session: 8081 NO_LISTENER (the agent saw the SYN and the reset)" \
  test "$(jq -r '.ports[] | select(.port == 8081) | .verdict' "$TMP/report.json")" = NO_LISTENER
check "session: the agent's software and host" \
  bash -c "jq -r .agent.software '$TMP/report.json' | grep -q dropspot-agent"
# ---- the tarball's prober verifies certificates where the distribution keeps
# its roots: the Debian 11 root has no /usr/lib/ssl (the portable OpenSSL's
# own directory) nor /etc/ssl/certs, as on the RHEL family; the test CA is
# put where RHEL keeps its bundle.
pki=$TMP/pki
mkdir -p "$pki"
(
  cd "$pki"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=dropspot test CA"
  openssl req "${ec[@]}" -keyout leaf.key -out leaf.csr -subj "/CN=lab.test"
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$server" >leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 10 -extfile leaf.ext
) >"$TMP/openssl.log" 2>&1 || cat "$TMP/openssl.log"
"$LAB" exec server openssl s_server -quiet -www -accept 8443 -cert "$pki/leaf.pem" -key "$pki/leaf.key" \
  >"$TMP/s_server.log" 2>&1 &
"$LAB" wait-listen server 8443 5 || cat "$TMP/s_server.log"
https_probe() {
  # (SSL_CERT_FILE/SSL_CERT_DIR, where the caller's environment sets them, would win.)
  "$LAB" exec client env -u SSL_CERT_FILE -u SSL_CERT_DIR \
    chroot "$r" /usr/local/bin/prober --target "$server" --ports 8443 --probe 8443=https \
    --no-agent --format json >"$TMP/$1.json" 2>"$TMP/$1.err" || true
  jq -r '.ports[0] | "\(.verdict) \(.app.fields.verify)"' "$TMP/$1.json" 2>/dev/null
}
check "https: no bundle anywhere: the certificate does not verify (APP_FAILED)" \
  bash -c '[[ $1 == APP_FAILED* ]]' _ "$(https_probe no-bundle)"
mkdir -p "$r/etc/pki/tls/certs"
cp "$pki/ca.pem" "$r/etc/pki/tls/certs/ca-bundle.crt"
check "https: the RHEL family's bundle (/etc/pki/tls/certs/ca-bundle.crt) is used: OPEN, verified" \
  test "$(https_probe rhel-bundle)" = "OPEN ok"

if ((failed > 0)); then
  echo "--- agent log"; tail -n 20 "$TMP/agent.log"
  echo "--- prober stderr"; tail -n 20 "$TMP/prober.err"
  echo "--- ports"; jq -c '.ports[]? | {port, verdict, summary}' "$TMP/report.json" 2>/dev/null || true
fi
check_summary
