#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: UDP ports (issue 17). A real
# DNS server (Debian's dnsmasq) on 53, a silent socket standing for WireGuard
# on 51820, nothing bound, a host drop, a host reject, a drop at the provider,
# a loopback-bound socket, an echo service and its reply dropped on the way
# back; a TCP port in the same run; IPv4 and IPv6; and the client-only view.
# usage: udp_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

S4=$(lab addr server 4)
S6=$(lab addr server 6)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8090 --echo
# UDP faults: rules of this test's own tables (gone with the lab's namespaces).
nft_table() { # nft_table NODE HOOK RULE...
  local node=$1 hook=$2
  shift 2
  on "$node" nft add table inet udptest
  on "$node" nft add chain inet udptest "$hook" "{ type filter hook $hook priority -5; }"
  local rule
  for rule in "$@"; do on "$node" nft add rule inet udptest "$hook" "$rule"; done
}
nft_table server input "udp dport 5002 drop" "udp dport 5003 reject"
nft_table provider forward 'oifname "to-server" udp dport 5004 drop' 'iifname "to-server" udp sport 5007 drop'

DAEMONS=()
bg() { on server "$@" >/dev/null 2>&1 & DAEMONS+=($!); }
bg dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-dhcp-interface= --bind-interfaces \
  --listen-address="$S4" --listen-address="$S6" --port=53 --user=root --pid-file= \
  --address=/test.example/192.0.2.53 --log-facility=/dev/null
bg socat -u UDP6-RECV:51820,ipv6only=0 /dev/null               # bound to [::], answers nothing
bg socat -u UDP4-RECV:5002 /dev/null                           # bound, behind a drop rule
bg socat -u UDP4-RECV:5003 /dev/null                           # bound, behind a reject rule
bg socat -u UDP4-RECV:5005,bind=127.0.0.1 /dev/null            # loopback only
# udp_pong PORT DELAY_S: one python3 process on [::]:PORT (IPv4 too) that
# answers each datagram "pong" after DELAY_S. One process, not socat's fork
# and shell per datagram, which took seconds on a loaded CI machine (5008
# read as not OPEN there once, 5007's reply left too late to be seen once).
udp_pong() {
  bg python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    time.sleep(float(sys.argv[2]))
    s.sendto(b"pong", peer)' "$1" "$2"
}
udp_pong 5006 0    # answers
udp_pong 5007 0    # answers; the reply is dropped
udp_pong 5008 0.4  # answers 0.4 s late (a recursive lookup)

cleanup_daemons() { kill "${DAEMONS[@]}" 2>/dev/null || true; }
trap 'cleanup_daemons; e2e_cleanup' EXIT
for port in 53 51820 5002 5003 5005 5006 5007 5008; do
  for _ in $(seq 50); do on server ss -Hulnt "sport = :$port" | grep -q . && break; sleep 0.1; done
done
start_agent

# --timeout 3s: a loaded CI machine (images fetched, ASan binaries) is slow
# to answer (with socat's forked echo, 1 s read APP_FAILED once).
PORTS=8090,53/udp,51820/udp,5001/udp,5002/udp,5003/udp,5004/udp,5005/udp,5006/udp,5007/udp,5008/udp
prober_json "$TMPD/v4.json" --target "$S4" --ports "$PORTS" --token-file "$TOKEN_FILE" --udp-payload 70696e67 \
  --probe 5006/udp=udp --timeout 3s
verdict() { jq -r --argjson p "$2" '.ports[] | select(.port == $p and .protocol == "UDP") | .verdict' "$1"; }
expect() { # expect FILE PORT VERDICT; when not, what the port said
  check "$(basename "$1" .json): $2/udp $3" said_verdict "$1" "$2" "$3"
}
said_verdict() {
  [ "$(verdict "$1" "$2")" = "$3" ] && return 0
  jq -c --argjson p "$2" '.ports[] | select(.port == $p and .protocol == "UDP") |
    {verdict, summary, decidedMs, attempts: [.evidence.attempts[]? | {outcome, elapsedMs}], app: (.app | {ok, error})}' \
    "$1" | head -c 1200 >&2
  echo >&2
  return 1
}
for f in "$TMPD/v4.json"; do
  check "v4: the agent was used" jq_is "$f" '.agent.status' CONNECTED
  check "v4: 8090/tcp OPEN beside the UDP ports" jq_is "$f" '.ports[] | select(.port == 8090) | .protocol + " " + .verdict' "TCP OPEN"
  expect "$f" 53 OPEN
  check "v4: dnsmasq's answer code is shown" jq_is "$f" '.ports[] | select(.port == 53) | .app.fields.rcode' REFUSED
  expect "$f" 51820 OPEN
  check "v4: 51820 is OPEN because the agent saw it delivered to socat" \
    bash -c "jq -r '.ports[] | select(.port == 51820) | .summary' '$f' | grep -q 'delivered to socat'"
  expect "$f" 5001 NO_LISTENER
  expect "$f" 5002 DROPPED_BY_HOST_FIREWALL
  check "v4: 5002's rule is named" \
    bash -c "jq -r '.ports[] | select(.port == 5002) | .evidence.firewall[]' '$f' | grep -q 'udp dport 5002 drop'"
  expect "$f" 5003 REJECTED_BY_HOST_FIREWALL
  expect "$f" 5004 DROPPED_IN_TRANSIT
  expect "$f" 5005 LISTENER_WRONG_ADDRESS
  expect "$f" 5006 OPEN
  expect "$f" 5007 REPLY_LOST
  expect "$f" 5008 OPEN  # the agent saw the datagram delivered; the prober waits for the program's answer
  check "v4: the advice for 5001 lists UDP sockets" \
    bash -c "jq -r '.ports[] | select(.port == 5001) | .advice[]' '$f' | grep -qF 'ss -ulnp'"
done
check "v4: exit 1 (ports not open)" test "$RC" = 1

# --dns-name: the record dnsmasq holds, and a name it refuses.
prober_json "$TMPD/name.json" --target "$S4" --ports 53/udp --token-file "$TOKEN_FILE" --dns-name test.example
check "dns-name: OPEN with the address" jq_is "$TMPD/name.json" '.ports[0].verdict + " " + .ports[0].app.fields.addresses' "OPEN 192.0.2.53"
prober_json "$TMPD/noname.json" --target "$S4" --ports 53/udp --token-file "$TOKEN_FILE" --dns-name other.example
check "dns-name: a name the server will not resolve is APP_FAILED" jq_is "$TMPD/noname.json" '.ports[0].verdict' APP_FAILED

# IPv6: the same server over its IPv6 address.
prober_json "$TMPD/v6.json" --target "$S6" --ports 53/udp,51820/udp,5001/udp,5004/udp --token-file "$TOKEN_FILE" --timeout 3s
expect "$TMPD/v6.json" 53 OPEN
expect "$TMPD/v6.json" 51820 OPEN
expect "$TMPD/v6.json" 5001 NO_LISTENER
expect "$TMPD/v6.json" 5004 DROPPED_IN_TRANSIT

# The client's view alone: a reply, port unreachable, silence.
prober_json "$TMPD/alone.json" --target "$S4" --ports 5006/udp,5001/udp,51820/udp --no-agent --udp-payload 70 --timeout 2s
expect "$TMPD/alone.json" 5006 OPEN
expect "$TMPD/alone.json" 5001 CLOSED
expect "$TMPD/alone.json" 51820 FILTERED
check "no agent: silence reads 'open or filtered'" \
  bash -c "jq -r '.ports[] | select(.port == 51820) | .summary' '$TMPD/alone.json' | grep -q 'open or filtered'"

# agent check on the server alone: the same host facts for UDP ports.
set +e
on server "$AGENT" check --ports 5001/udp,5002/udp,5003/udp,5005/udp,51820/udp --format json >"$TMPD/check.json" 2>"$TMPD/check.err"
set -e
expect "$TMPD/check.json" 5001 NO_LISTENER
expect "$TMPD/check.json" 5002 DROPPED_BY_HOST_FIREWALL
expect "$TMPD/check.json" 5003 REJECTED_BY_HOST_FIREWALL
expect "$TMPD/check.json" 5005 LISTENER_WRONG_ADDRESS
expect "$TMPD/check.json" 51820 OPEN
check "check: the drop's advice opens UDP, not TCP" \
  bash -c "jq -r '.ports[] | select(.port == 5002) | .advice[]' '$TMPD/check.json' | grep -qv 'tcp dport'"

# Text and JUnit name UDP ports so.
set +e
on client "$PROBER" --target "$S4" --ports 8090,5001/udp --token-file "$TOKEN_FILE" >"$TMPD/out.txt" 2>&1
on client "$PROBER" --target "$S4" --ports 5001/udp --token-file "$TOKEN_FILE" --format junit >"$TMPD/out.xml" 2>&1
set -e
check "text: the table names 5001/udp" grep -qE '^5001/udp +udp +NO_LISTENER' "$TMPD/out.txt"
check "junit: the case is udp/5001" grep -q 'name="udp/5001 udp"' "$TMPD/out.xml"
e2e_finish
