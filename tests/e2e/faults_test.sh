#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: the prober stays truthful
# when the path or the agent fails.
#  - 30% random loss at the provider on one port (nft numgen): 20 runs, each
#    OPEN, and the runs that lost packets say so in a note;
#  - 40% of the server's replies lost: 15 runs, each OPEN (a lost SYN-ACK is
#    retried, not REPLY_LOST), the losses noted;
#  - the agent killed (SIGKILL) in the middle of a session: client-only
#    verdicts, a note that says the agent was lost, exit 1, no hang.
# (The control port blocked on the path: e2e.control_channel and e2e.verdicts.)
# usage: faults_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8070 --echo
quiet lab serve server :: 8071 --echo
quiet lab fault loss 8070 30
start_agent

# --- 30% loss, 20 runs -----------------------------------------------------
open_runs=0
noted=0
lossy=0
for i in $(seq 1 20); do
  out="$TMPD/loss$i.json"
  # Default retries (two attempts): both SYNs die in 9 runs of 100; then the
  # hop search's SYNs that pass the last router reach the server and one of
  # them completing the handshake makes it OPEN with a loss note (100 of 100
  # runs OPEN when measured).
  prober_json "$out" --target "$SERVER" --ports 8070 --probe 8070=tcp --token-file "$TOKEN_FILE" --timeout 1s
  verdict=$(jq -r '.ports[0].verdict' "$out" 2>/dev/null || echo none)
  notes=$(jq -r '[.ports[0].evidence.notes[]?] | join(" | ")' "$out" 2>/dev/null || true)
  # A run lost packets when the agent saw a retransmitted SYN or an attempt failed.
  if jq -e '[.ports[0].evidence.attempts[]? | select(.outcome != "CONNECTED")] | length > 0' "$out" >/dev/null 2>&1 ||
    grep -qi "retransmit\|loss" <<<"$notes"; then
    lossy=$((lossy + 1))
    grep -qi "loss\|retransmit" <<<"$notes" && noted=$((noted + 1))
  fi
  if [ "$verdict" = OPEN ] && [ "$RC" -eq 0 ]; then
    open_runs=$((open_runs + 1))
  else
    echo "    run $i: verdict $verdict, exit $RC, notes: $notes" >&2
  fi
done
echo "    30% loss: $open_runs of 20 runs OPEN; $lossy runs lost packets, $noted of them with a loss note"
check "30% loss: all 20 runs OPEN, exit 0" test "$open_runs" -eq 20
check "30% loss: the loss showed in some runs (the fault works)" test "$lossy" -ge 1
check "30% loss: every run that lost packets notes it" test "$noted" -eq "$lossy"
lab fault clear >/dev/null 2>&1

# --- 40% of the server's replies lost, 15 runs ------------------------------
# A SYN-ACK that left the server and never arrived is retried, not judged
# REPLY_LOST at once: one lost packet is not a path that loses them all. With
# --retries 10 all eleven replies die in 4 runs of 100000.
quiet lab fault reply-loss 8071 40
open_runs=0
lost_replies=0
noted=0
for i in $(seq 1 15); do
  out="$TMPD/reply$i.json"
  prober_json "$out" --target "$SERVER" --ports 8071 --probe 8071=tcp --token-file "$TOKEN_FILE" --timeout 1s \
    --retries 10
  verdict=$(jq -r '.ports[0].verdict' "$out" 2>/dev/null || echo none)
  if jq -e '[.ports[0].evidence.attempts[]? | select(.outcome != "CONNECTED")] | length > 0' "$out" >/dev/null 2>&1; then
    lost_replies=$((lost_replies + 1))
    jq -e '.ports[0].evidence.notes | map(select(test("loss"))) | length > 0' "$out" >/dev/null 2>&1 &&
      noted=$((noted + 1))
  fi
  if [ "$verdict" = OPEN ] && [ "$RC" -eq 0 ]; then
    open_runs=$((open_runs + 1))
  else
    echo "    run $i: verdict $verdict, exit $RC: $(jq -c '.ports[0].evidence.notes' "$out" 2>/dev/null)" >&2
  fi
done
echo "    40% reply loss: $open_runs of 15 runs OPEN; $lost_replies runs lost a reply, $noted of them noted"
check "40% reply loss: all 15 runs OPEN, exit 0 (a lost SYN-ACK is retried)" test "$open_runs" -eq 15
check "40% reply loss: some runs lost a reply (the fault works)" test "$lost_replies" -ge 1
check "40% reply loss: every run that lost a reply notes the loss" test "$noted" -eq "$lost_replies"
lab fault clear >/dev/null 2>&1

# --- the agent killed mid-session -----------------------------------------
# 8072: a silent listener probed as http: the probe waits for an answer, so the
# session lasts; 8073: dropped by the provider (no SYN would reach the agent).
# The agent's summary waits for its host facts: an nft that takes 3 s (first
# on the agent's PATH) keeps it from coming before the agent dies.
quiet lab serve server :: 8072 --silent
quiet lab fault provider-drop 8073
mkdir -p "$TMPD/slowbin"
printf '#!/bin/sh\nsleep 3\nexec %s "$@"\n' "$(command -v nft)" >"$TMPD/slowbin/nft"
printf '#!/bin/sh\nPATH=%s:$PATH exec %s "$@"\n' "$TMPD/slowbin" "$AGENT" >"$TMPD/slow-agent"
chmod +x "$TMPD/slowbin/nft" "$TMPD/slow-agent"
stop_agent
real_agent=$AGENT
AGENT=$TMPD/slow-agent
start_agent
AGENT=$real_agent
out="$TMPD/killed.json"
set +e
start=$(date +%s%N)
on client timeout 60 "$PROBER" --format json --target "$SERVER" --ports 8071,8072,8073 --probe 8071=tcp \
  --probe 8072=http --token-file "$TOKEN_FILE" --timeout 3s --app-timeout 3s >"$out" 2>"$out.err" &
prober_pid=$!
set -e
# Kill the agent once the session is open (its control connection is up).
for _ in $(seq 1 50); do
  if on server ss -Htn state established '( sport = :7411 )' | grep -q .; then break; fi
  sleep 0.1
done
sleep 0.3
for pid in $(ip netns pids "$(lab ns server)"); do
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = agent ] && kill -9 "$pid"
done
set +e
wait $prober_pid
rc=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "    prober after the agent was killed: exit $rc in ${elapsed_ms} ms; agent: $(jq -c '.agent.message' "$out" 2>/dev/null)"
for p in 8071 8072 8073; do echo "    $p: $(jq -r --argjson p $p '.ports[] | select(.port == $p) | "\(.verdict): \(.summary)"' "$out" 2>/dev/null)"; done
check "agent killed: the prober exits 1 (not a hang, not a crash)" test "$rc" -eq 1
check "agent killed: done within 30 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 30000
check "agent killed: a JSON report" bash -c "jq -e . '$out' >/dev/null"
check "agent killed: the note says the control channel ended" \
  bash -c "jq -r '.agent.message' '$out' | grep -q 'control channel ended before the agent.s summary'"
check "agent killed: 8071 still OPEN from the client side" \
  jq_is "$out" '.ports[] | select(.port == 8071) | .verdict' OPEN
check "agent killed: 8072 judged from the client side (connects, no HTTP answer: APP_FAILED)" \
  jq_is "$out" '.ports[] | select(.port == 8072) | .verdict' APP_FAILED
check "agent killed: every port has a verdict" jq_is "$out" '[.ports[] | select(.verdict == null or .verdict == "")] | length' 0

e2e_finish
