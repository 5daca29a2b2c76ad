#!/usr/bin/env bash
# End to end in the namespace lab, the CI contract: --expect decides the exit
# code, --wait waits for a service that starts late (and gives up at its
# deadline), --format junit is valid JUnit XML, and agent --pcap-dir keeps a
# capture that tcpdump reads back with the session's SYNs in it.
# usage: ci_gating_test.sh BUILD_BIN_DIR JUNIT_XSD
source "$(dirname "$0")/lib.sh"
XSD=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
e2e_setup "$1"

SERVER=$(lab addr server 4)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 22 --echo            # open
quiet lab fault isp-block 25                   # blocked in transit (OP25B)
mkdir -p "$TMPD/pcap"
start_agent --pcap-dir "$TMPD/pcap"
common=(--target "$SERVER" --token-file "$TOKEN_FILE" --timeout 1s --probe 22=tcp)  # the echo listener speaks no SSH

# --expect: the exit code follows the expectations, the report marks each port.
out="$TMPD/expect.json"
prober_json "$out" "${common[@]}" --ports 22,25 --expect 22=open --expect 25=blocked
check "--expect 22=open 25=blocked: exit 0" test "$RC" -eq 0
check "25 DROPPED_IN_TRANSIT, expected blocked, as expected" \
  jq_is "$out" '.ports[] | select(.port == 25) | "\(.verdict) \(.expect) \(.asExpected)"' "DROPPED_IN_TRANSIT blocked true"
check "22 OPEN, expected open, as expected" \
  jq_is "$out" '.ports[] | select(.port == 22) | "\(.verdict) \(.expect) \(.asExpected)"' "OPEN open true"
check "one run without --wait" jq_is "$out" '.runs' "1"

prober_json "$TMPD/unexpected.json" "${common[@]}" --ports 22,25 --expect open
check "--expect open with 25 blocked: exit 1" test "$RC" -eq 1
check "25 marked not as expected" jq_is "$TMPD/unexpected.json" '.ports[] | select(.port == 25) | .asExpected' "false"
set +e
on client "$PROBER" "${common[@]}" --ports 22,25 --expect 25=DROPPED_IN_TRANSIT --format text >"$TMPD/text.out" 2>&1
text_rc=$?
set -e
check "--expect 25=DROPPED_IN_TRANSIT (verdict name), text: exit 0" test "$text_rc" -eq 0
check "text report marks 25's expectation" grep -q "DROPPED_IN_TRANSIT (as expected)" "$TMPD/text.out"

# Capture export: the report names the agent's pcap, tcpdump reads the SYNs back.
pcap=$(jq -r '.agent.pcapFile' "$out")
check "report names the pcap file ($pcap)" test -n "$pcap" -a "$pcap" != null
check "the pcap file is in --pcap-dir" test -s "$pcap" -a "$(dirname "$pcap")" = "$TMPD/pcap"
syns=$(tcpdump -nr "$pcap" 'tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and dst port 22' 2>/dev/null | wc -l)
check "tcpdump -r shows the session's SYNs to 22 ($syns)" test "$syns" -ge 1
syns25=$(tcpdump -nr "$pcap" 'dst port 25' 2>/dev/null | wc -l)
check "and none to 25, blocked before the server ($syns25)" test "$syns25" -eq 0

# JUnit: valid against the schema, one testcase per port, a failure per unexpected port.
junit() { # junit OUT args...: sets RC
  local o=$1
  shift
  set +e
  on client "$PROBER" --format junit "$@" >"$o" 2>"$o.err"
  RC=$?
  set -e
}
junit "$TMPD/fail.xml" "${common[@]}" --ports 22,25,8080 --expect open
check "junit run with failures: exit 1" test "$RC" -eq 1
check "junit with failures is valid against junit.xsd" xmllint --noout --schema "$XSD" "$TMPD/fail.xml"
check "three testcases" test "$(xmllint --xpath 'count(//testcase)' "$TMPD/fail.xml")" = 3
check "two failures (25, 8080)" test "$(xmllint --xpath 'count(//testcase/failure)' "$TMPD/fail.xml")" = 2
check "testcase tcp/25 fails with DROPPED_IN_TRANSIT" \
  test "$(xmllint --xpath 'string(//testcase[@name="tcp/25 smtp" or @name="tcp/25 tcp"]/failure/@type)' "$TMPD/fail.xml")" = DROPPED_IN_TRANSIT
check "failure text carries advice" grep -q "next steps:" "$TMPD/fail.xml"
junit "$TMPD/pass.xml" "${common[@]}" --ports 22,25 --expect 22=open --expect 25=blocked
check "junit all as expected: exit 0, valid, no failure" \
  bash -c "test $RC -eq 0 && xmllint --noout --schema '$XSD' '$TMPD/pass.xml' && ! grep -q '<failure' '$TMPD/pass.xml'"
sed 's/<testcase name="[^"]*"/<testcase/' "$TMPD/pass.xml" >"$TMPD/broken.xml"
check "the schema does reject a testcase without a name" \
  bash -c "! xmllint --noout --schema '$XSD' '$TMPD/broken.xml' 2>/dev/null"

# --wait: a service that starts 6 s after the prober begins.
(sleep 6; lab serve server :: 8080 --echo >/dev/null 2>&1) &
late=$!
start=$(date +%s%N)
prober_json "$TMPD/wait2.json" "${common[@]}" --ports 22,8080 --probe 8080=tcp --wait 2s
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "--wait 2s before the service is up: exit 1 (after $took ms)" test "$RC" -eq 1
check "--wait 2s made several runs" test "$(jq -r .runs "$TMPD/wait2.json")" -ge 2
check "--wait 2s gave up near its deadline" test "$took" -ge 2000 -a "$took" -lt 6000
check "never ready: no readyAfterMs (0 is left out)" jq_is "$TMPD/wait2.json" '.readyAfterMs // 0' "0"
prober_json "$TMPD/wait20.json" "${common[@]}" --ports 22,8080 --probe 8080=tcp --wait 20s
took=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$late" || true
check "--wait 20s: exit 0 once the service is up (after $took ms)" test "$RC" -eq 0
check "--wait 20s: the last run sees 8080 OPEN" jq_is "$TMPD/wait20.json" '.ports[] | select(.port == 8080) | .verdict' OPEN
check "--wait 20s: several runs" test "$(jq -r .runs "$TMPD/wait20.json")" -ge 2
ready=$(jq -r '.readyAfterMs' "$TMPD/wait20.json")
check "--wait 20s: readyAfterMs ($ready) is set and below 20 s" awk -v r="$ready" 'BEGIN { exit !(r > 500 && r < 20000) }'
check "--wait 20s: took less than the deadline ($took ms)" test "$took" -lt 20000

e2e_finish
