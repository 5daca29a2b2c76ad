#!/usr/bin/env bash
# End to end, real binaries and a real OpenSSH server in the namespace lab:
# the control channel through SSH while the provider's filter blocks 7411.
# usage: ssh_channel_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
# A private sshd in the server namespace: its own keys, config and pid file.
start_lab_sshd prohibit-password
ssh-keygen -q -t ed25519 -N '' -f "$TMPD/wrong_key"
WRONG="ssh -i $TMPD/wrong_key -o UserKnownHostsFile=$TMPD/known_hosts -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR -o IdentitiesOnly=yes"
REMOTE="$AGENT --stdio"

# Runbook faults, and a direct agent to compare with.
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 80 --http                       # OPEN
quiet lab serve server :: 25 --echo; quiet lab fault isp-block 25   # DROPPED_IN_TRANSIT
quiet lab serve server :: 443 --http; quiet lab fault host-drop 443 # DROPPED_BY_HOST_FIREWALL
                                                          # 8080: NO_LISTENER
PORTS=22,25,80,443,8080
start_agent

verdicts() { jq -r '[.ports[] | "\(.port)=\(.verdict)"] | join(" ")' "$1"; }

prober_json "$TMPD/direct.json" --target "$SERVER" --ports "$PORTS" --token-file "$TOKEN_FILE"
check "direct channel: CONNECTED over tls" jq_is "$TMPD/direct.json" '.agent.status + " " + .agent.path' "CONNECTED tls"

# The provider's filter now passes 22 but not 7411: only SSH gets through.
lab fault control-block 7411
for target in "$SERVER" "$SERVER6"; do
  out="$TMPD/ssh-$target.json"
  prober_json "$out" --target "$target" --ports "$PORTS" --ssh "root@$target" --ssh-command "$SSH" --remote-agent "$REMOTE"
  check "ssh $target: CONNECTED over ssh" jq_is "$out" '.agent.status + " " + .agent.path' "CONNECTED ssh"
  check "ssh $target: capture active" jq_is "$out" .agent.captureActive true
  check "ssh $target: 22 OPEN (the SSH session itself is not evidence)" \
    jq_is "$out" '.ports[] | select(.port == 22) | .verdict' OPEN
done
check "ssh: the same verdicts as the direct channel ($(verdicts "$TMPD/direct.json"))" \
  test "$(verdicts "$TMPD/ssh-$SERVER.json")" = "$(verdicts "$TMPD/direct.json")"

# --ssh and --agent: SSH is tried first; the report says which path was taken.
prober_json "$TMPD/both.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" --ssh-command "$SSH" \
  --remote-agent "$REMOTE" --agent "$SERVER:7411" --token-file "$TOKEN_FILE"
check "--ssh with --agent: ssh first" jq_is "$TMPD/both.json" '.agent.path' ssh

# A wrong key: a clear status, exit 1, the client-only verdicts still printed.
prober_json "$TMPD/wrongkey.json" --target "$SERVER" --ports "$PORTS" --ssh "root@$SERVER" --ssh-command "$WRONG" \
  --remote-agent "$REMOTE" --timeout 500ms
check "wrong key: AUTH_FAILED" jq_is "$TMPD/wrongkey.json" .agent.status AUTH_FAILED
check "wrong key: the message says the login was refused" \
  bash -c "jq -r .agent.message '$TMPD/wrongkey.json' | grep -q 'login refused'"
check "wrong key: exit 1" test "$RC" -eq 1
check "wrong key: client-only verdicts (80 OPEN, 8080 CLOSED, 443 FILTERED)" \
  test "$(jq -r '[.ports[] | select(.port == 80 or .port == 443 or .port == 8080) | .verdict] | join(" ")' "$TMPD/wrongkey.json")" = "OPEN FILTERED CLOSED"

# No agent binary on the server.
prober_json "$TMPD/missing.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" --ssh-command "$SSH" \
  --remote-agent "/nonexistent/agent --stdio" --timeout 500ms
check "missing agent: ERROR" jq_is "$TMPD/missing.json" .agent.status ERROR
check "missing agent: says it is not installed" \
  bash -c "jq -r .agent.message '$TMPD/missing.json' | grep -q 'not installed'"
check "missing agent, 80 as expected: exit 3 (a broken monitor, not a broken deploy)" test "$RC" -eq 3
check "missing agent: 80 still probed (OPEN)" jq_is "$TMPD/missing.json" '.ports[] | select(.port == 80) | .verdict' OPEN

# No ssh client where --ssh-command points: said so, not "the agent is not installed".
prober_json "$TMPD/noclient.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" --ssh-command "$TMPD/no/ssh" \
  --remote-agent "$REMOTE" --timeout 500ms
no_client_said() {
  local said
  said=$(jq -r '.agent.status + " " + .agent.message' "$TMPD/noclient.json")
  [[ $said == "ERROR "*"cannot run the ssh client '$TMPD/no/ssh'"*"apt install openssh-client"* ]] && return 0
  echo "    said: $said" >&2
  return 1
}
check "no ssh client: ERROR naming the client and how to install it" no_client_said

# sshd unreachable (its port filtered too): UNREACHABLE within the ssh timeout, no hang.
lab fault provider-drop 22
start=$(date +%s)
prober_json "$TMPD/nossh.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" \
  --ssh-command "$SSH -o ConnectTimeout=2" --remote-agent "$REMOTE" --timeout 500ms
took=$(( $(date +%s) - start ))
check "ssh filtered: UNREACHABLE" jq_is "$TMPD/nossh.json" .agent.status UNREACHABLE
check "ssh filtered: no hang (${took}s)" test "$took" -lt 20

e2e_finish
