#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: the agent captures only the
# authenticated prober's own packets. Two probers, from client (198.51.100.2)
# and client2 (198.51.100.130), probe the same ports of the server at the
# same time; neither report nor either session's pcap file holds a packet of
# the other. usage: scope_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
C1=$(lab addr client 4)
C2=$(lab addr client2 4)
PCAPS="$TMPD/pcap"
mkdir -p "$PCAPS"
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8090 --echo       # OPEN for both
quiet lab serve server :: 8091 --echo
quiet lab fault host-drop 8091              # dropped
# A listener that never speaks, probed as http: each session lasts the probe's
# 2 s wait for an answer, so two sessions started together overlap even when
# one prober starts a second later than the other (ASan, a loaded machine).
quiet lab serve server :: 8092 --silent
start_agent --pcap-dir "$PCAPS"

run_prober() { # run_prober NODE OUT
  set +e
  on "$1" "$PROBER" --format json --target "$SERVER" --ports 8090,8091,8092 --probe 8090=tcp --probe 8092=http \
    --token-file "$TOKEN_FILE" --timeout 2s --app-timeout 2s --retries 2 >"$2" 2>"$2.err"
  echo $? >"$2.rc"
  set -e
}
run_prober client "$TMPD/c1.json" &
p1=$!
run_prober client2 "$TMPD/c2.json" &
p2=$!
wait $p1 $p2

# packets_of FILE: "src dst" of every agent packet in the report.
packets_of() { jq -r '.ports[].evidence.agentPackets[]? | "\(.src) \(.dst)"' "$1"; }

for side in 1 2; do
  if [ $side = 1 ]; then me=$C1; other=$C2; else me=$C2; other=$C1; fi
  out="$TMPD/c$side.json"
  check "prober $side ($me): CONNECTED, sees itself as $me" \
    jq_is "$out" '.agent.status + " " + .agent.peerAddress' "CONNECTED $me"
  check "prober $side: 8090 OPEN" jq_is "$out" '.ports[] | select(.port == 8090) | .verdict' OPEN
  check "prober $side: 8091 DROPPED_BY_HOST_FIREWALL" \
    jq_is "$out" '.ports[] | select(.port == 8091) | .verdict' DROPPED_BY_HOST_FIREWALL
  check "prober $side: the agent reported its packets" test "$(packets_of "$out" | wc -l)" -ge 4
  check "prober $side: every agent packet is between $me and the server" \
    bash -c "jq -r '.ports[].evidence.agentPackets[]? | \"\(.src) \(.dst)\"' '$out' |
      grep -v -x -e '$me $SERVER' -e '$SERVER $me' | grep -q . && exit 1 || exit 0"
  check "prober $side: no packet of $other in the report" bash -c "! grep -qF '\"$other\"' '$out'"
done

# The sessions really overlapped: each one's first captured packet came before
# the other's last (the session pcap files hold every packet, the reports only
# the handshakes).
first_last() { # first_last REPORT: first and last packet time of its session's pcap, in µs
  local times
  times=$(tcpdump -tt -nn -r "$(jq -r '.agent.pcapFile' "$1")" 2>/dev/null | awk 'NR == 1 {f = $1} {l = $1} END {print f, l}')
  echo "${times//./}"  # "1764518303.123456" -> µs, for bash's 64-bit arithmetic
}
read -r f1 l1 < <(first_last "$TMPD/c1.json")
read -r f2 l2 < <(first_last "$TMPD/c2.json")
check "the two sessions captured at the same time ($f1-$l1, $f2-$l2)" \
  test "${f1:-0}" -gt 0 -a "${f1:-0}" -lt "${l2:-0}" -a "${f2:-0}" -lt "${l1:-0}"

# The agent's pcap files: one per session, each with only its prober's packets.
pcap_for() { jq -r '.agent.pcapFile' "$1"; }
for side in 1 2; do
  if [ $side = 1 ]; then me=$C1; other=$C2; else me=$C2; other=$C1; fi
  file=$(pcap_for "$TMPD/c$side.json")
  check "prober $side: its session's pcap file exists" test -s "$file"
  tcpdump -nn -r "$file" 2>/dev/null >"$TMPD/pcap$side.txt" || true
  check "prober $side: the pcap holds packets of $me" grep -qF " $me." "$TMPD/pcap$side.txt"
  check "prober $side: the pcap holds no packet of $other" bash -c "! grep -qF ' $other.' '$TMPD/pcap$side.txt'"
  check "prober $side: the pcap is headers only (snaplen 256)" \
    bash -c "tcpdump -r '$file' 2>&1 >/dev/null | grep -q 'snapshot length 256'"
done

e2e_finish
