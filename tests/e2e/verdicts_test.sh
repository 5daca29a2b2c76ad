#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: every verdict of DESIGN.md
# produced by a real fault, over IPv4 and IPv6, with and without the agent.
# usage: verdicts_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
ISP=$(lab addr isp 4)
ISP6=$(lab addr isp 6)
PROVIDER=$(lab addr provider 4)
PROVIDER6=$(lab addr provider 6)

# One fault per port (scripts/lab.sh fault help).
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 22 --echo                      # OPEN
quiet lab serve server :: 25 --echo; quiet lab fault isp-block 25         # DROPPED_IN_TRANSIT at hop 1
quiet lab serve server :: 587 --echo                     # OPEN (makes 25 look like OP25B)
quiet lab serve server :: 8083 --echo; quiet lab fault provider-drop 8083 # DROPPED_IN_TRANSIT at hop 2
quiet lab fault router-reject 8084                       # REJECTED_IN_TRANSIT
quiet lab serve server :: 443 --http; quiet lab fault host-drop 443       # DROPPED_BY_HOST_FIREWALL
quiet lab serve server :: 8443 --http; quiet lab fault host-reject-rst 8443   # REJECTED_BY_HOST_FIREWALL
quiet lab serve server :: 8444 --http; quiet lab fault host-reject-icmp 8444  # REJECTED_BY_HOST_FIREWALL
                                                         # 8080: NO_LISTENER
quiet lab serve server 127.0.0.1 8081 --http             # LISTENER_WRONG_ADDRESS (v4)
quiet lab serve server ::1 8081 --http                   #   and v6
quiet lab serve server :: 8082 --http; quiet lab fault return-drop 8082   # REPLY_LOST
quiet lab fault intercept 8085                           # INTERCEPTED
quiet lab serve server :: 8086 --echo                    # OPEN, but the provider clamps the SYN's MSS
on provider nft -f - <<'NFT'
table inet e2e_mss {
  chain forward { type filter hook forward priority 0; tcp dport 8086 tcp flags syn tcp option maxseg size set 1200; }
}
NFT
PORTS=22,25,443,587,8080,8081,8082,8083,8084,8085,8086,8443,8444
# The echo listeners speak no protocol: connect-level probes on the well-known ports.
TCP_ONLY=(--probe 22=tcp --probe 587=tcp)

start_agent

verdict_is() { # verdict_is FILE PORT VERDICT
  jq_is "$1" ".ports[] | select(.port == $2) | .verdict" "$3"
}

for family in 4 6; do
  if [ $family = 4 ]; then target=$SERVER; isp=$ISP; provider=$PROVIDER; else target=$SERVER6; isp=$ISP6; provider=$PROVIDER6; fi
  out="$TMPD/report$family.json"
  start=$(date +%s%N)
  prober_json "$out" --target "$target" --ports "$PORTS" "${TCP_ONLY[@]}" --token-file "$TOKEN_FILE" --timeout 1s
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "    IPv$family report for ${PORTS//,/ } took ${elapsed_ms} ms"
  check "v$family agent CONNECTED and capturing" jq_is "$out" '.agent.status + " " + (.agent.captureActive|tostring)' "CONNECTED true"
  check "v$family exit code 1 (not every port is open)" test "$RC" -eq 1
  check "v$family 22 OPEN" verdict_is "$out" 22 OPEN
  check "v$family 587 OPEN" verdict_is "$out" 587 OPEN
  check "v$family the path's TTL said once for the report, not on each port" \
    jq -e '([.notes[] | select(test("^ports [0-9,-]+: the SYN arrived with TTL [0-9]+: [0-9]+ routers? between"))] | length >= 1) and ([.ports[].evidence.notes[] | select(test("arrived with TTL"))] | length == 0)' "$out"
  # the lab's path rewrites nothing for 22: what the SYN carried is what arrived
  check "v$family 22 on a clean path: no 'in flight' note (timestamps lower advmss, not the SYN's MSS)" \
    jq -e '[.ports[] | select(.port == 22) | .evidence.notes[] | select(test("in flight"))] | length == 0' "$out"
  check "v$family 25 DROPPED_IN_TRANSIT (ISP block)" verdict_is "$out" 25 DROPPED_IN_TRANSIT
  check "v$family 25 dropped after hop 1 ($isp)" \
    jq_is "$out" '.ports[] | select(.port == 25) | "\(.evidence.hop.lastHop) \(.evidence.hop.lastHopAddress)"' "1 $isp"
  check "v$family 25 advice names OP25B" \
    bash -c "jq -r '[.ports[] | select(.port == 25) | .advice[]] + .notes | join(\" \")' '$out' | grep -q OP25B"
  check "v$family 8083 DROPPED_IN_TRANSIT (provider filter)" verdict_is "$out" 8083 DROPPED_IN_TRANSIT
  check "v$family 8083 dropped after hop 2 ($provider)" \
    jq_is "$out" '.ports[] | select(.port == 8083) | "\(.evidence.hop.lastHop) \(.evidence.hop.lastHopAddress)"' "2 $provider"
  check "v$family 8084 REJECTED_IN_TRANSIT" verdict_is "$out" 8084 REJECTED_IN_TRANSIT
  check "v$family 8084 rejection names the router ($provider)" \
    jq_is "$out" '[.ports[] | select(.port == 8084) | .evidence.attempts[].icmpFrom] | first' "$provider"
  check "v$family 443 DROPPED_BY_HOST_FIREWALL" verdict_is "$out" 443 DROPPED_BY_HOST_FIREWALL
  check "v$family 8443 REJECTED_BY_HOST_FIREWALL (tcp reset)" verdict_is "$out" 8443 REJECTED_BY_HOST_FIREWALL
  check "v$family 8444 REJECTED_BY_HOST_FIREWALL (icmp)" verdict_is "$out" 8444 REJECTED_BY_HOST_FIREWALL
  check "v$family 8080 NO_LISTENER" verdict_is "$out" 8080 NO_LISTENER
  check "v$family 8081 LISTENER_WRONG_ADDRESS" verdict_is "$out" 8081 LISTENER_WRONG_ADDRESS
  check "v$family 8081 evidence names the loopback listener" \
    bash -c "jq -r '.ports[] | select(.port == 8081) | .evidence.listeners[].address' '$out' | grep -Eq '^(127\\.0\\.0\\.1|::1)$'"
  check "v$family 8082 REPLY_LOST" verdict_is "$out" 8082 REPLY_LOST
  check "v$family 8085 INTERCEPTED" verdict_is "$out" 8085 INTERCEPTED
  check "v$family 8086 OPEN with the MSS clamp noted" \
    bash -c "jq -e '.ports[] | select(.port == 8086) | select(.verdict == \"OPEN\") | .evidence.notes[]' '$out' | grep -q 'MSS clamped in flight: sent [0-9]*, arrived 1200'"
  check "v$family every port has a summary and non-OPEN ports have advice" \
    jq_is "$out" '[.ports[] | select(.summary == "" or (.verdict != "OPEN" and (.advice | length) == 0))] | length' 0
done

# The text report: a table line per port, evidence for the failures.
set +e
on client env NO_COLOR=1 "$PROBER" --target "$SERVER" --ports "$PORTS" "${TCP_ONLY[@]}" --token-file "$TOKEN_FILE" --timeout 1s \
  >"$TMPD/report.txt" 2>&1
set -e
check "text: one table line per port" test "$(grep -cE '^[0-9]+ +[a-z]+ +[A-Z_]+' "$TMPD/report.txt")" -ge 13
check "text: no line wider than 80 columns in the table" \
  bash -c "! grep -E '^[0-9]+ +[a-z]+ +[A-Z_]+' '$TMPD/report.txt' | awk 'length > 80' | grep -q ."
check "text: no colour escapes with NO_COLOR" bash -c "! grep -q $'\\x1b' '$TMPD/report.txt'"

# Client-only (no agent): FILTERED / CLOSED / OPEN and a plain statement why.
out="$TMPD/noagent.json"
prober_json "$out" --target "$SERVER" --ports 22,443,8080 --probe 22=tcp --no-agent --timeout 1s
check "--no-agent 22 OPEN" verdict_is "$out" 22 OPEN
check "--no-agent 443 FILTERED" verdict_is "$out" 443 FILTERED
check "--no-agent 8080 CLOSED" verdict_is "$out" 8080 CLOSED
check "--no-agent says the drop cannot be localised" \
  bash -c "jq -r '.ports[] | select(.port == 443) | .summary + \" \" + (.evidence.notes | join(\" \"))' '$out' | grep -qi 'agent'"

# Agent unreachable (control port filtered): client-only verdicts, exit 1.
lab fault control-block 7411
out="$TMPD/unreach.json"
prober_json "$out" --target "$SERVER" --ports 22,8080 --probe 22=tcp --token-file "$TOKEN_FILE" --timeout 700ms
check "agent unreachable: status UNREACHABLE" jq_is "$out" .agent.status UNREACHABLE
check "agent unreachable: 22 still OPEN from the client side" verdict_is "$out" 22 OPEN
check "agent unreachable: 8080 CLOSED (client-only)" verdict_is "$out" 8080 CLOSED

e2e_finish
