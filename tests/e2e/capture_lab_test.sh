#!/usr/bin/env bash
# End-to-end test of the agent's live capture in the namespace lab: capture_probe
# captures in the server namespace (the "any" device) while the client connects,
# over IPv4 and IPv6:
#   8080  served                       SYN in (TTL 62, MSS), SYN-ACK out
#   8081  served, fault host-drop      SYN in, nothing out
#   8082  nothing listening            SYN in, RST out
#   8083  fault host-reject-icmp       SYN in, ICMP admin-prohibited out
#   8084  served, the provider rejects the server's replies with ICMP
#                                      SYN-ACK out, ICMP error in (from the router)
#
#   tests/e2e/capture_lab_test.sh PATH/TO/capture_probe
#
# Prints one line per check, then "N passed, M failed"; exits 1 if any check
# failed, 77 (skipped, for CTest) when not root. The lab and the probe are
# gone on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAB_SH=$ROOT/scripts/lab.sh
PROBE=${1:-$ROOT/build/bin/capture_probe}
[[ $PROBE == /* ]] || PROBE=$PWD/$PROBE
# shellcheck source=tests/e2e/check.sh
source "$(dirname "$0")/check.sh"
lab_name=""
probe_pid=""
tmp=""

if (( EUID != 0 )); then
	echo "capture_lab_test: skipped: needs root (network namespaces, CAP_NET_RAW)"
	exit 77
fi
[[ -x $PROBE ]] || { echo "capture_lab_test: no capture_probe at $PROBE" >&2; exit 1; }

cleanup() {
	if [[ -n $probe_pid ]]; then
		kill "$probe_pid" 2>/dev/null || true
		wait "$probe_pid" 2>/dev/null || true
	fi
	[[ -z $lab_name ]] || "$LAB_SH" down "$lab_name" 2>/dev/null || true
	[[ -z $tmp ]] || rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 130" INT TERM

lab() { "$LAB_SH" "$@"; }


# events FILE PATTERN...: the event lines matching every pattern (fixed strings).
events() {
	local file=$1 lines
	shift
	lines=$(cat "$file")
	local p
	for p in "$@"; do
		lines=$(grep -F -- "$p" <<<"$lines" || true)
	done
	[[ -n $lines ]] && echo "$lines"
	return 0
}
seen() { [[ -n $(events "$@") ]]; }
not_seen() { [[ -z $(events "$@") ]]; }

# connect HOST PORT: open, refused, unreachable or timeout (2 s), from the client.
connect() {
	local out rc=0
	out=$(timeout 2 "$LAB_SH" exec client bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1) || rc=$?
	case $rc/$out in
	0/*) echo open ;;
	124/*) echo timeout ;;
	*"Connection refused"*) echo refused ;;
	*"No route to host"* | *"Permission denied"*) echo unreachable ;;
	*) echo "error($rc): $out" ;;
	esac
}
connects() { [[ $(connect "$2" "$3") == "$1" ]]; }

tmp=$(mktemp -d /tmp/dropspot-capture-lab.XXXXXX)
up_out=$(DROPSPOT_LAB='' "$LAB_SH" up)
[[ $up_out =~ ^export\ DROPSPOT_LAB=([A-Za-z0-9_]+)$ ]] || { echo "FAIL - lab up printed '$up_out'"; exit 1; }
lab_name=${BASH_REMATCH[1]}
export DROPSPOT_LAB=$lab_name

for family in 4 6; do
	server=$(lab addr server "$family")
	client=$(lab addr client "$family")
	for port in 8080 8081 8084; do lab serve server "$server" "$port" >/dev/null; done
	for port in 8080 8081 8084; do lab wait-listen server "$port" 5; done
done
lab fault host-drop 8081
lab fault host-reject-icmp 8083
# The provider refuses what the server sends from port 8084 (not a lab.sh fault:
# a table of this test's own, gone with the namespace).
lab exec provider nft -f - <<'EOF'
table inet capture_test {
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "to-server" tcp sport 8084 reject with icmpx type admin-prohibited
	}
}
EOF

for family in 4 6; do
	server=$(lab addr server "$family")
	client=$(lab addr client "$family")
	if [[ $family == 4 ]]; then mss=1460; icmp_type=3; icmp_code=13; else mss=1440; icmp_type=1; icmp_code=1; fi
	out=$tmp/events.$family
	err=$tmp/probe.$family
	: >"$out"
	: >"$err"
	# Not through the lab() function: $! must be the probe itself (lab.sh and
	# `ip netns exec` exec into it), so that SIGTERM reaches it.
	"$LAB_SH" exec server "$PROBE" --peer "$client" --ports 8080-8084 --seconds 60 >"$out" 2>"$err" &
	probe_pid=$!
	for _ in {1..100}; do
		grep -q '^capturing on' "$err" && break
		kill -0 "$probe_pid" 2>/dev/null || break
		sleep 0.05
	done
	check "IPv$family: capture started in lab $lab_name ($(head -1 "$err"))" grep -q '^capturing on .*eth0' "$err"
	check "IPv$family: the probe runs as pid $probe_pid" grep -qx capture_probe "/proc/$probe_pid/comm"

	check "IPv$family: 8080 connects" connects open "$server" 8080
	check "IPv$family: 8081 times out (host drops)" connects timeout "$server" 8081
	check "IPv$family: 8082 is refused" connects refused "$server" 8082
	check "IPv$family: 8083 is unreachable (host rejects with ICMP)" connects unreachable "$server" 8083
	check "IPv$family: 8084 does not connect (replies refused by the provider)" connects timeout "$server" 8084
	sleep 0.3
	kill -TERM "$probe_pid"
	wait "$probe_pid" || true
	probe_pid=""

	p8080='"port":8080'
	check "IPv$family: SYN to 8080 seen inbound, TTL 62, MSS $mss, on eth0" \
		seen "$out" '"direction":"INBOUND"' '"kind":"SYN"' "$p8080" '"ttl":62' "\"mss\":$mss" \
		"\"src\":\"$client\"" "\"dst\":\"$server\"" '"dst_port":8080' '"interface":"eth0"' '"sack_permitted":true'
	check "IPv$family: SYN-ACK from 8080 seen outbound" \
		seen "$out" '"direction":"OUTBOUND"' '"kind":"SYN_ACK"' "$p8080" '"ttl":64' "\"dst\":\"$client\""
	check "IPv$family: SYN to 8081 seen inbound" seen "$out" '"direction":"INBOUND"' '"kind":"SYN"' '"port":8081'
	check "IPv$family: nothing leaves for 8081 (host-drop)" not_seen "$out" '"direction":"OUTBOUND"' '"port":8081'
	check "IPv$family: RST leaves from 8082" seen "$out" '"direction":"OUTBOUND"' '"kind":"RST"' '"port":8082'
	check "IPv$family: ICMP admin-prohibited leaves for 8083" \
		seen "$out" '"direction":"OUTBOUND"' '"kind":"ICMP_ERROR"' '"port":8083' \
		"\"icmp_type\":$icmp_type," "\"icmp_code\":$icmp_code," '"dst_port":8083'
	check "IPv$family: SYN-ACK leaves from 8084" seen "$out" '"direction":"OUTBOUND"' '"kind":"SYN_ACK"' '"port":8084'
	check "IPv$family: the provider's ICMP error about it comes in" \
		seen "$out" '"direction":"INBOUND"' '"kind":"ICMP_ERROR"' '"port":8084' "\"dst\":\"$server\"" \
		'"src_port":8084' "\"icmp_type\":$icmp_type,"
	check "IPv$family: every event is of the session's ports" bash -c '! grep -qv "\"port\":808[0-4]" "$0"' "$out"
	check "IPv$family: summary printed, nothing dropped" grep -Eq '^summary packets_seen=[1-9][0-9]* packets_dropped=0 ' "$err"
	if (( failed )); then
		echo "--- events (IPv$family)"
		cat "$out"
		echo "--- stderr"
		cat "$err"
	fi
done

check_summary
