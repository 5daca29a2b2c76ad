#!/usr/bin/env bash
# The Windows prober (prober.exe from scripts/build-windows.sh) under Wine:
# its command line, --no-agent on loopback, and end to end from the lab's
# client against the real Linux agent, where it must give the same verdicts
# as the Linux prober for the runbook's faults.
# usage: wine_test.sh PROBER_EXE [LINUX_BIN_DIR]  (default: $BUILD_DIR/bin or build/bin)
#
# Wine creates sockets in its wineserver, so the wineserver runs in the
# client's namespace and every Windows run happens there (loopback included).
source "$(dirname "$0")/wine_lib.sh"

# --- command line -----------------------------------------------------------
win "$TMPD/help.out" "$TMPD/help.err" --help
check "--help exits 0" test "$RC" -eq 0
check "--help names --target and --ports" bash -c "grep -q -- --target '$TMPD/help.out' && grep -q -- --ports '$TMPD/help.out'"
check "prober.exe is a static PE32+ executable (no DLLs beside it)" \
  bash -c "! x86_64-w64-mingw32-objdump -p '$EXE' | grep 'DLL Name' | grep -Eiv 'KERNEL32|ADVAPI32|WS2_32|MSWSOCK|CRYPT32|USER32|msvcrt|bcrypt|IPHLPAPI|GDI32|api-ms-win'"
win "$TMPD/bad.out" "$TMPD/bad.err" --target 127.0.0.1 --ports 70000 --no-agent
check "bad port exits 2" test "$RC" -eq 2
check "bad port: one line on stderr naming the port" bash -c "grep -q 70000 '$TMPD/bad.err' && [ \$(wc -l <'$TMPD/bad.err') -le 3 ]"
win "$TMPD/bad2.out" "$TMPD/bad2.err" --ports 80
check "missing --target exits 2" test "$RC" -eq 2

# --- no agent, loopback (the client namespace's own) -------------------------
lab serve client 127.0.0.1 5001 --echo >/dev/null
lab wait-listen client 5001 5
out="$TMPD/loop.json"
win_json "$out" --target 127.0.0.1 --ports 5001,5002 --probe 5001=tcp --no-agent --timeout 1s
check "loopback: exit 1 (one port closed)" test "$RC" -eq 1
check "loopback: listener 5001 OPEN" verdict_is "$out" 5001 OPEN
check "loopback: closed 5002 CLOSED" verdict_is "$out" 5002 CLOSED
check "loopback: agent DISABLED" jq_is "$out" .agent.status DISABLED
# Wine runs as root here: the raw ICMP socket opens (tests/windows/wine_hops_test.sh
# checks the hop search itself), so no note says hop search is missing.
check "loopback: no note that hop search is missing (the raw ICMP socket opened)" \
  bash -c "! jq -r '.notes[]' '$out' | grep -q 'no hop search\|administrator'"
win "$TMPD/text.out" "$TMPD/text.err" --target 127.0.0.1 --ports 5001 --probe 5001=tcp --no-agent --timeout 1s
text_report_ok() {
  grep -Eq '^5001 +[a-z]+ +OPEN' "$TMPD/text.out" && ! grep -q $'\x1b' "$TMPD/text.out" && return 0
  echo "    prober.exe exit $RC; stdout:" >&2
  sed 's/^/      /' "$TMPD/text.out" | cat -v >&2
  echo "    stderr:" >&2
  sed 's/^/      /' "$TMPD/text.err" | cat -v >&2
  return 1
}
check "text report: a table line for 5001, no colour escapes into a pipe" text_report_ok

# --- end to end against the Linux agent --------------------------------------
SERVER=$(lab addr server 4)
quiet() { "$@" >/dev/null 2>&1; }
quiet lab serve server :: 80 --http                                        # OPEN (HTTP)
quiet lab serve server :: 8083 --echo; quiet lab fault provider-drop 8083  # DROPPED_IN_TRANSIT
quiet lab serve server :: 443 --http; quiet lab fault host-drop 443        # DROPPED_BY_HOST_FIREWALL
                                                                           # 8080: NO_LISTENER
start_agent
PORTS=80,443,8080,8083

linux="$TMPD/linux.json"
prober_json "$linux" --target "$SERVER" --ports "$PORTS" --token-file "$TOKEN_FILE" --timeout 1s
windows="$TMPD/windows.json"
start=$SECONDS
win_json "$windows" --target "$SERVER" --ports "$PORTS" --token-file "$TOKEN_WIN" --timeout 1s
echo "    prober.exe run took $((SECONDS - start)) s"
check "e2e: Windows agent CONNECTED and capturing" \
  jq_is "$windows" '.agent.status + " " + (.agent.captureActive|tostring)' "CONNECTED true"
check "e2e: Windows exit code 1 like Linux" test "$RC" -eq 1
check "e2e: 80 OPEN" verdict_is "$windows" 80 OPEN
check "e2e: 80's HTTP probe got an answer" \
  jq_is "$windows" '.ports[] | select(.port == 80) | "\(.app.kind) \(.app.ok)"' "http true"
check "e2e: 443 DROPPED_BY_HOST_FIREWALL" verdict_is "$windows" 443 DROPPED_BY_HOST_FIREWALL
check "e2e: 8080 NO_LISTENER" verdict_is "$windows" 8080 NO_LISTENER
check "e2e: 8083 DROPPED_IN_TRANSIT" verdict_is "$windows" 8083 DROPPED_IN_TRANSIT
check "e2e: the same verdicts as the Linux prober" same_verdicts "$linux" "$windows"

# Two targets (the server by both of its addresses) and Prometheus' format
# (issue 19), written with --output as node_exporter's textfile collector
# reads it; `serve` is the Linux prober's only.
SERVER_2=$(lab addr server 4 2)
win "$TMPD/fleet.out" "$TMPD/fleet.err" --target "$SERVER" --target "$SERVER_2" --ports 80,8080 \
  --token-file "$TOKEN_WIN" --timeout 1s --format prometheus --output "$(winpath "$TMPD/fleet.prom")"
check "prometheus: two targets, exit 1 (8080 has no listener)" test "$RC" -eq 1
check "prometheus: written to --output, not stdout" bash -c "test -s '$TMPD/fleet.prom' && ! test -s '$TMPD/fleet.out'"
check "prometheus: promtool check metrics (CRLF-free, valid)" "$("$E2E_ROOT/scripts/promtool.sh")" check metrics <"$TMPD/fleet.prom"
check "prometheus: each target's 8080 NO_LISTENER" test "$(grep -c '^dropspot_port_verdict{.*port="8080",verdict="NO_LISTENER"} 1$' "$TMPD/fleet.prom")" -eq 2
check "prometheus: both agent sessions used" test "$(grep -c '^dropspot_agent_up{.*} 1$' "$TMPD/fleet.prom")" -eq 2
win "$TMPD/serve.out" "$TMPD/serve.err" serve --listen 127.0.0.1:9115 --allow-target "$SERVER"
check "serve: not in the Windows build, exit 2 with a line saying so" \
  bash -c "test $RC -eq 2 && grep -q 'not in this build' '$TMPD/serve.err'"

# A name with an A and an AAAA record (issue 24), the provider dropping IPv6
# to 8090: both addresses over one agent session, as the Linux prober.
quiet lab serve server :: 8090 --http
quiet lab fault -6 provider-drop 8090
lab hosts client www.test "$SERVER" www.test "$(lab addr server 6)"
prober_json "$TMPD/linux-dual.json" www.test --ports 8090 --token-file "$TOKEN_FILE" --timeout 1s
win_json "$TMPD/windows-dual.json" www.test --ports 8090 --token-file "$TOKEN_WIN" --timeout 1s
dual() { jq -r '[.targets[] | "\(.address) \(.ports[0].verdict) \(.agent.captureActive)"] | join(", ")' "$1"; }
check "dual stack: IPv4 OPEN, IPv6 DROPPED_IN_TRANSIT, the agent capturing for both ($(dual "$TMPD/windows-dual.json"))" \
  test "$(dual "$TMPD/windows-dual.json")" = "$SERVER OPEN true, $(lab addr server 6) DROPPED_IN_TRANSIT true"
check "dual stack: the same as the Linux prober" test "$(dual "$TMPD/windows-dual.json")" = "$(dual "$TMPD/linux-dual.json")"
check "dual stack: the note where they disagree" \
  bash -c "jq -r '.targets[0].addressNotes[]' '$TMPD/windows-dual.json' | grep -q 'port 8090 works over IPv4'"

# Path-MTU black holes (issue 18): Windows (and Wine) refuse TCP_MAXSEG, so
# no size can be tried; the stall and the agent's packets tell the way.
NG=$TMPD/nginx
mkdir -p "$NG/html"
head -c 49152 /dev/urandom | base64 -w 76 >"$NG/html/index.html"  # 64 KiB of text
lab_nginx "$NG" 8088 <<EOF
  send_timeout 5s;
  server { listen 8088; root $NG/html; }
EOF
for way in to-client to-server; do
  on server ss -K -tn dst "$(lab addr client 4)" >/dev/null 2>&1 || true
  lab fault mtu-blackhole 1400 "$way" >/dev/null 2>&1
  win_json "$TMPD/mtu-$way.json" --target "$SERVER" --ports 8088 --probe 8088=http --token-file "$TOKEN_WIN" \
    --app-timeout 4s
  lab fault clear >/dev/null 2>&1
  check "black hole $way: 8088 PATH_MTU_BLACKHOLE" verdict_is "$TMPD/mtu-$way.json" 8088 PATH_MTU_BLACKHOLE
  hole=$([ "$way" = to-client ] && echo toClient || echo toServer)
  check "black hole $way: the way, from the agent's packets" jq_is "$TMPD/mtu-$way.json" \
    '.ports[0].evidence.pathMtu | "\(.source) \(.blackhole | join(" "))"' "agent $hole"
  check "black hole $way: says why no size was tried" \
    bash -c "jq -r '.ports[0].evidence.pathMtu.steps[0]' '$TMPD/mtu-$way.json' | grep -q 'TCP_MAXSEG refused'"
done
kill "$(cat "$NG/nginx.pid")" 2>/dev/null || true

# UDP (issue 17): the same verdicts as Linux with the agent, and the client's
# own view (port unreachable as Windows reports it through the socket).
on server socat -u UDP6-RECV:51820,ipv6only=0 /dev/null >/dev/null 2>&1 &
UDP_SILENT=$!
on server socat UDP6-RECVFROM:5006,ipv6only=0,fork SYSTEM:'printf pong' >/dev/null 2>&1 &
UDP_ECHO=$!
for port in 51820 5006; do
  for _ in $(seq 50); do on server ss -Hul "sport = :$port" | grep -q . && break; sleep 0.1; done
done
# --timeout 3s: socat forks a shell per datagram, slow on a busy CI machine
# (with 1 s the Linux prober once read APP_FAILED on 5006 there).
UDP_PORTS=80,51820/udp,5001/udp,5006/udp
prober_json "$TMPD/linux-udp.json" --target "$SERVER" --ports "$UDP_PORTS" --token-file "$TOKEN_FILE" --timeout 3s \
  --udp-payload 70696e67
win_json "$TMPD/windows-udp.json" --target "$SERVER" --ports "$UDP_PORTS" --token-file "$TOKEN_WIN" --timeout 3s \
  --udp-payload 70696e67
udp_verdict_is() { jq_is "$1" ".ports[] | select(.port == $2 and .protocol == \"UDP\") | .verdict" "$3"; }
check "udp: 51820/udp OPEN (delivered to a silent socket)" udp_verdict_is "$TMPD/windows-udp.json" 51820 OPEN
check "udp: 5001/udp NO_LISTENER" udp_verdict_is "$TMPD/windows-udp.json" 5001 NO_LISTENER
check "udp: 5006/udp OPEN (a reply)" udp_verdict_is "$TMPD/windows-udp.json" 5006 OPEN
check "udp: the same verdicts as the Linux prober" same_verdicts "$TMPD/linux-udp.json" "$TMPD/windows-udp.json"
win_json "$TMPD/alone-udp.json" --target "$SERVER" --ports 5001/udp,5006/udp,51820/udp --no-agent --timeout 2s \
  --udp-payload 70
check "udp, no agent: 5006/udp OPEN" udp_verdict_is "$TMPD/alone-udp.json" 5006 OPEN
# Windows reports a port-unreachable to a connected UDP socket as
# WSAECONNRESET (CLOSED then); Wine 8 passes it on to no socket, so here the
# port reads as silence. Asserted as Wine does it: a change shows up.
check "udp, no agent: 5001/udp FILTERED under Wine (no port-unreachable reaches a Wine socket)" \
  udp_verdict_is "$TMPD/alone-udp.json" 5001 FILTERED
check "udp, no agent: 51820/udp FILTERED (open or filtered)" udp_verdict_is "$TMPD/alone-udp.json" 51820 FILTERED
kill "$UDP_SILENT" "$UDP_ECHO" 2>/dev/null || true

# --- the control channel through the user's SSH login (issue 20) ------------
# prober.exe starts "ssh.exe" as it does on Windows: CreateProcessW, the
# command line quoted for the C runtime, overlapped named pipes. Under Wine a
# Windows program cannot give its pipes to a Linux program, so that ssh.exe is
# tests/windows/ssh_shim.c: it hands its arguments (as Wine's C runtime read
# them), stdin, stdout, stderr and exit status to Debian's OpenSSH client on
# the Linux side through ssh_relay.py. sshd is Debian's, in the server
# namespace; the provider's filter passes 22 and blocks the agent's port.
start_lab_sshd prohibit-password
ssh-keygen -q -t ed25519 -N '' -f "$TMPD/wrong_key"
mkdir -p "$TMPD/sshbin"
x86_64-w64-mingw32-gcc-posix -O2 -Wall -municode -o "$TMPD/sshbin/ssh.exe" "$E2E_ROOT/tests/windows/ssh_shim.c" -lws2_32
RELAY_PORT=2222
# The relay's own options: no key but the wrong one (a login with only these
# is refused), known hosts in TMPD; the prober's -i comes after them.
on client python3 "$E2E_ROOT/tests/windows/ssh_relay.py" "$RELAY_PORT" "$TMPD/ssh-argv.jsonl" \
  -o UserKnownHostsFile="$TMPD/known_hosts" -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR \
  -o IdentitiesOnly=yes -o IdentityAgent=none -i "$TMPD/wrong_key" >"$TMPD/relay.log" 2>&1 &
RELAY=$!
lab wait-listen client "$RELAY_PORT" 5
export DROPSPOT_SSH_RELAY_PORT=$RELAY_PORT
# The key where users keep theirs: a folder with a blank and an apostrophe.
KEY="$TMPD/my keys/o'brien/id key"
mkdir -p "$(dirname "$KEY")"
cp "$TMPD/user_key" "$KEY"
chmod 600 "$KEY"
SSH_EXE=$(winpath "$TMPD/sshbin/ssh.exe")
quiet lab fault provider-drop 8083
quiet lab fault host-drop 443
quiet lab fault control-block 7411
SSH_PORTS=22,80,443,8080,8083
REMOTE="$AGENT --stdio"
prober_json "$TMPD/linux-ssh.json" --target "$SERVER" --ports "$SSH_PORTS" --ssh "root@$SERVER" \
  --ssh-command "$SSH" --remote-agent "$REMOTE" --timeout 1s
start=$SECONDS
win_json "$TMPD/windows-ssh.json" --target "$SERVER" --ports "$SSH_PORTS" --ssh "root@$SERVER" \
  --ssh-command "$SSH_EXE -i \"$KEY\"" --remote-agent "$REMOTE" --timeout 1s
echo "    prober.exe --ssh run took $((SECONDS - start)) s"
check "--ssh: CONNECTED over ssh with 7411 blocked, capturing" \
  jq_is "$TMPD/windows-ssh.json" '.agent.status + " " + .agent.path + " " + (.agent.captureActive|tostring)' \
  "CONNECTED ssh true"
check "--ssh: 22 OPEN (the SSH session itself is not evidence)" verdict_is "$TMPD/windows-ssh.json" 22 OPEN
check "--ssh: 443 DROPPED_BY_HOST_FIREWALL, from the agent" \
  verdict_is "$TMPD/windows-ssh.json" 443 DROPPED_BY_HOST_FIREWALL
check "--ssh: the same verdicts as the Linux prober over ssh" \
  same_verdicts "$TMPD/linux-ssh.json" "$TMPD/windows-ssh.json"
check "--ssh: exit 1 like Linux" test "$RC" -eq 1
# What ssh.exe was given, read back by the C runtime: the key path with its
# blank and apostrophe, the remote command with its quotes and %.
expected_argv=$(jq -cn --arg key "$KEY" --arg dest "root@$SERVER" --arg remote "$REMOTE --peer \"\${SSH_CONNECTION%% *}\"" \
  '["-i", $key, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", $dest, $remote]')
check "--ssh: ssh.exe's arguments, as its C runtime read them, are the Linux prober's" \
  test "$(head -1 "$TMPD/ssh-argv.jsonl" | jq -c '.[1:]')" = "$expected_argv"

win_json "$TMPD/win-wrongkey.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" \
  --ssh-command "$SSH_EXE -i $TMPD/wrong_key" --remote-agent "$REMOTE" --timeout 500ms
check "--ssh wrong key: AUTH_FAILED, login refused, from ssh's stderr" \
  bash -c "jq -r '.agent.status + \" \" + .agent.message' '$TMPD/win-wrongkey.json' | grep -q '^AUTH_FAILED ssh .*: ssh: login refused'"
check "--ssh wrong key: 80 still probed (OPEN), exit 3 (a broken monitor, as on Linux)" \
  bash -c "[ $RC -eq 3 ] && [ \"\$(jq -r '.ports[0].verdict' '$TMPD/win-wrongkey.json')\" = OPEN ]"
win_json "$TMPD/win-noagent.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" \
  --ssh-command "$SSH_EXE -i \"$KEY\"" --remote-agent "/nonexistent/agent --stdio" --timeout 500ms
check "--ssh, no agent on the server: ERROR saying so, from the remote shell's words through ssh.exe" \
  bash -c "jq -r '.agent.status + \" \" + .agent.message' '$TMPD/win-noagent.json' | grep -q '^ERROR ssh .*: the agent is not installed'"
# A remote command that just exits: ssh.exe's exit status (GetExitCodeProcess)
# is the only word, as ssh ended silently.
win_json "$TMPD/win-exit.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" \
  --ssh-command "$SSH_EXE -i \"$KEY\"" --remote-agent "exit 42;" --timeout 500ms
check "--ssh, the remote command exits 42: 'ssh ended (status 42)'" \
  bash -c "jq -r .agent.message '$TMPD/win-exit.json' | grep -q 'ssh ended (status 42)'"
# No --ssh-command: ssh.exe from PATH (Wine's PATH has WINEPATH first).
WINEPATH=$(winpath "$TMPD/sshbin") win_json "$TMPD/win-path.json" --target "$SERVER" --ports 80 \
  --ssh "root@$SERVER" --remote-agent "$REMOTE" --timeout 500ms
check "--ssh, ssh.exe found on PATH (then the relay's wrong key: login refused)" \
  bash -c "jq -r .agent.status '$TMPD/win-path.json' | grep -q AUTH_FAILED && tail -1 '$TMPD/ssh-argv.jsonl' | jq -r '.[0]' | grep -qi 'sshbin.ssh.exe'"
win_json "$TMPD/win-nossh.json" --target "$SERVER" --ports 80 --ssh "root@$SERVER" --timeout 500ms
check "--ssh, no ssh.exe anywhere (Wine has none): ERROR naming the OpenSSH Client feature" \
  bash -c "jq -r '.agent.status + \" \" + .agent.message' '$TMPD/win-nossh.json' | grep -q '^ERROR ssh .*: cannot run the ssh client: ssh.exe was not found.*OpenSSH.Client'"
check "--ssh, no ssh.exe: 80 still probed (OPEN)" verdict_is "$TMPD/win-nossh.json" 80 OPEN
kill "$RELAY" 2>/dev/null || true
quiet lab fault clear

e2e_finish
