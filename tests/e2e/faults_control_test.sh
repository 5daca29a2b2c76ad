#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: abuse of the agent's
# control port never stops it from serving a good prober.
#  - 100 KB of random bytes, raw and inside TLS; a length prefix of 0xFFFFFFFF;
#  - 50 silent connections (TCP and TLS) from one address;
#  - a wrong token 100 times from one address (that address backs off, the
#    others are served), and the token never appears in the agent's log.
# usage: faults_control_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
C2=$(lab addr client2 4)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8060 --echo
mkdir -p "$TMPD/pcap"
start_agent --auth-timeout 3s --max-per-source 8 --pcap-dir "$TMPD/pcap"
AGENT_LOG="$TMPD/agent.log"

good_prober() { # good_prober NODE OUT: a right-token prober; sets RC
  set +e
  on "$1" "$PROBER" --format json --target "$SERVER" --ports 8060 --probe 8060=tcp \
    --token-file "$TOKEN_FILE" --timeout 1s >"$2" 2>"$2.err"
  RC=$?
  set -e
}
served() { # served FILE: CONNECTED and 8060 OPEN
  jq_is "$1" '.agent.status + " " + .ports[0].verdict' "CONNECTED OPEN"
}
agent_alive() { on server pgrep -x agent >/dev/null; }
# tls_send NODE: stdin goes to the agent inside TLS; returns when the agent closes.
tls_send() {
  on "$1" timeout 10 openssl s_client -quiet -tls1_3 -connect "$SERVER:7411" 2>/dev/null >/dev/null
}

# --- garbage ---------------------------------------------------------------
head -c 102400 /dev/urandom >"$TMPD/random.bin"
start=$(date +%s%N)
on client timeout 10 socat -u OPEN:"$TMPD/random.bin" TCP:"$SERVER":7411 2>/dev/null || true
check "100 KB of random bytes (raw TCP): the agent is alive" agent_alive
set +e
tls_send client <"$TMPD/random.bin"
tls_rc=$?
set -e
check "100 KB of random bytes inside TLS: the agent closes the connection (no hang)" test "$tls_rc" -ne 124
printf '\xff\xff\xff\xff' >"$TMPD/huge.bin"
(cat "$TMPD/huge.bin"; sleep 4) | tls_send client &
huge_pid=$!
sleep 1.5
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "length prefix 0xFFFFFFFF: the agent closed the connection at once (waits for no 4 GiB)" \
  test "$(on server ss -Htn state established '( sport = :7411 )' | wc -l)" -eq 0
wait $huge_pid || true
good_prober client "$TMPD/after_garbage.json"
check "after the garbage: a good prober is served" served "$TMPD/after_garbage.json"
echo "    garbage phase took ${elapsed_ms} ms"

# --- 50 silent connections from client --------------------------------------
silent_pids=()
for i in $(seq 1 45); do
  on client timeout 20 socat -u EXEC:"sleep 20" TCP:"$SERVER":7411 >/dev/null 2>&1 &
  silent_pids+=($!)
done
for i in $(seq 1 5); do # silent after a completed TLS handshake
  (sleep 20 | tls_send client) >/dev/null 2>&1 &
  silent_pids+=($!)
done
sleep 1
held=$(on server ss -Htn state established '( sport = :7411 )' | wc -l)
echo "    50 silent connections: the agent holds $held of them"
check "50 silent connections: the agent holds at most --max-per-source (8) of them" test "$held" -le 8
check "50 silent connections: refusals are logged" grep -q "too many connections from this source" "$AGENT_LOG"
start=$(date +%s%N)
good_prober client2 "$TMPD/during_silent.json"
check "during 50 silent connections: a prober from client2 is served at once" served "$TMPD/during_silent.json"
# From the silent address itself: served once the auth deadline (3 s) has freed its slots.
sleep 3
good_prober client "$TMPD/after_silent.json"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "after the auth deadline (3 s): a prober from the silent address is served (${elapsed_ms} ms)" \
  served "$TMPD/after_silent.json"
check "the silent connections were cut at the auth deadline" \
  test "$(on server ss -Htn state established '( sport = :7411 )' | wc -l)" -le 2
for pid in "${silent_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait "${silent_pids[@]}" 2>/dev/null || true

# --- a wrong token 100 times from client -------------------------------------
echo "ffffffffffffffffffffffffffffffff" >"$TMPD/wrong"
chmod 600 "$TMPD/wrong"
auth_failed=0
backed_off=0
start=$(date +%s%N)
for i in $(seq 1 100); do
  set +e
  on client "$PROBER" --format json --target "$SERVER" --ports 8060 --probe 8060=tcp \
    --token-file "$TMPD/wrong" --timeout 200ms >"$TMPD/wrong.json" 2>/dev/null
  set -e
  status=$(jq -r .agent.status "$TMPD/wrong.json" 2>/dev/null || echo none)
  if [ "$status" = AUTH_FAILED ]; then
    auth_failed=$((auth_failed + 1))
    # The 7th failure starts a wait of 8 s: the right token from here is refused too.
    if [ "$auth_failed" -eq 7 ]; then good_prober client "$TMPD/same.json"; fi
  fi
  if jq -r .agent.message "$TMPD/wrong.json" 2>/dev/null | grep -q "failed authentications from"; then
    backed_off=$((backed_off + 1))
  fi
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "    100 wrong tokens in ${elapsed_ms} ms: $auth_failed refused as AUTH_FAILED, $backed_off told to wait"
check "wrong token: the first ones are refused as AUTH_FAILED" test "$auth_failed" -ge 3
# 3 free failures, then waits of 1, 2, 4, 8, 16, 32 s...: in well under a minute, at most ~10 proofs are checked.
check "wrong token: then the address backs off (at most 12 of 100 reach the token check)" test "$auth_failed" -le 12
check "wrong token: the prober is told why it must wait" test "$backed_off" -ge 80
good_prober client2 "$TMPD/other.json"
check "after 100 wrong tokens from client: a prober from client2 is served" served "$TMPD/other.json"
check "the right token from the backing-off address: refused with the reason" \
  bash -c "jq -r .agent.message '$TMPD/same.json' | grep -q 'failed authentications from 198.51.100.2: try again in'"
check "the agent log never holds the token" bash -c "! grep -qF '$(cat "$TOKEN_FILE")' '$AGENT_LOG'"
check "the agent log is not flooded (< 100 lines for ~200 refusals)" test "$(wc -l <"$AGENT_LOG")" -lt 100
check "the agent is still running" agent_alive
# Capture starts only after the token proof: of all the sessions from client
# (garbage, silent, 100 wrong tokens, the refused right one), only the two
# served ones left a capture file.
n_files=$(find "$TMPD/pcap" -name "dropspot-*-198.51.100.2*.pcap" | wc -l)
check "no capture before the token proof: 2 capture files from client, for its 2 served sessions ($n_files)" \
  test "$n_files" -eq 2

e2e_finish
