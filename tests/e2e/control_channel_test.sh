#!/usr/bin/env bash
# End to end, real binaries in the namespace lab: the authenticated control
# channel. usage: control_channel_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
CLIENT=$(lab addr client 4)
CLIENT6=$(lab addr client 6)

# The agent refuses to start without a token, with a clear message.
set +e
env -u DROPSPOT_TOKEN "$AGENT" --listen 127.0.0.1:7499 >"$TMPD/notoken.out" 2>&1
rc=$?
set -e
check "agent without a token exits 2" test "$rc" -eq 2
check "agent without a token says why" grep -q "no token" "$TMPD/notoken.out"

start_agent --listen "[::]:7411" --listen "[::]:443"

prober_json "$TMPD/ok.json" --target "$SERVER" --ports 80 --token-file "$TOKEN_FILE"
check "right token: CONNECTED" jq_is "$TMPD/ok.json" .agent.status CONNECTED
check "the agent sees the prober's address" jq_is "$TMPD/ok.json" .agent.peerAddress "$CLIENT"
check "the report names the endpoint" jq_is "$TMPD/ok.json" .agent.endpoint "$SERVER:7411"
check "control channel over tls" jq_is "$TMPD/ok.json" .agent.path tls

# The token from the environment works as well.
set +e
on client env DROPSPOT_TOKEN="$(cat "$TOKEN_FILE")" "$PROBER" --target "$SERVER" --ports 80 --format json >"$TMPD/env.json" 2>&1
set -e
check "token from DROPSPOT_TOKEN: CONNECTED" jq_is "$TMPD/env.json" .agent.status CONNECTED

# A wrong token: AUTH_FAILED, exit 1, and the agent keeps serving.
echo "ffffffffffffffffffffffffffffffff" >"$TMPD/wrong"
chmod 600 "$TMPD/wrong"
prober_json "$TMPD/wrong.json" --target "$SERVER" --ports 80 --token-file "$TMPD/wrong"
check "wrong token: AUTH_FAILED" jq_is "$TMPD/wrong.json" .agent.status AUTH_FAILED
check "wrong token, 80 not as expected (CLOSED): exit 1" test "$RC" -eq 1
prober_json "$TMPD/wrong3.json" --target "$SERVER" --ports 80 --token-file "$TMPD/wrong" --expect closed
check "wrong token, every port as expected: exit 3 (the monitor is broken, not the deploy)" test "$RC" -eq 3
check "wrong token, exit 3: ok false in the JSON" jq_is "$TMPD/wrong3.json" .ok false
check "agent log names the failure, never the token" \
  bash -c "grep -q 'authentication failed' '$TMPD/agent.log' && ! grep -q '$(cat "$TOKEN_FILE")' '$TMPD/agent.log'"
prober_json "$TMPD/after.json" --target "$SERVER" --ports 80 --token-file "$TOKEN_FILE"
check "after a wrong token the agent still serves" jq_is "$TMPD/after.json" .agent.status CONNECTED

# IPv6 end to end.
prober_json "$TMPD/v6.json" --target "$SERVER6" --ports 80 --token-file "$TOKEN_FILE"
check "IPv6: CONNECTED" jq_is "$TMPD/v6.json" .agent.status CONNECTED
check "IPv6: the agent sees the prober's v6 address" jq_is "$TMPD/v6.json" .agent.peerAddress "$CLIENT6"

# The provider filters 7411: the fallback port 443 is tried next.
lab fault control-block 7411
prober_json "$TMPD/fallback.json" --target "$SERVER" --ports 80 --token-file "$TOKEN_FILE" \
  --agent "$SERVER:7411" --agent "$SERVER:443" --timeout 500ms
check "fallback: CONNECTED through 443" jq_is "$TMPD/fallback.json" .agent.endpoint "$SERVER:443"
check "fallback: both endpoints listed as tried" jq_is "$TMPD/fallback.json" '.agent.tried | length' 2

# Only 7411, filtered: UNREACHABLE within the timeout, exit 1.
start=$(date +%s%N)
prober_json "$TMPD/unreach.json" --target "$SERVER" --ports 80 --token-file "$TOKEN_FILE" --timeout 700ms
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "control port filtered: UNREACHABLE" jq_is "$TMPD/unreach.json" .agent.status UNREACHABLE
check "control port filtered: exit 1" test "$RC" -eq 1
check "control port filtered: answered within 5s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 5000
lab fault clear

# No agent running at all: the kernel refuses at once.
stop_agent
prober_json "$TMPD/none.json" --target "$SERVER" --ports 80 --token-file "$TOKEN_FILE"
check "no agent: UNREACHABLE" jq_is "$TMPD/none.json" .agent.status UNREACHABLE

# --no-agent: DISABLED.
prober_json "$TMPD/disabled.json" --target "$SERVER" --ports 80 --no-agent
check "--no-agent: DISABLED" jq_is "$TMPD/disabled.json" .agent.status DISABLED

# Bad input: exit 2 and one line on stderr, before anything touches the network.
set +e
on client "$PROBER" --target "$SERVER" --ports abc --no-agent >"$TMPD/bad.out" 2>"$TMPD/bad.err"
rc=$?
set -e
check "bad port list: exit 2" test "$rc" -eq 2
check "bad port list: one line on stderr" test "$(wc -l <"$TMPD/bad.err")" -eq 1
check "bad port list: nothing on stdout" test ! -s "$TMPD/bad.out"

e2e_finish
