#!/usr/bin/env bash
# End to end with a real sudo (Debian's package), a real sudoers rule and a
# real OpenSSH server in the lab: the sudoers line docs/agent.md documents
# lets an ordinary user's `prober --ssh` work, and grants nothing else. Every
# option that writes, reads or binds is refused with exit 2 and nothing made;
# another --peer than the user's own SSH address is refused; outside an SSH
# login the rule is useless.
# usage: sudo_stdio_test.sh BUILD_BIN_DIR
# Creates a system user and /etc/sudoers.d/dropspot-e2e-PID; both are removed on exit.
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"

SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
CLIENT=$(lab addr client 4)
ISP=$(lab addr isp 4)
for tool in /usr/bin/sudo /usr/sbin/visudo /usr/sbin/useradd; do
  [ -x "$tool" ] || { echo "no $tool: install sudo (scripts/deps.sh)" >&2; exit 1; }
done

# A user of our own and the documented rule, both gone when the test ends.
USER_NAME=dse2e$$
SUDOERS=/etc/sudoers.d/dropspot-e2e-$$
sudo_cleanup() {
  local rc=$?
  set +e  # errexit would end this handler at the first failing step
  rm -f "$SUDOERS"
  pkill -u "$USER_NAME" 2>/dev/null || true
  userdel "$USER_NAME" 2>/dev/null || true
  (exit "$rc")  # e2e_cleanup reads the script's status from $?
  e2e_cleanup
}
trap sudo_cleanup EXIT
# -p '*': no password, but not locked ('!'), which sshd without PAM refuses.
chmod 755 "$TMPD"
useradd --system --no-create-home --home-dir "$TMPD/home" --shell /bin/bash --password '*' "$USER_NAME"
install -d -o "$USER_NAME" -m 700 "$TMPD/home"
USER_UID=$(id -u "$USER_NAME")

# The agent where the rule names it: a root-owned path everyone may traverse.
install -d -m 755 "$TMPD/bin"
install -m 755 "$AGENT" "$TMPD/bin/agent"
RULE_AGENT=$TMPD/bin/agent
echo "$USER_NAME ALL=(root) NOPASSWD: $RULE_AGENT --stdio --peer *" >"$TMPD/sudoers"
check "the documented sudoers line passes visudo -c" visudo -cqf "$TMPD/sudoers"
install -m 440 "$TMPD/sudoers" "$SUDOERS"

start_lab_sshd no
SSH="$SSH -o BatchMode=yes"
REMOTE="sudo -n $RULE_AGENT --stdio"
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 80 --http                       # OPEN
quiet lab serve server :: 443 --http; quiet lab fault host-drop 443 # DROPPED_BY_HOST_FIREWALL
lab fault control-block 7411                              # no agent port: SSH is the only way

# The prober's --ssh path, through the rule, on IPv4 and IPv6.
for target in "$SERVER" "$SERVER6"; do
  out="$TMPD/ssh-$target.json"
  prober_json "$out" --target "$target" --ports 22,80,443,8080 --ssh "$USER_NAME@$target" --ssh-command "$SSH" \
    --remote-agent "$REMOTE"
  check "sudo rule, $target: CONNECTED over ssh" jq_is "$out" '.agent.status + " " + .agent.path' "CONNECTED ssh"
  check "sudo rule, $target: the verdicts (22 OPEN 80 OPEN 443 DROPPED_BY_HOST_FIREWALL 8080 NO_LISTENER)" \
    jq_is "$out" '[.ports[] | "\(.port) \(.verdict)"] | join(" ")' \
    "22 OPEN 80 OPEN 443 DROPPED_BY_HOST_FIREWALL 8080 NO_LISTENER"
  check "sudo rule, $target: the report says whose address the agent used" \
    jq_is "$out" '.agent.peerOrigin' "the SSH login of uid $USER_UID"
done
check "sudo rule: the agent saw the client's own address" jq_is "$TMPD/ssh-$SERVER.json" .agent.peerAddress "$CLIENT"
on client "$PROBER" --target "$SERVER" --ports 80 --ssh "$USER_NAME@$SERVER" --ssh-command "$SSH" \
  --remote-agent "$REMOTE" >"$TMPD/text" 2>&1 || true
# (The report wraps at 80 columns: lines joined.)
check "sudo rule: the text report names it too" \
  bash -c "tr -s ' \n' '  ' <'$TMPD/text' | grep -qF 'the agent sees us as $CLIENT (from the SSH login of uid $USER_UID)'"

# What the rule's `*` lets the user add: each refused with exit 2 and one line, nothing made.
as_user() { # as_user OUT COMMAND: runs COMMAND in the user's SSH login; RC its exit code
  local out=$1
  shift
  set +e
  on client $SSH "$USER_NAME@$SERVER" "$*" >"$out" 2>"$out.err"
  RC=$?
  set -e
}
echo 'table inet dropspot_e2e_forged { }' >"$TMPD/forged.nft"
mkdir -p "$TMPD/forged-root/etc"
refused_by_agent() { # refused_by_agent NAME OPTION... : exit 2, one line naming it, nothing else done
  local name=$1
  shift
  as_user "$TMPD/refused" "sudo -n $RULE_AGENT --stdio --peer $CLIENT $*"
  check "sudo rule refuses $name: exit 2" test "$RC" -eq 2
  check "sudo rule refuses $name: one line naming it" \
    bash -c "[ \$(wc -l <'$TMPD/refused.err') -eq 1 ] && grep -q -- '$name does not go with --stdio' '$TMPD/refused.err'"
  check "sudo rule refuses $name: no protocol bytes on stdout" test ! -s "$TMPD/refused"
}
refused_by_agent --pcap-dir --pcap-dir "$TMPD/pcap-new"
check "sudo rule: --pcap-dir made nothing" test ! -e "$TMPD/pcap-new"
refused_by_agent --state-dir --state-dir "$TMPD/state-new"
check "sudo rule: --state-dir made nothing" test ! -e "$TMPD/state-new"
refused_by_agent --token-file --token-file /etc/shadow
check "sudo rule: --token-file read nothing into the message" bash -c "! grep -q root: '$TMPD/refused.err'"
refused_by_agent --host-root --host-root "$TMPD/forged-root"
refused_by_agent --saved-rules --saved-rules "$TMPD/forged.nft"
refused_by_agent --listen --listen 0.0.0.0:7999
check "sudo rule: --listen bound nothing" bash -c "! ip netns exec '$(lab ns server)' ss -tln | grep -q ':7999 '"
refused_by_agent --interface --interface lo
refused_by_agent --user --user nobody
refused_by_agent check check --ports 22 --saved-rules "$TMPD/forged.nft"
refused_by_agent token token
as_user "$TMPD/lower" "sudo -n $RULE_AGENT --stdio --peer $CLIENT --max-ports 70000 </dev/null"
check "sudo rule: --max-ports above the default is refused (exit 2)" test "$RC" -eq 2
as_user "$TMPD/lower" "sudo -n $RULE_AGENT --stdio --peer $CLIENT --max-session 1h </dev/null"
check "sudo rule: --max-session above the default is refused (exit 2)" test "$RC" -eq 2

# Another address than the user's own SSH connection.
as_user "$TMPD/other" "sudo -n $RULE_AGENT --stdio --peer $ISP </dev/null"
check "sudo rule: another --peer is refused (exit 2)" test "$RC" -eq 2
check "sudo rule: the refusal names the login's address" \
  grep -q "$ISP is not the address of the SSH connection of uid $USER_UID ($CLIENT)" "$TMPD/other.err"
as_user "$TMPD/name" "sudo -n $RULE_AGENT --stdio --peer localhost </dev/null"
check "sudo rule: a name as --peer is refused (exit 2)" test "$RC" -eq 2
# What the rule does not match at all, sudo itself refuses.
as_user "$TMPD/unmatched" "sudo -n $RULE_AGENT --pcap-dir $TMPD/pcap-new --stdio --peer $CLIENT </dev/null"
check "sudo rule: options before --stdio do not match the rule (sudo refuses)" test "$RC" -ne 0 -a ! -e "$TMPD/pcap-new"

# The same rule outside an SSH login (a local shell of the user): nothing to diagnose.
set +e
on server su -s /bin/bash "$USER_NAME" -c "sudo -n $RULE_AGENT --stdio --peer $CLIENT </dev/null" \
  >"$TMPD/local" 2>"$TMPD/local.err"
RC=$?
set -e
check "sudo rule outside SSH: refused (exit 2)" test "$RC" -eq 2
check "sudo rule outside SSH: says why" grep -q "outside an SSH login" "$TMPD/local.err"

e2e_finish
