#!/usr/bin/env bash
# End to end, in the namespace lab: the agent names the host firewall rule that
# drops a port, in the prober's evidence (nft rule with its handle, iptables
# line) and in `agent check` run on the server alone.
# usage: host_inspection_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 8086 --echo                                        # OPEN, no rule
quiet lab serve server :: 8081 --http; quiet lab fault host-drop 8081        # nft
quiet lab serve server :: 8082 --http; quiet lab fault host-drop-iptables 8082  # iptables (nft backend)
quiet lab serve server :: 8083 --http; quiet lab fault host-drop-iptables-legacy 8083
quiet lab serve server 127.0.0.1 8084 --http                                 # loopback only
quiet lab serve server :: 8085 --http; quiet lab fault host-reject-rst 8085
# SYN-ACKs from 8087 cannot be routed: SYNs arrive, nothing answers, no firewall rule explains it
quiet lab serve server :: 8087 --http
on server ip rule add ipproto tcp sport 8087 blackhole
on server ip -6 rule add ipproto tcp sport 8087 blackhole
for p in 8087 8086 8081 8082 8083 8084 8085; do lab wait-listen server $p 5; done
nft_handle=$(on server nft -a list chain inet dropspot_lab input | awk '/tcp dport 8081 drop/ {print $NF}')
nft_rule="table inet dropspot_lab chain input handle $nft_handle: tcp dport 8081 drop comment \"host-drop 8081\""
ipt_line="-A INPUT -p tcp -m tcp --dport 8082 -m comment --comment dropspot_lab -j DROP"
legacy_line="-A INPUT -p tcp -m tcp --dport 8083 -m comment --comment dropspot_lab -j DROP"

start_agent

fw_has() { # fw_has FILE PORT EXACT_RULE: the port's evidence.firewall holds the rule
  jq -e --argjson p "$2" --arg r "$3" '.ports[] | select(.port == $p) | .evidence.firewall | index($r) != null' "$1" >/dev/null ||
    { echo "    port $2 firewall: $(jq -c --argjson p "$2" '.ports[] | select(.port == $p) | .evidence.firewall' "$1")" >&2; return 1; }
}
field_has() { # field_has FILE PORT JQ_FIELD TEXT
  jq -r --argjson p "$2" ".ports[] | select(.port == \$p) | $3" "$1" | grep -qF -- "$4" ||
    { echo "    port $2 $3: $(jq -c --argjson p "$2" ".ports[] | select(.port == \$p) | $3" "$1")" >&2; return 1; }
}

for family in 4 6; do
  if [ $family = 4 ]; then target=$SERVER; ipt=iptables; else target=$SERVER6; ipt=ip6tables; fi
  out="$TMPD/report$family.json"
  prober_json "$out" --target "$target" --ports 8086,8081,8082,8083,8085,8087 --token-file "$TOKEN_FILE" --timeout 1s
  check "v$family agent CONNECTED" jq_is "$out" .agent.status CONNECTED
  check "v$family 8086 OPEN, no rule named" jq_is "$out" '.ports[] | select(.port == 8086) | "\(.verdict) \(.evidence.firewall // [] | length)"' "OPEN 0"
  check "v$family 8081 DROPPED_BY_HOST_FIREWALL" jq_is "$out" '.ports[] | select(.port == 8081) | .verdict' DROPPED_BY_HOST_FIREWALL
  check "v$family 8081 evidence names the nft rule" fw_has "$out" 8081 "$nft_rule"
  check "v$family 8081 summary names the nft rule" field_has "$out" 8081 .summary "$nft_rule"
  check "v$family 8081 advice: nft delete rule ... handle" field_has "$out" 8081 '.advice[]' "nft delete rule inet dropspot_lab input handle $nft_handle"
  check "v$family 8082 DROPPED_BY_HOST_FIREWALL" jq_is "$out" '.ports[] | select(.port == 8082) | .verdict' DROPPED_BY_HOST_FIREWALL
  check "v$family 8082 evidence names the $ipt line" fw_has "$out" 8082 "$ipt: $ipt_line"
  check "v$family 8082 advice: $ipt -D" field_has "$out" 8082 '.advice[]' "$ipt -D INPUT -p tcp -m tcp --dport 8082"
  check "v$family 8083 evidence names the $ipt-legacy line" fw_has "$out" 8083 "$ipt-legacy: $legacy_line"
  check "v$family 8085 REJECTED_BY_HOST_FIREWALL names the reject rule" \
    field_has "$out" 8085 '.evidence.firewall[]' "tcp dport 8085 reject with tcp reset"
  check "v$family 8087 DROPPED_BY_HOST_FIREWALL, and no rule explains it" \
    jq_is "$out" '.ports[] | select(.port == 8087) | "\(.verdict) \(.summary) \(.evidence.firewall // [] | length)"' \
    "DROPPED_BY_HOST_FIREWALL SYNs arrive, nothing answers, and no firewall rule explains it 0"
done

# `agent check` on the server alone, no prober:
set +e
on server "$AGENT" check --ports 8086,8081,8082,8083,8084 --format json >"$TMPD/check.json" 2>"$TMPD/check.err"
check_rc=$?
on server "$AGENT" check --ports 8081 >"$TMPD/check.txt" 2>&1
on server "$AGENT" check --ports 70000 >/dev/null 2>"$TMPD/bad.err"
bad_rc=$?
on server "$AGENT" check --ports 22 --format xml >/dev/null 2>&1
bad_format_rc=$?
set -e
check "agent check exits 1 (some port blocked)" test "$check_rc" -eq 1
check "agent check 8086 OPEN" jq_is "$TMPD/check.json" '.ports[] | select(.port == 8086) | .verdict' OPEN
check "agent check 8081 DROPPED_BY_HOST_FIREWALL" jq_is "$TMPD/check.json" '.ports[] | select(.port == 8081) | .verdict' DROPPED_BY_HOST_FIREWALL
check "agent check 8081 names the nft rule" \
  jq -e --arg r "IPv4: $nft_rule" '.ports[] | select(.port == 8081) | .evidence.firewall | index($r) != null' "$TMPD/check.json" >/dev/null
check "agent check 8082 names the iptables line" \
  jq -e --arg r "IPv4: iptables: $ipt_line" '.ports[] | select(.port == 8082) | .evidence.firewall | index($r) != null' "$TMPD/check.json" >/dev/null
check "agent check 8082 names the ip6tables line" \
  jq -e --arg r "IPv6: ip6tables: $ipt_line" '.ports[] | select(.port == 8082) | .evidence.firewall | index($r) != null' "$TMPD/check.json" >/dev/null
check "agent check 8083 names the iptables-legacy line" \
  jq -e --arg r "IPv4: iptables-legacy: $legacy_line" '.ports[] | select(.port == 8083) | .evidence.firewall | index($r) != null' "$TMPD/check.json" >/dev/null
check "agent check 8084 LISTENER_WRONG_ADDRESS, process named" \
  jq_is "$TMPD/check.json" '.ports[] | select(.port == 8084) | "\(.verdict) \(.evidence.listeners[0].address) \(.evidence.listeners[0].process != "")"' \
  "LISTENER_WRONG_ADDRESS 127.0.0.1 true"
# the text is wrapped to 80 columns: compare with line breaks and runs of blanks squeezed
check_text=$(tr '\n' ' ' <"$TMPD/check.txt" | tr -s ' ')
contains() { [[ "$1" == *"$2"* ]]; }
check "agent check text output names the rule" contains "$check_text" "firewall IPv4: $nft_rule"
check "agent check json is the report message (agent path local)" jq_is "$TMPD/check.json" .agent.path local
check "agent check bad port exits 2" test "$bad_rc" -eq 2
check "agent check bad format exits 2" test "$bad_format_rc" -eq 2

e2e_finish
