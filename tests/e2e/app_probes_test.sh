#!/usr/bin/env bash
# End to end, real binaries and real servers in the namespace lab: the
# application probes. In the server namespace:
#   22    SSH identification (socat)          2222  accepts, silent (ssh probe)
#   25    SMTP + STARTTLS (tests/e2e/smtp_peer.py, Python's ssl)
#   465   SMTP over implicit TLS               587   SMTP greeting 554
#   80    nginx: 301 to https://lab.test/      443   nginx: TLS, test CA, HSTS
#   8080  nginx: 503                           8443  nginx: self-signed certificate
#   8081  nginx: 404                           2223  accepts, silent (banner probe)
#   9000  10 MB of random bytes (http probe)   9001  an HTTP head that never ends (10 MB)
#   9002  half an SSH line, then silence
# The test CA and certificates are made here with openssl; nginx runs with
# its own config, pid and logs under the test's temp dir (never /etc/nginx).
# The prober resolves lab.test through a hosts file bind-mounted in a private
# mount namespace (unshare -m), so SNI and name checks see a real name.
# usage: app_probes_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"
HERE=$(cd "$(dirname "$0")" && pwd)

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
quiet() { "$@" >/dev/null 2>&1; }

# ---------------------------------------------------------------- certificates
PKI=$TMPD/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=dropspot test CA"
  openssl req "${ec[@]}" -keyout leaf.key -out leaf.csr -subj "/CN=lab.test"
  printf 'subjectAltName=DNS:lab.test,DNS:www.lab.test,IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    "$SERVER" >leaf.ext
  # 10 days: inside the 14-day warning.
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 10 -extfile leaf.ext
  openssl req -x509 "${ec[@]}" -keyout self.key -out self.pem -days 30 -subj "/CN=lab.test" \
    -addext "subjectAltName=DNS:lab.test"
) >"$TMPD/openssl.log" 2>&1 || { cat "$TMPD/openssl.log" >&2; exit 1; }

# ---------------------------------------------------------------- nginx
NG=$TMPD/nginx
lab_nginx "$NG" 80 443 8080 8081 8443 <<EOF
  server_tokens on;
  server {
    listen 80; listen [::]:80;
    return 301 https://lab.test/;
  }
  server {
    listen 443 ssl; listen [::]:443 ssl;
    ssl_certificate $PKI/leaf.pem;
    ssl_certificate_key $PKI/leaf.key;
    add_header Strict-Transport-Security "max-age=31536000" always;
    location / { return 200 "hello from the lab\n"; }
  }
  server {
    listen 8443 ssl; listen [::]:8443 ssl;
    ssl_certificate $PKI/self.pem;
    ssl_certificate_key $PKI/self.key;
    location / { return 200 "self-signed\n"; }
  }
  server { listen 8080; listen [::]:8080; location / { return 503; } }
  server { listen 8081; listen [::]:8081; location / { return 404; } }
EOF

# ---------------------------------------------------------------- the other peers
SMTP_PEER=(python3 "$HERE/smtp_peer.py" --cert "$PKI/leaf.pem" --key "$PKI/leaf.key")
on server "${SMTP_PEER[@]}" --port 25 >"$TMPD/smtp25.log" 2>&1 &
on server "${SMTP_PEER[@]}" --port 465 --implicit-tls >"$TMPD/smtp465.log" 2>&1 &
on server "${SMTP_PEER[@]}" --port 587 --greeting "554 5.7.1 mail.lab.test: no service for you" \
  >"$TMPD/smtp587.log" 2>&1 &
# Slow but working mail servers: postscreen's greet wait (the first line at
# once, the rest later), a slow reverse lookup (all of it late), and a
# submission service that offers AUTH only over TLS.
on server "${SMTP_PEER[@]}" --port 2525 --greet-pause 2.5 >"$TMPD/smtp2525.log" 2>&1 &
on server "${SMTP_PEER[@]}" --port 2526 --greet-delay 1.5 >"$TMPD/smtp2526.log" 2>&1 &
on server "${SMTP_PEER[@]}" --port 2587 --auth "PLAIN LOGIN" >"$TMPD/smtp2587.log" 2>&1 &

peer_script() { # peer_script NAME BODY: a per-connection script for socat
  printf '#!/bin/bash\n%s\n' "$2" >"$TMPD/$1.sh"
  chmod 755 "$TMPD/$1.sh"
}
# An SSH server's identification and KEXINIT (RFC 4253 7.1), as the probe
# reads them: the key exchange's first packet is bulk data too (issue 18).
python3 - "$TMPD/kexinit.bin" <<'PY'
import struct, sys
lists = [b"curve25519-sha256,ecdh-sha2-nistp256", b"ssh-ed25519", b"aes128-ctr", b"aes128-ctr",
         b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""]
payload = b"\x14" + b"\x2a" * 16 + b"".join(struct.pack(">I", len(l)) + l for l in lists) + b"\x00" + b"\x00" * 4
pad = 8 - (len(payload) + 5) % 8
pad += 8 if pad < 4 else 0
open(sys.argv[1], "wb").write(struct.pack(">IB", len(payload) + pad + 1, pad) + payload + b"\x00" * pad)
PY
peer_script ssh "printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n'; cat '$TMPD/kexinit.bin'; sleep 5"
peer_script garbage "head -c 10485760 /dev/urandom"
peer_script endless "printf 'HTTP/1.1 200 OK\\r\\nX-Long: '; head -c 10485760 /dev/zero | tr '\\0' a"
peer_script half "printf 'SSH-2.0-Half'; sleep 5"
socat_peer() { # socat_peer PORT SCRIPT
  on server socat "TCP6-LISTEN:$1,bind=[::],ipv6only=0,reuseaddr,fork" "EXEC:$TMPD/$2.sh" \
    >"$TMPD/socat$1.log" 2>&1 &
}
socat_peer 22 ssh
socat_peer 9000 garbage
socat_peer 9001 endless
socat_peer 9002 half
quiet lab serve server :: 2222 --silent
quiet lab serve server :: 2223 --silent
for p in 22 25 465 587 2525 2526 2587 9000 9001 9002 2222 2223; do lab wait-listen server $p 5; done

start_agent

# The prober with lab.test (and wrong.lab.test) resolving to the server.
printf '127.0.0.1 localhost\n%s lab.test www.lab.test wrong.lab.test\n%s lab6.test\n' "$SERVER" "$SERVER6" \
  >"$TMPD/hosts"
prober_named() { # prober_named OUT_FILE args...: like prober_json, names from $TMPD/hosts
  local out=$1
  shift
  set +e
  on client unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMPD/hosts" \
    "$PROBER" "$@" >"$out" 2>"$out.err"
  RC=$?
  if [ "$RC" -ge 124 ] || [ ! -s "$out" ]; then
    echo "    prober exit $RC, stderr: $(head -c 600 "$out.err" 2>/dev/null)" >&2
  fi
  set -e
}

PORTS=22,25,80,443,465,587,8080,8081,8443,2222,2223,9000,9001,9002
COMMON=(--token-file "$TOKEN_FILE" --timeout 1s --app-timeout 3s --probe 2223=banner --probe 2222=ssh --probe 8081=http
  --probe 9000=http --probe 9001=http --probe 9002=ssh)

# ---------------------------------------------------------------- with the test CA
out=$TMPD/ca.json
start=$(date +%s%N)
prober_named "$out" --target lab.test --ports "$PORTS" "${COMMON[@]}" --ca-file "$PKI/ca.pem" --format json
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "    report for ${PORTS//,/ } took ${elapsed_ms} ms"
check "the run finished within 15 s despite silent and endless peers" test "$elapsed_ms" -lt 15000
check "agent CONNECTED and capturing" jq_is "$out" '.agent.status + " " + (.agent.captureActive|tostring)' "CONNECTED true"
check "probe kinds by well-known port and --probe" \
  jq_is "$out" '[.ports[] | "\(.port)=\(.probe)"] | join(",")' \
  "22=ssh,25=smtp,80=http,443=https,465=smtps,587=smtp,2222=ssh,2223=banner,8080=http,8081=http,8443=https,9000=http,9001=http,9002=ssh"

check "22 OPEN with the SSH version" port_is "$out" 22 '.verdict + " " + .app.fields.ssh_version' \
  "OPEN SSH-2.0-OpenSSH_9.2p1 Debian-2"

check "80 OPEN, HTTP 301 to https" port_is "$out" 80 '.verdict + " " + .app.fields.status + " " + .app.fields.location' \
  "OPEN 301 https://lab.test/"
check "80 has the redirect/HSTS note (test 443)" port_matches "$out" 80 '.evidence.notes | join(" ")' "443"
check "80 server header names nginx" port_matches "$out" 80 '.app.fields.server' '^nginx'

check "443 OPEN, verified with --ca-file" port_is "$out" 443 '.verdict + " " + .app.fields.verify' "OPEN ok"
check "443 HTTP 200 over TLS" port_is "$out" 443 '.app.fields.status' 200
check "443 TLS version and cipher" port_matches "$out" 443 '.app.fields.tls_version + " " + .app.fields.tls_cipher' '^TLSv1\.[23] [A-Z0-9_-]+$'
check "443 ALPN http/1.1" port_is "$out" 443 '.app.fields.alpn' "http/1.1"
check "443 SNI from the target name" port_is "$out" 443 '.app.fields.sni' "lab.test"
check "443 certificate subject and issuer" port_is "$out" 443 '.app.fields.cert_subject + " / " + .app.fields.cert_issuer' \
  "CN=lab.test / CN=dropspot test CA"
check "443 certificate expires in 9-10 days, with a warning" port_matches "$out" 443 \
  '.app.fields.cert_days_left + " " + .app.fields.warning' '^(9|10) the certificate expires in'
check "443 HSTS header seen" port_matches "$out" 443 '.app.fields.hsts' 'max-age=31536000'

check "8443 APP_FAILED: self-signed certificate" port_is "$out" 8443 '.verdict' APP_FAILED
check "8443 reason is OpenSSL's" port_matches "$out" 8443 '.summary' 'self-signed certificate'
check "8080 APP_FAILED: HTTP 503" port_is "$out" 8080 '.verdict + " " + .app.fields.status' "APP_FAILED 503"
check "8081 OPEN with a note: HTTP 404" port_is "$out" 8081 '.verdict + " " + .app.fields.status' "OPEN 404"
check "8081 says the server refuses /" port_matches "$out" 8081 '.summary' 'refuses'

check "25 OPEN: greeting, EHLO, STARTTLS verified" \
  port_is "$out" 25 '.verdict + " " + .app.fields.starttls + " " + .app.fields.verify' "OPEN ok ok"
check "25 greeting text" port_matches "$out" 25 '.app.fields.greeting' '^220 mail\.lab\.test ESMTP'
check "25 EHLO capabilities listed" port_matches "$out" 25 '.app.fields.ehlo' 'STARTTLS'
check "25 polite QUIT answered" port_matches "$out" 25 '.app.fields.quit' '^221'
check "465 OPEN: implicit TLS then greeting" \
  port_is "$out" 465 '.verdict + " " + .app.fields.verify + " " + (.app.fields.greeting | split(" ")[0])' "OPEN ok 220"
check "587 APP_FAILED: 554 greeting" port_is "$out" 587 '.verdict' APP_FAILED
check "587 summary quotes the greeting" port_matches "$out" 587 '.summary' '554 5\.7\.1'

check "2222 silent: APP_FAILED, no SSH identification within 3s" port_matches "$out" 2222 '.verdict + " " + .summary' \
  '^APP_FAILED .*no SSH identification line within 3s'
check "2223 silent: APP_FAILED, no banner" port_matches "$out" 2223 '.verdict + " " + .summary' '^APP_FAILED .*no banner within 3s'
check "9000 random bytes: APP_FAILED, not HTTP" port_matches "$out" 9000 '.verdict + " " + .summary' '^APP_FAILED .*not an HTTP response'
check "9001 endless head: APP_FAILED at the size cap" port_matches "$out" 9001 '.verdict + " " + .summary' \
  '^APP_FAILED .*no end of the response head in the first 65536 bytes'
check "9002 half a line: APP_FAILED, incomplete" port_matches "$out" 9002 '.verdict + " " + .summary' \
  "^APP_FAILED .*no complete SSH identification line within 3s .*SSH-2.0-Half"
check "non-OPEN ports have advice" jq_is "$out" '[.ports[] | select(.verdict != "OPEN" and (.advice | length) == 0)] | length' 0
check "exit code 1 (some ports fail)" test "$RC" -eq 1

# ---------------------------------------------------------------- slow but working services
# The protocol's patience (--app-timeout, 30 s by default), not the path's:
# a held greeting is OPEN, with the time it took and why.
out=$TMPD/slow.json
prober_named "$out" --target lab.test --ports 2525,2526,2587 --token-file "$TOKEN_FILE" --timeout 1s \
  --ca-file "$PKI/ca.pem" --probe 2525=smtp --probe 2526=smtp --probe 2587=smtp --format json
check "postscreen-like greet pause: OPEN, the whole greeting read" \
  port_is "$out" 2525 '.verdict + " " + .app.fields.greeting' "OPEN 220 mail.lab.test ESMTP (greeting paused) (+1 lines)"
check "greet pause: its time in the evidence (the peer holds it 2.5 s; the loop's own delays may shave a little)" \
  jq -e '.ports[] | select(.port == 2525) | .app.fields.greeting_ms | tonumber >= 2400' "$out"
check "greet pause: the note names postscreen and says it is no fault" port_matches "$out" 2525 '.evidence.notes | join(" ")' \
  'took 2\.[0-9]+s: its first line came after [0-9]+ms and the rest later, as postscreen'
check "slow reverse lookup: OPEN, the delay and its usual cause said" port_matches "$out" 2526 \
  '.verdict + " " + (.evidence.notes | join(" "))' '^OPEN .*took 1\.[5-9]s: mail servers look up the client'
check "a quick greeting: its time, no note" jq -e '.ports[] | select(.port == 2587) |
  (.app.fields.greeting_ms | tonumber < 1000) and ([.evidence.notes[]? | select(test("took"))] | length == 0)' "$out"
check "EHLO again over TLS: AUTH offered only there, reported" \
  port_is "$out" 2587 '.app.fields.ehlo_tls | test("AUTH PLAIN LOGIN")' true
check "EHLO before TLS offered no AUTH" port_is "$out" 2587 '.app.fields.ehlo | test("AUTH")' false
check "the AUTH mechanisms over TLS" port_is "$out" 2587 '.app.fields.auth' "PLAIN LOGIN"
# The same greet pause with a shorter --app-timeout: the report says what it
# got, that servers hold greetings on purpose, and how to wait longer.
out=$TMPD/impatient.json
prober_named "$out" --target lab.test --ports 2525 --token-file "$TOKEN_FILE" --timeout 1s --app-timeout 1s \
  --probe 2525=smtp --format json
check "--app-timeout 1s: APP_FAILED, the partial greeting quoted, --app-timeout named" port_matches "$out" 2525 \
  '.verdict + " " + .summary' "^APP_FAILED .*no complete SMTP greeting within 1s .*220-.*--app-timeout waits longer"

# ---------------------------------------------------------------- verification failures
out=$TMPD/noca.json
prober_named "$out" --target lab.test --ports 443,25 --token-file "$TOKEN_FILE" --timeout 1s --format json
check "no --ca-file: 443 APP_FAILED" port_is "$out" 443 '.verdict' APP_FAILED
check "no --ca-file: OpenSSL's reason (local issuer)" port_matches "$out" 443 '.summary' 'unable to get local issuer certificate'
# Port 25 is server to server: senders deliver over an unverified STARTTLS
# (opportunistic TLS), so it is said, not failed.
check "no --ca-file: STARTTLS on 25 unverified, said, OPEN (mail servers deliver)" port_matches "$out" 25 \
  '.verdict + " " + .app.fields.verify' '^OPEN failed: unable to get local issuer certificate \(mail servers deliver'
check "no --ca-file: 25's summary says it is unverified" port_matches "$out" 25 '.summary' 'unverified: .*fine between mail servers'

out=$TMPD/wrongname.json
prober_named "$out" --target wrong.lab.test --ports 443 --token-file "$TOKEN_FILE" --timeout 1s --ca-file "$PKI/ca.pem" \
  --format json
check "wrong name: 443 APP_FAILED, hostname mismatch" port_matches "$out" 443 '.verdict + " " + .summary' '^APP_FAILED .*hostname mismatch'
check "wrong name: the certificate's names are shown" port_matches "$out" 443 '.app.fields.cert_names' 'lab\.test'

out=$TMPD/insecure.json
prober_named "$out" --target lab.test --ports 443,8443 --token-file "$TOKEN_FILE" --timeout 1s --insecure --format json
check "--insecure: 443 OPEN" port_is "$out" 443 '.verdict' OPEN
check "--insecure: 8443 OPEN, the failure noted" port_matches "$out" 8443 '.verdict + " " + .app.fields.verify' \
  '^OPEN failed: self-signed certificate .*--insecure'

# By address: the IP SAN is checked, no SNI; and over IPv6 (the hosts name lab6.test, no SAN: fails).
out=$TMPD/byip.json
prober_json "$out" --target "$SERVER" --ports 443 --token-file "$TOKEN_FILE" --timeout 1s --ca-file "$PKI/ca.pem"
check "by IPv4 address: 443 OPEN (IP SAN)" port_is "$out" 443 '.verdict + " " + .app.fields.verify' "OPEN ok"
out=$TMPD/v6.json
prober_named "$out" --target lab6.test --ports 22,25,443 --token-file "$TOKEN_FILE" --timeout 1s --ca-file "$PKI/ca.pem" \
  --format json
check "IPv6: 22 OPEN" port_is "$out" 22 '.verdict' OPEN
check "IPv6: 25 STARTTLS negotiated (name mismatch said, OPEN)" port_matches "$out" 25 '.verdict + " " + .app.fields.verify' \
  '^OPEN failed: .*hostname mismatch'
check "IPv6: 443 hostname mismatch for lab6.test" port_matches "$out" 443 '.summary' 'hostname mismatch'

# ---------------------------------------------------------------- the text report
txt=$TMPD/report.txt
prober_named "$txt" --target lab.test --ports 22,25,80,443,587 --token-file "$TOKEN_FILE" --timeout 1s \
  --ca-file "$PKI/ca.pem"
check "text: SSH version shown" grep -q 'SSH-2.0-OpenSSH_9.2p1 Debian-2' "$txt"
check "text: HTTP status and Location shown" grep -q 'HTTP 301' "$txt"
check "text: certificate subject and issuer shown" \
  bash -c "tr -s ' \\n' ' ' <'$txt' | grep -q 'CN=lab.test (issuer CN=dropspot test CA)'"
check "text: certificate expiry shown" grep -Eq 'expires in (9|10) days' "$txt"
check "text: SMTP greeting shown" grep -q '220 mail.lab.test' "$txt"
check "text: STARTTLS result shown" grep -q 'STARTTLS' "$txt"
check "text: 554 greeting shown" grep -q '554 5.7.1' "$txt"
check "text: no line wider than 80 columns" bash -c "! awk 'length > 80' '$txt' | grep -q ."

# nginx, ours only: by its pid file.
kill "$(cat "$NG/nginx.pid")" 2>/dev/null || true
e2e_finish
