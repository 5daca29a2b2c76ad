#!/usr/bin/env bash
# shellcheck disable=SC2016 # single-quoted inline scripts get $0 $1 as arguments
# Self-test of scripts/lab.sh: brings real labs up (root needed) and checks routing,
# listeners, faults, two labs side by side, and that `down` leaves nothing behind.
# Prints one line per check, then "N passed, M failed"; exits 1 if any check failed.
# Debian packages: those of scripts/lab.sh plus iputils-ping.
set -euo pipefail

LAB_SH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/lab.sh
# shellcheck source=tests/e2e/check.sh
source "$(dirname "$0")/check.sh"
labs=()

if (( EUID != 0 )); then
	echo "lab_selftest: must run as root (network namespaces)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

cleanup() {
	local lab
	for lab in "${labs[@]}"; do
		"$LAB_SH" down "$lab" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap "exit 130" INT TERM

lab() { "$LAB_SH" "$@"; }


# connect NODE HOST PORT: open, refused, unreachable, timeout or error (TCP connect, 2 s).
connect() {
	local out rc=0
	out=$(timeout 2 "$LAB_SH" exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>&1) || rc=$?
	case $rc/$out in
	0/*) echo open ;;
	124/*) echo timeout ;;
	*"Connection refused"*) echo refused ;;
	*"No route to host"* | *"Permission denied"*) echo unreachable ;;
	*) echo "error($rc): $out" ;;
	esac
}

# expect OUTCOME NODE HOST PORT
expect() {
	local got
	got=$(connect "$2" "$3" "$4")
	[[ $got == "$1" ]] || { echo "       expected $1, got $got ($2 -> $3 port $4)" >&2; return 1; }
}

# http_get NODE HOST PORT: the response of a minimal GET.
http_get() {
	timeout 2 "$LAB_SH" exec "$1" bash -c \
		'exec 3<>"/dev/tcp/$0/$1" && printf "GET / HTTP/1.0\r\nHost: lab\r\n\r\n" >&3 && cat <&3' "$2" "$3" 2>&1
}

http_ok() { [[ $(http_get "$@") == "HTTP/1.1 200 OK"* ]]; }
http_from() { [[ $(http_get "$2" "$3" "$4") == *"Server: dropspot-lab/$1"* ]]; }
ping_ok() { lab exec "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
lab_namespaces() { ip netns list | awk '{print $1}' | grep -c "^$1-" || true; }
no_namespaces() { [[ $(lab_namespaces "$1") == 0 ]]; }
no_listener() { [[ -z $(lab exec "$1" ss -Hltn "sport = :$2") ]]; }
exit_code_is() { local want=$1 rc=0; shift; "$@" >/dev/null 2>&1 || rc=$?; [[ $rc == "$want" ]]; }

# --- lab A
up_out=$(DROPSPOT_LAB='' "$LAB_SH" up)
[[ $up_out =~ ^export\ DROPSPOT_LAB=([A-Za-z0-9_]+)$ ]] || { echo "FAIL - up printed '$up_out'"; echo "0 passed, 1 failed"; exit 1; }
eval "$up_out"
labs+=("$DROPSPOT_LAB")
lab_a=$DROPSPOT_LAB
check "up prints 'export DROPSPOT_LAB=$lab_a' and makes 5 namespaces" [ "$(lab_namespaces "$lab_a")" = 5 ]

s4=$(lab addr server 4)
s4b=$(lab addr server 4 2)
s6=$(lab addr server 6)
s6b=$(lab addr server 6 2)
c2_4=$(lab addr client2 4)
check "client pings server $s4 (IPv4, across isp and provider)" ping_ok client "$s4"
check "client pings server $s6 (IPv6)" ping_ok client "$s6"
check "client pings the server's second address $s4b" ping_ok client "$s4b"
check "client2 pings server $s6b (IPv6, second address)" ping_ok client2 "$s6b"
check "server pings client2 $c2_4 (return routes)" ping_ok server "$c2_4"
check "exec passes the exit code through" exit_code_is 7 lab exec client sh -c 'exit 7'
check "exec with an unknown node is a usage error (2)" exit_code_is 2 lab exec nowhere true
check "serve with a non-numeric port is a usage error (2)" exit_code_is 2 lab serve server :: http

lab serve server "$s4" 8080 --http 2>/dev/null
check "serve server $s4 8080 --http answers the client" http_ok client "$s4" 8080
check "  ... and client2" http_ok client2 "$s4" 8080
lab serve server :: 8082 --silent 2>/dev/null
check "serve server :: 8082 listens dual-stack ($s6)" expect open client "$s6" 8082
check "  ... and on IPv4 ($s4b)" expect open client "$s4b" 8082

lab fault host-drop 8080 2>/dev/null
check "fault host-drop 8080: connect times out (IPv4)" expect timeout client "$s4" 8080
check "fault host-drop 8080: connect times out (IPv6, other listener)" expect timeout client "$s6" 8080
lab fault clear 2>/dev/null
check "fault clear: $s4 8080 answers again" http_ok client "$s4" 8080

lab fault provider-drop 8082 2>/dev/null
check "fault provider-drop 8082: times out" expect timeout client "$s6" 8082
lab fault clear 2>/dev/null
lab fault router-reset 8082 2>/dev/null
check "fault router-reset 8082: refused (RST from the router)" expect refused client "$s4" 8082
lab fault clear 2>/dev/null
lab fault host-reject-icmp 8082 2>/dev/null
check "fault host-reject-icmp 8082: unreachable (icmpx admin-prohibited)" expect unreachable client "$s6" 8082
lab fault clear 2>/dev/null
lab fault host-reject-rst 8082 2>/dev/null
check "fault host-reject-rst 8082: refused" expect refused client "$s4" 8082
lab fault clear 2>/dev/null
lab fault router-reject 8082 2>/dev/null
check "fault router-reject 8082: unreachable (icmpx admin-prohibited)" expect unreachable client "$s4" 8082
lab fault clear 2>/dev/null
lab fault isp-block 8082 2>/dev/null
check "fault isp-block 8082: times out from client2" expect timeout client2 "$s6" 8082
lab fault clear 2>/dev/null
lab fault return-drop 8082 2>/dev/null
check "fault return-drop 8082: times out (SYN-ACK lost)" expect timeout client "$s4" 8082
lab fault clear 2>/dev/null
lab fault loss 8082 100 2>/dev/null
check "fault loss 8082 100: times out" expect timeout client "$s6" 8082
lab fault clear 2>/dev/null
lab serve server :: 7411 2>/dev/null
lab fault control-block 2>/dev/null
check "fault control-block (default 7411): times out" expect timeout client "$s4" 7411
check "  ... while 8082 still answers" expect open client "$s4" 8082
lab fault clear 2>/dev/null
lab fault host-drop-iptables-legacy 8082 2>/dev/null
check "fault host-drop-iptables-legacy 8082: times out (IPv4, iptables-legacy)" expect timeout client "$s4" 8082
lab fault clear 2>/dev/null
lab fault host-drop-iptables 8082 2>/dev/null
check "fault host-drop-iptables 8082: times out (IPv6, ip6tables)" expect timeout client "$s6" 8082
lab fault clear 2>/dev/null
check "fault clear removes iptables rules too" expect open client "$s6" 8082

check "nothing listens on the server's port 8081" no_listener server 8081
check "without a fault, 8081 is refused by the server" expect refused client "$s4" 8081
lab fault intercept 8081 2>/dev/null
check "fault intercept 8081: the client connects (IPv4)" expect open client "$s4" 8081
check "fault intercept 8081: the answer comes from isp (IPv6)" http_from isp client "$s6" 8081
check "  ... while the server still has no listener on 8081" no_listener server 8081
lab fault clear 2>/dev/null
check "fault clear ends the interception" expect refused client "$s4" 8081

lab stop server 8080 2>/dev/null
check "stop server 8080: refused afterwards" expect refused client "$s4" 8080

# --- lab B next to lab A
up_b=$(DROPSPOT_LAB='' "$LAB_SH" up 2>/dev/null) || true
lab_b=${up_b#export DROPSPOT_LAB=}
[[ -n $lab_b && $lab_b != "$up_b" ]] && labs+=("$lab_b")
in_lab_b() { DROPSPOT_LAB=$lab_b "$@"; }
lab_b_up() { [[ -n $lab_b && $lab_b != "$lab_a" && $(lab_namespaces "$lab_b") == 5 ]]; }
check "a second lab comes up beside the first ($lab_b)" lab_b_up
check "lab B: client pings server over IPv6" in_lab_b ping_ok client "$s6"
in_lab_b lab serve server "$s4" 8080 --http 2>/dev/null || true
check "lab B serves $s4 8080 while lab A's 8080 is stopped" in_lab_b http_ok client "$s4" 8080
check "lab A is unaffected: 8080 still refused" expect refused client "$s4" 8080
check "lab A still answers on 8082" expect open client "$s4" 8082

lab down "$lab_b" 2>/dev/null
check "down B removes every namespace of lab B" no_namespaces "$lab_b"
check "lab A survives B's down" ping_ok client "$s6"

# --- down A
pids=$(for node in client client2 isp provider server; do ip netns pids "$lab_a-$node"; done)
lab down 2>/dev/null
check "down removes every namespace of lab A" no_namespaces "$lab_a"
alive=""
for pid in $pids; do
	[[ -e /proc/$pid/ns/net ]] && alive+=" $pid"
done
check "down killed the lab's processes" [ -z "$alive" ]
check "down again is a no-op" lab down "$lab_a"
check "exec on a lab that is down is a usage error (2)" exit_code_is 2 lab exec client true

check_summary
