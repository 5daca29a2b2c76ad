#!/usr/bin/env bash
# End to end in the namespace lab: a name is all of its addresses (issue 24).
# Names from the client's own hosts file (an A and an AAAA record), the real
# agent and prober, real faults that hit one family only: the provider's
# filter dropping IPv6, the server's nft allowing a port for IPv4 only,
# Debian's nginx with `listen 8080;` (IPv4 only), an AAAA record pointing at
# another host that answers; a name with an A record only (output as ever);
# -4, -6, --all-addresses; the same over the SSH path. One agent session
# serves every address.
# usage: dual_stack_test.sh BUILD_BIN_DIR
source "$(dirname "$0")/lib.sh"
e2e_setup "$1"
PROMTOOL=$("$E2E_ROOT/scripts/promtool.sh")

quiet() { "$@" >/dev/null 2>&1; }
S4=$(lab addr server 4)
S6=$(lab addr server 6)
S4B=$(lab addr server 4 2)
S6B=$(lab addr server 6 2)
C6=$(lab addr client 6)
OTHER6=$(lab addr isp 6)
quiet lab serve server :: 80 --http # both families: [::] takes IPv4 too
lab hosts client www.test "$S4" www.test "$S6" v4only.test "$S4" moved.test "$S4" moved.test "$OTHER6" \
  all.test "$S4" all.test "$S4B" all.test "$S6" all.test "$S6B"
start_agent
P=(--token-file "$TOKEN_FILE" --timeout 1s)
sessions() { grep -c "session from" "$TMPD/agent.log" || true; }
t() { jq -r ".targets[$2] | $3" "$1"; }
verdict_at() { t "$1" "$2" ".ports[] | select(.port == $3) | .verdict"; }
# over FILE PORT V4 V6: the port's verdict over IPv4, then over IPv6
over() {
  local got
  got="$(verdict_at "$1" 0 "$2") $(verdict_at "$1" 1 "$2")"
  [ "$got" = "$3 $4" ] || { echo "    port $2: $got" >&2; return 1; }
}
# noted FILE TEXT...: the reports' note where the addresses disagree says each TEXT
noted() {
  local notes=$1 text
  notes=$(jq -r '.targets[0].addressNotes[]' "$1")
  shift
  for text in "$@"; do grep -qF -- "$text" <<<"$notes" || { echo "    notes: $notes" >&2; return 1; }; done
}

# 1. The provider's filter drops IPv6 to port 80: IPv4 works.
lab fault -6 provider-drop 80
before=$(sessions)
prober_json "$TMPD/split.json" www.test --ports 80 "${P[@]}"
check "split: exit 1 (80 fails over IPv6)" test "$RC" -eq 1
check "split: a report per address, IPv4 first" jq_is "$TMPD/split.json" '[.targets[].address] | join(" ")' "$S4 $S6"
check "split: IPv4 OPEN, IPv6 DROPPED_IN_TRANSIT" over "$TMPD/split.json" 80 OPEN DROPPED_IN_TRANSIT
check "split: the agent's evidence over both (capture for each address)" \
  jq_is "$TMPD/split.json" '[.targets[].agent | "\(.status) \(.captureActive)"] | join(",")' "CONNECTED true,CONNECTED true"
check "split: the agent sees our IPv6 address in the IPv6 report" test "$(t "$TMPD/split.json" 1 .agent.peerAddress)" = "$C6"
sleep 0.2
check "split: one agent session for both addresses" test "$(($(sessions) - before))" -eq 1
check "split: the agent captured for our IPv6 address too" grep -q "also captures for its addresses $C6" "$TMPD/agent.log"
check "split: the note says which family fails and what to check" noted "$TMPD/split.json" \
  "port 80 works over IPv4 ($S4) and is dropped in transit over IPv6 ($S6): clients that prefer IPv6"
check "split: the same note in both reports" \
  test "$(t "$TMPD/split.json" 0 '.addressNotes[0]')" = "$(t "$TMPD/split.json" 1 '.addressNotes[0]')"
check "split: IPv4 ok, IPv6 not" jq_is "$TMPD/split.json" '[.targets[].ok] | join(" ")' "true false"
set +e
on client "$PROBER" www.test --ports 80 "${P[@]}" >"$TMPD/split.txt" 2>&1
set -e
check "split text: a report per address" test "$(grep -c '^dropspot: www.test (' "$TMPD/split.txt")" -eq 2
check "split text: the table" grep -q "^2 addresses of www.test, 1 as expected" "$TMPD/split.txt"
check "split text: a row per address" grep -Eq "^  www.test $S6 +connected +0/1 +80 DROPPED_IN_TRANSIT" "$TMPD/split.txt"
check "split text: where they disagree, once" test "$(grep -c 'port 80 works over IPv4' "$TMPD/split.txt")" -eq 1
prober_json "$TMPD/only4.json" www.test --ports 80 -4 "${P[@]}"
check "-4: exit 0, one report (no list), IPv4" \
  test "$RC $(jq -r '"\(.targets == null) \(.address) \(.ports[0].verdict)"' "$TMPD/only4.json")" = "0 true $S4 OPEN"
prober_json "$TMPD/only6.json" www.test --ports 80 -6 "${P[@]}"
check "-6: exit 1, IPv6 DROPPED_IN_TRANSIT" \
  test "$RC $(jq -r '"\(.address) \(.ports[0].verdict)"' "$TMPD/only6.json")" = "1 $S6 DROPPED_IN_TRANSIT"
set +e
on client "$PROBER" www.test --ports 80 "${P[@]}" --format prometheus >"$TMPD/split.prom" 2>/dev/null
set -e
check "prometheus: promtool check metrics" "$PROMTOOL" check metrics <"$TMPD/split.prom"
check "prometheus: the address in each series of the name" \
  grep -qF "dropspot_port_verdict{target=\"www.test\",address=\"$S6\",protocol=\"tcp\",port=\"80\",verdict=\"DROPPED_IN_TRANSIT\"} 1" "$TMPD/split.prom"
lab fault clear >/dev/null

# 2. The server's nftables allows 80 for IPv4 only (no IPv6 twin of the rule).
on server nft -f - <<'NFT'
table inet v4only {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto ipv6-icmp accept
    tcp dport { 22, 7411 } accept
    meta nfproto ipv4 tcp dport 80 accept
  }
}
NFT
prober_json "$TMPD/nft.json" www.test --ports 80 "${P[@]}"
check "nft: IPv4 OPEN, IPv6 DROPPED_BY_HOST_FIREWALL" over "$TMPD/nft.json" 80 OPEN DROPPED_BY_HOST_FIREWALL
check "nft: the IPv6 report names the policy that drops it" \
  bash -c "jq -r '.targets[1].ports[0].evidence.firewall[]' '$TMPD/nft.json' | grep -q 'table inet v4only chain input.*policy drop'"
check "nft: the note sends IPv6 to the firewall's rules" noted "$TMPD/nft.json" \
  "is dropped by the server's firewall over IPv6 ($S6)" "; check ip6tables / nft ip6 and inet rules"
on server nft delete table inet v4only

# 2b. iptables allows 80; ip6tables, its policy DROP, has no twin of that rule.
on server iptables -A INPUT -p tcp --dport 80 -j ACCEPT
on server ip6tables -P INPUT DROP
for rule in "-p tcp --dport 22" "-p tcp --dport 7411" "-p ipv6-icmp" "-m conntrack --ctstate ESTABLISHED,RELATED"; do
  # shellcheck disable=SC2086 # the rule's words
  on server ip6tables -A INPUT $rule -j ACCEPT
done
prober_json "$TMPD/ip6tables.json" www.test --ports 80 "${P[@]}"
jq '.targets[1]' "$TMPD/ip6tables.json" >"$TMPD/ip6tables6.json"
check "ip6tables: IPv4 OPEN, IPv6 DROPPED_BY_HOST_FIREWALL" over "$TMPD/ip6tables.json" 80 OPEN DROPPED_BY_HOST_FIREWALL
check "ip6tables: the IPv6 report names ip6tables' policy" \
  port_matches "$TMPD/ip6tables6.json" 80 '.evidence.firewall[]' '^ip6tables: chain INPUT policy DROP'
check "ip6tables: the advice is the ip6tables twin of the IPv4 rule" \
  port_matches "$TMPD/ip6tables6.json" 80 '.advice[]' '^ip6tables -I INPUT -p tcp --dport 80 -j ACCEPT$'
on server ip6tables -P INPUT ACCEPT
on server ip6tables -F INPUT
on server iptables -D INPUT -p tcp --dport 80 -j ACCEPT

# 3. Debian's nginx with `listen 8080;`: IPv4 only.
lab_nginx "$TMPD/nginx" 8080 <<'CONF'
  server {
    listen 8080;
    location / { return 200 "ok\n"; }
  }
CONF
prober_json "$TMPD/nginx.json" www.test --ports 8080 "${P[@]}"
check "nginx listen 8080: IPv4 OPEN, IPv6 LISTENER_WRONG_ADDRESS" over "$TMPD/nginx.json" 8080 OPEN LISTENER_WRONG_ADDRESS
check "nginx listen 8080: the advice is nginx's IPv6 listen line" \
  bash -c "jq -r '.targets[1].ports[0].advice[]' '$TMPD/nginx.json' | grep -qF \"nginx: add 'listen [::]:8080;'\""
check "nginx listen 8080: the note" noted "$TMPD/nginx.json" "listens on [::] (nginx: 'listen [::]:8080;')"

# 4. The AAAA record points at another host that answers (an old server).
quiet lab serve isp :: 80 --http
prober_json "$TMPD/moved.json" moved.test --ports 80 "${P[@]}"
check "moved: IPv4 OPEN, IPv6 INTERCEPTED (answered, the server never saw the SYN)" \
  over "$TMPD/moved.json" 80 OPEN INTERCEPTED
check "moved: the note names the AAAA record" noted "$TMPD/moved.json" "check the AAAA record (it may point at another host"

# 5. A name with an A record only: one report, as ever.
prober_json "$TMPD/v4only.json" v4only.test --ports 80 "${P[@]}"
check "A only: exit 0, one report, no address notes" \
  test "$RC $(jq -r '"\(.targets == null) \(.address) \(.ports[0].verdict) \(.addressNotes | length)"' "$TMPD/v4only.json")" = "0 true $S4 OPEN 0"
prober_json "$TMPD/v4only6.json" v4only.test --ports 80 -6 "${P[@]}"
check "A only, -6: exit 1, nothing to test, says why" \
  test "$RC $(jq -r .error "$TMPD/v4only6.json")" = "1 --target: v4only.test has no IPv6 address (no AAAA record): -6 leaves nothing to test"
set +e
on client "$PROBER" www.test --ports 80 -4 -6 "${P[@]}" >/dev/null 2>"$TMPD/both.err"
rc=$?
set -e
check "-4 -6: exit 2 with a message" test "$rc $(cat "$TMPD/both.err")" = "2 prober: -4 and -6 exclude each other (the default tests both)"

# 6. --all-addresses: every address, each family's two, over one session.
before=$(sessions)
prober_json "$TMPD/all.json" all.test --ports 80 --all-addresses "${P[@]}"
check "all addresses: four reports, IPv4 first" \
  jq_is "$TMPD/all.json" '[.targets[].address] | join(" ")' "$S4 $S4B $S6 $S6B"
check "all addresses: every one OPEN with the agent's evidence" \
  jq_is "$TMPD/all.json" '[.targets[] | "\(.ports[0].verdict) \(.ports[0].evidence.agentPackets | length > 0)"] | unique | join(",")' "OPEN true"
sleep 0.2
check "all addresses: one agent session" test "$(($(sessions) - before))" -eq 1
prober_json "$TMPD/default.json" all.test --ports 80 "${P[@]}"
check "default: one address of each family" jq_is "$TMPD/default.json" '[.targets[].address] | join(" ")' "$S4 $S6"

# 7. Over SSH (7411 blocked): one agent through the login captures for both families.
start_lab_sshd prohibit-password
lab fault control-block 7411 >/dev/null
lab fault -6 provider-drop 80 >/dev/null
prober_json "$TMPD/ssh.json" www.test --ports 22,80 --probe 22=ssh --ssh root@www.test --ssh-command "$SSH" \
  --remote-agent "$AGENT --stdio" --timeout 1s
check "ssh: both reports through the SSH login" \
  jq_is "$TMPD/ssh.json" '[.targets[].agent | "\(.status) \(.path) \(.captureActive)"] | join(",")' "CONNECTED ssh true,CONNECTED ssh true"
check "ssh: 22 OPEN over both, 80 OPEN over IPv4 and DROPPED_IN_TRANSIT over IPv6" \
  jq_is "$TMPD/ssh.json" '[.targets[] | .ports[] | "\(.port)=\(.verdict)"] | join(" ")' \
  "22=OPEN 80=OPEN 22=OPEN 80=DROPPED_IN_TRANSIT"

e2e_finish
