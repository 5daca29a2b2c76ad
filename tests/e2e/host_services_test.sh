#!/usr/bin/env bash
# End to end, in the namespace lab: the agent's host diagnosis beyond the rule
# that blocks, in the prober's evidence and in `agent check`:
#   - a moved service: a process named sshd listens on 2222, port 22 is asked
#     about -> NO_LISTENER, "sshd listens on port 2222 instead", the
#     configuration line that moved it (from --host-root);
#   - runtime versus saved (--saved-rules FILE, an nft script): a port the
#     live rules drop but the saved ones allow, and the reverse;
#   - the SYN's interface: an `iifname "eth0"` drop rule is named exactly, an
#     `iifname "eth9"` one does not block (no "may match");
#   - no systemd in the lab: "systemd not running: unit state unknown".
# usage: host_services_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
quiet() { "$@" >/dev/null 2>&1; }

# The host as the agent reads it: os-release and an sshd_config that moved sshd.
ROOT="$TMPD/root"
mkdir -p "$ROOT/etc/ssh"
printf 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' >"$ROOT/etc/os-release"
printf '# moved to cut the log noise\nPort 2222\nPermitRootLogin no\n' >"$ROOT/etc/ssh/sshd_config"
# The saved rules: 8092 dropped at boot; 8091 allowed (the live rules drop it).
SAVED="$TMPD/nftables.conf"
cat >"$SAVED" <<'EOF'
flush ruleset
table inet saved {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 8092 drop comment "closed at boot"
	}
}
EOF

# A process named sshd on 2222 (socat under that name).
cp "$(command -v socat)" "$TMPD/sshd"
on server "$TMPD/sshd" TCP6-LISTEN:2222,fork,reuseaddr,ipv6only=0 PIPE >/dev/null 2>&1 &
for p in 8091 8092 8093 8094; do quiet lab serve server :: $p --echo; done
quiet lab fault host-drop 8091
on server nft add table inet e2e_if
on server nft add chain inet e2e_if input '{ type filter hook input priority -10; policy accept; }'
on server nft add rule inet e2e_if input iifname '"eth0"' tcp dport 8093 drop
on server nft add rule inet e2e_if input iifname '"eth9"' tcp dport 8094 drop
for p in 2222 8091 8092 8093 8094; do lab wait-listen server $p 5; done
if_handle=$(on server nft -a list chain inet e2e_if input | awk '/tcp dport 8093 drop/ {print $NF}')
if_rule="table inet e2e_if chain input handle $if_handle: iifname \"eth0\" tcp dport 8093 drop"

start_agent --host-root "$ROOT" --saved-rules "$SAVED"

has() { # has FILE PORT JQ_LIST TEXT: one element of the port's list contains TEXT
  jq -e --argjson p "$2" --arg t "$4" "[.ports[] | select(.port == \$p) | $3 // [] | .[] | contains(\$t)] | any" "$1" >/dev/null ||
    { echo "    port $2 $3: $(jq -c --argjson p "$2" ".ports[] | select(.port == \$p) | $3" "$1")" >&2; return 1; }
}
hasnt() { ! has "$@" 2>/dev/null; }

out="$TMPD/report.json"
prober_json "$out" --target "$SERVER" --ports 22,8091,8092,8093,8094 --token-file "$TOKEN_FILE" --timeout 1s
check "agent CONNECTED" jq_is "$out" .agent.status CONNECTED
check "22 NO_LISTENER: sshd moved to 2222" \
  jq_is "$out" '.ports[] | select(.port == 22) | .verdict' NO_LISTENER
check "22 summary names the port sshd moved to" \
  jq_is "$out" '.ports[] | select(.port == 22) | .summary | contains("sshd listens on port 2222 instead")' true
check "22 evidence: sshd listens on 2222, not 22" has "$out" 22 .evidence.services "listens on port 2222, not 22"
check "22 evidence: the sshd_config line" has "$out" 22 .evidence.services "/etc/ssh/sshd_config:2: Port 2222 (sshd)"
check "22 advice: connect to 2222 or move it back" has "$out" 22 .advice "connect to port 2222, or set port 22 in /etc/ssh/sshd_config"
check "22 notes: systemd not running" has "$out" 22 .evidence.notes "systemd not running: unit state unknown"
check "8091 DROPPED_BY_HOST_FIREWALL" jq_is "$out" '.ports[] | select(.port == 8091) | .verdict' DROPPED_BY_HOST_FIREWALL
check "8091 blocked now, the saved rules allow it" \
  has "$out" 8091 .evidence.savedRules "blocked now, but the saved rules ($SAVED) allow port 8091: someone changed the live rules"
check "8092 OPEN" jq_is "$out" '.ports[] | select(.port == 8092) | .verdict' OPEN
check "8092 allowed now, not saved" \
  has "$out" 8092 .evidence.savedRules "allowed now, not saved: gone after reboot: the saved rules ($SAVED) block port 8092"
check "8092 advice: save the live rules" has "$out" 8092 .advice "nft list ruleset > /etc/nftables.conf"
check "8093 the iifname eth0 rule named exactly" \
  jq -e --arg r "$if_rule" '.ports[] | select(.port == 8093) | .evidence.firewall | index($r) != null' "$out" >/dev/null
check "8093 no 'may match' note" hasnt "$out" 8093 .evidence.notes "interface"
check "8094 OPEN: the iifname eth9 rule does not match eth0" \
  jq_is "$out" '.ports[] | select(.port == 8094) | "\(.verdict) \(.evidence.firewall // [] | length)"' "OPEN 0"

# `agent check` on the server alone, same host root and saved rules.
set +e
on server "$AGENT" check --ports 22,8091,8092 --host-root "$ROOT" --saved-rules "$SAVED" --format json \
  >"$TMPD/check.json" 2>"$TMPD/check.err"
on server "$AGENT" check --ports 22 --host-root "$ROOT" >"$TMPD/check.txt" 2>&1
set -e
check "check 22 NO_LISTENER, sshd moved" \
  jq_is "$TMPD/check.json" '.ports[] | select(.port == 22) | .summary' "nothing listens on port 22: sshd listens on port 2222 instead"
check "check 8091 saved rules allow it" has "$TMPD/check.json" 8091 .evidence.savedRules "IPv4: blocked now, but the saved rules"
check "check 8092 not saved" has "$TMPD/check.json" 8092 .evidence.savedRules "IPv6: allowed now, not saved: gone after reboot"
check "check text names the moved sshd" grep -qE "^  service +sshd \(pid" "$TMPD/check.txt"

e2e_finish
