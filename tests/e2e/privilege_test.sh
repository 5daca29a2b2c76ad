#!/usr/bin/env bash
# End to end, in the namespace lab: the agent started as root with
# --user nobody binds its port, reads the root-only token, then runs as
# nobody with only CAP_NET_RAW and CAP_NET_ADMIN (/proc/PID/status), and
# still captures, lists listeners and names the host firewall rule
# (nft and iptables-save run with the ambient CAP_NET_ADMIN).
# usage: privilege_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8040 --echo                                       # OPEN
quiet lab serve server :: 8041 --http; quiet lab fault host-drop 8041       # nft rule
quiet lab serve server :: 8042 --http; quiet lab fault host-drop-iptables 8042  # iptables-nft rule
                                                                            # 8043: NO_LISTENER
quiet lab serve server 127.0.0.1 8044 --http                                # LISTENER_WRONG_ADDRESS
for p in 8040 8041 8042 8044; do lab wait-listen server $p 5; done

# The token stays root-only: the agent reads it before it drops root.
check "the token file is root's, mode 600" test "$(stat -c '%U %a' "$TOKEN_FILE")" = "root 600"
nobody_uid=$(id -u nobody)
# The agent's --user refuses root and unknown users, exit 2, before binding.
set +e
"$AGENT" --token-file "$TOKEN_FILE" --listen 127.0.0.1:7499 --user root >/dev/null 2>"$TMPD/root.err"
rc_root=$?
"$AGENT" --token-file "$TOKEN_FILE" --listen 127.0.0.1:7499 --user no-such-user-xyz >/dev/null 2>"$TMPD/unknown.err"
rc_unknown=$?
set -e
check "--user root: exit 2, one line" bash -c "[ $rc_root -eq 2 ] && [ \$(wc -l <'$TMPD/root.err') -eq 1 ]"
check "--user no-such-user: exit 2, names it" \
  bash -c "[ $rc_unknown -eq 2 ] && grep -q 'no user named .no-such-user-xyz.' '$TMPD/unknown.err'"

start_agent --user nobody
pid=""
for p in $(ip netns pids "$(lab ns server)"); do
  [ "$(cat /proc/"$p"/comm 2>/dev/null)" = agent ] && pid=$p
done
check "the agent runs" test -n "$pid"
status() { awk -v k="$1:" '$1 == k {print $2, $3, $4, $5}' /proc/"$pid"/status; }
echo "    /proc/$pid/status: Uid $(status Uid) Gid $(status Gid) CapEff $(status CapEff) CapPrm $(status CapPrm) CapBnd $(status CapBnd) CapAmb $(status CapAmb) NoNewPrivs $(status NoNewPrivs)"
check "Uid: real, effective, saved, fs all nobody ($nobody_uid)" \
  test "$(status Uid)" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid"
check "Gid: not root" bash -c "! awk '\$1 == \"Gid:\"' /proc/$pid/status | grep -qw 0"
check "Groups: none of root's" bash -c "! awk '\$1 == \"Groups:\"' /proc/$pid/status | grep -qw 0"
# CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13: 0x3000.
check "CapEff: only CAP_NET_RAW and CAP_NET_ADMIN" test "$(status CapEff | tr -d ' ')" = 0000000000003000
check "CapPrm: only CAP_NET_RAW and CAP_NET_ADMIN" test "$(status CapPrm | tr -d ' ')" = 0000000000003000
check "CapBnd: only CAP_NET_RAW and CAP_NET_ADMIN" test "$(status CapBnd | tr -d ' ')" = 0000000000003000
check "CapAmb: CAP_NET_RAW and CAP_NET_ADMIN, for nft and iptables-save" \
  test "$(status CapAmb | tr -d ' ')" = 0000000000003000
check "NoNewPrivs: 1" test "$(status NoNewPrivs | tr -d ' ')" = 1
check "the agent logs what it dropped to" grep -q "running as nobody (uid $nobody_uid" "$TMPD/agent.log"

for family in 4 6; do
  if [ $family = 4 ]; then target=$SERVER; else target=$SERVER6; fi
  out="$TMPD/report$family.json"
  prober_json "$out" --target "$target" --ports 8040,8041,8042,8043,8044 --probe 8040=tcp \
    --token-file "$TOKEN_FILE" --timeout 1s
  check "v$family as nobody: CONNECTED and capturing" \
    jq_is "$out" '.agent.status + " " + (.agent.captureActive|tostring)' "CONNECTED true"
  check "v$family as nobody: the agent saw the SYNs (capture works)" \
    test "$(jq '[.ports[].evidence.agentPackets[]? | select(.kind == "SYN")] | length' "$out")" -ge 5
  check "v$family 8040 OPEN" jq_is "$out" '.ports[] | select(.port == 8040) | .verdict' OPEN
  check "v$family 8041 DROPPED_BY_HOST_FIREWALL, the nft rule named" \
    jq_is "$out" '.ports[] | select(.port == 8041) | "\(.verdict) \(.evidence.firewall | map(select(test("tcp dport 8041 drop"))) | length)"' \
    "DROPPED_BY_HOST_FIREWALL 1"
  check "v$family 8042 DROPPED_BY_HOST_FIREWALL, the iptables line named" \
    jq_is "$out" '.ports[] | select(.port == 8042) | "\(.verdict) \(.evidence.firewall | map(select(test("--dport 8042"))) | length)"' \
    "DROPPED_BY_HOST_FIREWALL 1"
  check "v$family 8043 NO_LISTENER" jq_is "$out" '.ports[] | select(.port == 8043) | .verdict' NO_LISTENER
  check "v$family 8044 LISTENER_WRONG_ADDRESS (listeners read)" \
    jq_is "$out" '.ports[] | select(.port == 8044) | .verdict' LISTENER_WRONG_ADDRESS
done
check "no firewall ruleset unread as nobody" \
  bash -c "! grep -qi 'not read\|permission\|Operation not permitted' '$TMPD/report4.json' '$TMPD/report6.json' '$TMPD/agent.log'"

e2e_finish
