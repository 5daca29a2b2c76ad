#!/usr/bin/env bash
# End to end, real binaries and a real nginx in the namespace lab: path-MTU
# black holes (issue 18). The isp-provider link gets a 1400-byte MTU (a
# tunnel in the middle of the path); with mtu-blackhole the routers drop the
# ICMP 'fragmentation needed' / 'packet too big' they send about it. nginx
# in the server namespace:
#   80    a 64 KiB page                      8080  a 6-byte page
#   443   the same 64 KiB over TLS, with a certificate chain of two RSA-4096
#         certificates (some 3 KB: more than one packet, as a real chain is)
# and Debian's sshd on 22 (its KEXINIT is 1 KB; ours, padded, a full packet).
# Each scenario starts from `fault clear`, which also flushes the path MTUs
# the ends learnt (Linux keeps them 10 minutes), with the server's
# connections of the last one killed (ss -K).
# usage: mtu_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"
SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)

# ---------------------------------------------------------------- certificates
PKI=$TMPD/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 \
    -subj "/CN=dropspot test root"
  openssl req -newkey rsa:4096 -nodes -keyout int.key -out int.csr -subj "/CN=dropspot test intermediate"
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
  openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out int.pem -days 30 -extfile int.ext
  openssl req -newkey rsa:4096 -nodes -keyout leaf.key -out leaf.csr -subj "/CN=$SERVER"
  printf 'subjectAltName=IP:%s,IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$SERVER" "$SERVER6" \
    >leaf.ext
  openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf.pem -days 30 -extfile leaf.ext
  cat leaf.pem int.pem >chain.pem
) >"$TMPD/openssl.log" 2>&1 || { cat "$TMPD/openssl.log" >&2; exit 1; }

# ---------------------------------------------------------------- nginx
NG=$TMPD/nginx
mkdir -p "$NG/html" "$NG/small"
head -c 49152 /dev/urandom | base64 -w 76 >"$NG/html/index.html"  # 64 KiB of text
printf 'small\n' >"$NG/small/index.html"
lab_nginx "$NG" 80 443 8080 <<EOF
  # Connections stuck sending into a black hole go within the scenario.
  send_timeout 5s;
  server { listen 80; listen [::]:80; root $NG/html; }
  server { listen 8080; listen [::]:8080; root $NG/small; }
  server {
    listen 443 ssl; listen [::]:443 ssl;
    ssl_certificate $PKI/chain.pem;
    ssl_certificate_key $PKI/leaf.key;
    root $NG/html;
  }
EOF
start_lab_sshd no
start_agent

CLIENT=$(lab addr client 4)
CLIENT6=$(lab addr client 6)
scenario() { # scenario FAULT ARGS...: a clean lab, then the fault
  # Connections of the last scenario still sending into it would teach the
  # server the path MTU (and so change this one's first handshake): gone.
  on server ss -K -tn dst "$CLIENT" >/dev/null 2>&1 || true
  on server ss -K -tn dst "$CLIENT6" >/dev/null 2>&1 || true
  lab fault clear >/dev/null 2>&1
  [ $# -eq 0 ] || lab fault "$@" >/dev/null 2>&1
}
PROBE=(--target "$SERVER" --token-file "$TOKEN_FILE" --ca-file "$PKI/ca.pem")
ALL=(--ports 80,443,8080,22)

# ---------------------------------------------------------------- a clean path
scenario
prober_json "$TMPD/clean.json" "${PROBE[@]}" "${ALL[@]}"
check "clean: exit 0, every port open" test "$RC" -eq 0
for p in 80 443 8080 22; do
  check "clean: $p OPEN" port_is "$TMPD/clean.json" $p .verdict OPEN
  check "clean: $p has no path MTU" port_is "$TMPD/clean.json" $p '.evidence.pathMtu == null' true
done
check "clean: no MTU note anywhere" test "$(grep -c 'path-MTU\|path MTU' "$TMPD/clean.json")" -eq 0
check "clean: 80's body was read (64 KiB)" port_is "$TMPD/clean.json" 80 '.app.fields.body_bytes' 65536
check "clean: 443's TLS chain verified" port_is "$TMPD/clean.json" 443 '.app.fields.verify' ok
check "clean: 22 OPEN, sshd's KEXINIT read" port_matches "$TMPD/clean.json" 22 '.verdict + " " + .app.fields.ssh_kex' \
  "^OPEN .*curve25519-sha256"
check "clean: 22 has no path MTU" port_is "$TMPD/clean.json" 22 '.evidence.pathMtu == null' true

# ---------------------------------------------------------------- black hole, both ways
scenario mtu-blackhole 1400 both
prober_json "$TMPD/both.json" "${PROBE[@]}" "${ALL[@]}"
check "both: exit 1" test "$RC" -eq 1
check "both: the control channel finished on the black-hole path" jq_is "$TMPD/both.json" .agent.status CONNECTED
for p in 80 443; do
  check "both: $p PATH_MTU_BLACKHOLE" port_is "$TMPD/both.json" $p .verdict PATH_MTU_BLACKHOLE
  check "both: $p passes 1400 bytes each way" port_is "$TMPD/both.json" $p \
    '[.evidence.pathMtu.toServer, .evidence.pathMtu.toClient] | map(tostring) | join(" ")' "1400 1400"
  check "both: $p black-holed both ways" port_is "$TMPD/both.json" $p '.evidence.pathMtu.blackhole | join(" ")' \
    "toServer toClient"
done
check "both: 80's summary in one line" port_matches "$TMPD/both.json" 80 .summary \
  "^full-size packets never get through, either way; the path passes 1400 bytes; ICMP 'fragmentation needed' does not come back$"
check "both: 22 PATH_MTU_BLACKHOLE (our KEXINIT fills a packet)" port_is "$TMPD/both.json" 22 \
  '.verdict + " " + (.evidence.pathMtu.blackhole | index("toServer") != null | tostring)' "PATH_MTU_BLACKHOLE true"
check "both: 22 stalled in the key exchange" port_matches "$TMPD/both.json" 22 .app.detail "^the SSH key exchange stopped after"
check "both: 443 stalled in the TLS handshake or the response" port_matches "$TMPD/both.json" 443 .app.detail "stopped after"
check "both: advice clamps the MSS" port_matches "$TMPD/both.json" 80 '.advice[]' "tcp option maxseg size set rt mtu"
check "both: advice, the iptables equivalent" port_matches "$TMPD/both.json" 80 '.advice[]' "TCPMSS --clamp-mss-to-pmtu"
check "both: advice names tracepath" port_matches "$TMPD/both.json" 80 '.advice[]' "tracepath -n $SERVER"
check "both: advice lets ICMP 3/4 through" port_matches "$TMPD/both.json" 80 '.advice[]' "ICMP type 3 code 4"
# Our padded request fills a packet: even the small page's port shows it.
check "both: 8080 (small page) lost our full-size request" port_is "$TMPD/both.json" 8080 \
  '.evidence.pathMtu.blackhole | index("toServer") != null' true

# The same in text: the summary line, the path line.
set +e
on client "$PROBER" "${PROBE[@]}" --ports 80 >"$TMPD/both.txt" 2>&1
set -e
check "both, text: the summary" grep -q "full-size packets never get through, either way; the path passes 1400" \
  "$TMPD/both.txt"
check "both, text: the path line" grep -q "path .*1400 bytes pass towards the server" "$TMPD/both.txt"

# ---------------------------------------------------------------- black hole, the way back only
scenario mtu-blackhole 1400 to-client
prober_json "$TMPD/to-client.json" "${PROBE[@]}" "${ALL[@]}"
check "to-client: 80 PATH_MTU_BLACKHOLE" port_is "$TMPD/to-client.json" 80 .verdict PATH_MTU_BLACKHOLE
check "to-client: 80 the way back only" port_is "$TMPD/to-client.json" 80 '.evidence.pathMtu.blackhole | join(" ")' \
  toClient
check "to-client: 80 passes 1400 bytes back" port_is "$TMPD/to-client.json" 80 .evidence.pathMtu.toClient 1400
check "to-client: 80's summary" port_matches "$TMPD/to-client.json" 80 .summary \
  "^full-size packets from the server never reach you; the path passes 1400 bytes"
check "to-client: the agent saw its full-size segments sent again, unacknowledged" port_matches "$TMPD/to-client.json" 80 \
  '.evidence.notes[]' "the agent saw the server send [0-9]+ segment\(s\) again \(1500-byte packets\)"
check "to-client: the agent's packets show them" port_matches "$TMPD/to-client.json" 80 \
  '.evidence.agentPackets[] | select(.direction == "OUTBOUND" and .ipLength == 1500) | .length' "^1448$"
check "to-client: 443 PATH_MTU_BLACKHOLE" port_is "$TMPD/to-client.json" 443 .verdict PATH_MTU_BLACKHOLE
check "to-client: 8080 (small answers pass) OPEN" port_is "$TMPD/to-client.json" 8080 .verdict OPEN

# ---------------------------------------------------------------- black hole, the way to the server only
scenario mtu-blackhole 1400 to-server
prober_json "$TMPD/to-server.json" "${PROBE[@]}" --ports 80
check "to-server: 80 PATH_MTU_BLACKHOLE" port_is "$TMPD/to-server.json" 80 .verdict PATH_MTU_BLACKHOLE
check "to-server: 80 the way to the server only" port_is "$TMPD/to-server.json" 80 \
  '.evidence.pathMtu.blackhole | join(" ")' toServer
check "to-server: 80 passes 1400 bytes to the server" port_is "$TMPD/to-server.json" 80 .evidence.pathMtu.toServer 1400
check "to-server: 80's summary" port_matches "$TMPD/to-server.json" 80 .summary \
  "^full-size packets from you never reach the server; the path passes 1400 bytes"
check "to-server: the agent saw the small segments come and no full-size one" port_matches "$TMPD/to-server.json" 80 \
  '.evidence.notes[]' "^the agent saw ([0-9]+ data segment\\(s\\) of yours arrive|the handshake complete and none of your data)"
check "to-server: advice lowers this machine's MTU" port_matches "$TMPD/to-server.json" 80 '.advice[]' \
  "lower this machine's MTU to the path's: ip link set dev IFACE mtu 1400"

# ---------------------------------------------------------------- a smaller MTU, discovery works
scenario mtu-small 1400
prober_json "$TMPD/small.json" "${PROBE[@]}" "${ALL[@]}"
check "small: exit 0" test "$RC" -eq 0
for p in 80 443; do
  check "small: $p OPEN" port_is "$TMPD/small.json" $p .verdict OPEN
  check "small: $p noted: discovery works" port_matches "$TMPD/small.json" $p '.evidence.notes[]' "path-MTU discovery works"
  check "small: $p path MTU learnt by ICMP" port_is "$TMPD/small.json" $p .evidence.pathMtu.source icmp
done
check "small: 80 passes 1400 bytes back (the agent saw the ICMP)" port_is "$TMPD/small.json" 80 \
  .evidence.pathMtu.toClient 1400
check "small: 80 no 'rejects it' note for a path-MTU signal" \
  test "$(jq '[.ports[] | select(.port == 80) | .evidence.notes[] | select(test("rejects it"))] | length' \
    "$TMPD/small.json")" -eq 0

# ---------------------------------------------------------------- the host firewall drops the ICMP
scenario mtu-small 1400
lab fault host-drop-frag-needed >/dev/null 2>&1
prober_json "$TMPD/host.json" "${PROBE[@]}" --ports 80
check "host drops ICMP: 80 PATH_MTU_BLACKHOLE" port_is "$TMPD/host.json" 80 .verdict PATH_MTU_BLACKHOLE
check "host drops ICMP: the ICMP reached the server" port_is "$TMPD/host.json" 80 .evidence.pathMtu.icmpDroppedByHost true
check "host drops ICMP: summary names the rule" port_matches "$TMPD/host.json" 80 .summary \
  "reaches the server, and its firewall drops it \\(table inet dropspot_lab chain input handle [0-9]+: icmp type destination-unreachable icmp code frag-needed drop"
check "host drops ICMP: the rule in the evidence" port_matches "$TMPD/host.json" 80 '.evidence.firewall[]' \
  "^ICMP 'fragmentation needed': table inet dropspot_lab chain input"
check "host drops ICMP: advice lets it in first, in the rule's chain" port_matches "$TMPD/host.json" 80 '.advice[]' \
  "nft insert rule inet dropspot_lab input icmp type destination-unreachable icmp code frag-needed accept"

# ---------------------------------------------------------------- IPv6, and without the agent
scenario mtu-blackhole 1400 both
prober_json "$TMPD/v6.json" --target "$SERVER6" --ports 80 --token-file "$TOKEN_FILE"
check "IPv6: 80 PATH_MTU_BLACKHOLE" port_is "$TMPD/v6.json" 80 .verdict PATH_MTU_BLACKHOLE
check "IPv6: 'packet too big' named" port_matches "$TMPD/v6.json" 80 .summary "the path passes 1400 bytes; ICMPv6 'packet too big'"
check "IPv6: the agent took part" jq_is "$TMPD/v6.json" .agent.status CONNECTED
scenario mtu-blackhole 1400 both
prober_json "$TMPD/noagent.json" --target "$SERVER" --ports 80 --no-agent
check "client-only: 80 PATH_MTU_BLACKHOLE from the search alone" port_is "$TMPD/noagent.json" 80 .verdict \
  PATH_MTU_BLACKHOLE
check "client-only: passes 1400 bytes" port_is "$TMPD/noagent.json" 80 .evidence.pathMtu.toServer 1400

lab fault clear >/dev/null 2>&1
kill "$(cat "$NG/nginx.pid")" 2>/dev/null || true
e2e_finish
