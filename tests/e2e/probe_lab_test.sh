#!/usr/bin/env bash
# End-to-end test of the prober's connect probes and hop search in the namespace
# lab (root needed): probe_tool runs in the client namespace against the server,
# with the lab's faults in the routers and the server, over IPv4 and IPv6.
#
#   tests/e2e/probe_lab_test.sh [PATH/TO/probe_tool]   (default build/bin/probe_tool)
#   PROBE_LAB_PERF=1 ...   also time 3000 ports (2000 dropped), timeout 1s, retries 1
#
# Prints one line per check, then "N passed, M failed"; exits 1 if any check failed.
# The lab is torn down on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAB_SH=$ROOT/scripts/lab.sh
TOOL=${1:-$ROOT/build/bin/probe_tool}
[[ $TOOL == /* ]] || TOOL=$PWD/$TOOL
# shellcheck source=tests/e2e/check.sh
source "$(dirname "$0")/check.sh"
lab_name=""

if (( EUID != 0 )); then
	echo "probe_lab_test: must run as root (network namespaces)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if [[ ! -x $TOOL ]]; then
	echo "probe_lab_test: no probe_tool at $TOOL" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

cleanup() {
	[[ -z $lab_name ]] || "$LAB_SH" down "$lab_name" 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 130" INT TERM

lab() { "$LAB_SH" "$@"; }


# field LINE KEY: the value of KEY=VALUE in LINE (values have no spaces, except
# error= and note=, which come last and run to the end of the line).
field() {
	local line=" $1" key=$2
	case $key in
	error | note) [[ $line == *" $key="* ]] && echo "${line#* "$key"=}" ;;
	*) [[ $line =~ \ $key=([^ ]*) ]] && echo "${BASH_REMATCH[1]}" ;;
	esac
}

# is LINE KEY VALUE: KEY has exactly VALUE (explains itself when not).
is() {
	local got
	got=$(field "$1" "$2") || true
	[[ $got == "$3" ]] || { echo "       $2: expected '$3', got '$got' in: $1" >&2; return 1; }
}
# lt / ge LINE KEY NUMBER: numeric comparisons (decimals truncated).
lt() { local v; v=$(field "$1" "$2"); v=${v%%.*}; (( ${v:-999999} < $3 )) || { echo "       $2=$v, expected < $3" >&2; return 1; }; }
ge() { local v; v=$(field "$1" "$2"); v=${v%%.*}; (( ${v:--1} >= $3 )) || { echo "       $2=$v, expected >= $3" >&2; return 1; }; }
# local_is LINE ADDRESS: the attempt's source is ADDRESS, with a port above 0.
local_is() {
	local value
	value=$(field "$1" local) || true
	if [[ ${value%:*} == "$2" && ${value##*:} =~ ^[0-9]+$ ]] && (( ${value##*:} > 0 )); then
		return 0
	fi
	echo "       local: expected $2:PORT, got '$value'" >&2
	return 1
}
contains() { [[ $1 == *"$2"* ]] || { echo "       expected '$2' in: $1" >&2; return 1; }; }

tool() { lab exec client "$TOOL" "$@" 2>&1 || true; }
probe() { tool connect "$@" | grep '^attempt ' | tail -n 1 || true; }
hops() { tool hops "$@" | grep '^hop ' | tail -n 1 || true; }

# ---------------------------------------------------------------- lab
up_out=$(DROPSPOT_LAB='' "$LAB_SH" up) || { echo "FAIL - lab up"; echo "0 passed, 1 failed"; exit 1; }
lab_name=${up_out#export DROPSPOT_LAB=}
export DROPSPOT_LAB=$lab_name

{
	lab serve server 203.0.113.2 8080 --http
	lab serve server 2001:db8:2::2 8080 --http
	lab fault host-drop 8082
	lab fault router-reject 8083
	lab fault host-reject-icmp 8084
	lab fault host-reject-icmp 8086 port-unreachable
	lab fault host-reject-rst 8087
	lab fault provider-drop 8090
	lab fault isp-block 8091
} 2>/dev/null

for family in 4 6; do
	if [[ $family == 4 ]]; then
		server=203.0.113.2 client=198.51.100.2 isp=198.51.100.1 provider=192.0.2.2
		unreach=3 admin=13 port_unreach=3 te_type=11
	else
		server=2001:db8:2::2 client=2001:db8:1::2 isp=2001:db8:1::1 provider=2001:db8:12::2
		unreach=1 admin=1 port_unreach=4 te_type=3
	fi
	v="IPv$family"

	# --- one connect per fault
	line=$(probe "$server" 8080)
	check "$v open port: CONNECTED" is "$line" outcome CONNECTED
	check "$v open port: source address $client and a source port" local_is "$line" "$client"
	check "$v open port: fast" lt "$line" elapsed_ms 500

	line=$(probe "$server" 8081)
	check "$v nothing listening: REFUSED" is "$line" outcome REFUSED
	check "$v nothing listening: no ICMP" is "$line" icmp_from ""
	check "$v nothing listening: the OS's words" is "$line" error "Connection refused"

	line=$(probe "$server" 8082 --timeout 500ms)
	check "$v host-drop: TIMED_OUT" is "$line" outcome TIMED_OUT
	check "$v host-drop: at the deadline" ge "$line" elapsed_ms 490
	check "$v host-drop: the source port is known though nothing answered" local_is "$line" "$client"

	line=$(probe "$server" 8083)
	check "$v router-reject: UNREACHABLE" is "$line" outcome UNREACHABLE
	check "$v router-reject: the ICMP comes from the provider router ($provider)" is "$line" icmp_from "$provider"
	check "$v router-reject: destination unreachable ($unreach), admin-prohibited ($admin)" \
		contains "$line" " icmp_type=$unreach icmp_code=$admin "

	line=$(probe "$server" 8084)
	check "$v host-reject-icmp: UNREACHABLE" is "$line" outcome UNREACHABLE
	check "$v host-reject-icmp: the ICMP comes from the server" is "$line" icmp_from "$server"

	line=$(probe "$server" 8086)
	check "$v host-reject-icmp port-unreachable: UNREACHABLE, not REFUSED" is "$line" outcome UNREACHABLE
	check "$v host-reject-icmp port-unreachable: code $port_unreach" is "$line" icmp_code "$port_unreach"
	check "$v host-reject-icmp port-unreachable: the OS said refused" is "$line" error "Connection refused"

	line=$(probe "$server" 8087)
	check "$v host-reject-rst: REFUSED" is "$line" outcome REFUSED

	line=$(probe "$server" 8090 --timeout 500ms)
	check "$v provider-drop: TIMED_OUT" is "$line" outcome TIMED_OUT

	# --- hop search
	out=$(tool hops "$server" 8090 --timeout 500ms)
	line=$(grep '^hop ' <<<"$out" || true)
	check "$v provider-drop: last hop 2" is "$line" last_hop 2
	check "$v provider-drop: last hop is the provider router ($provider)" is "$line" address "$provider"
	check "$v provider-drop: the target never answered" is "$line" path_length 0
	check "$v provider-drop: the note says dropped" contains "$(field "$line" note)" "dropped after hop 2"
	check "$v provider-drop: TTL 1 and 2 got time-exceeded (type $te_type)" contains "$out" \
		"ttl 1 outcome=UNREACHABLE icmp_from=$isp icmp_type=$te_type"$'\n'"ttl 2 outcome=UNREACHABLE icmp_from=$provider icmp_type=$te_type"$'\n'"ttl 3 outcome=TIMED_OUT "

	line=$(hops "$server" 8091 --timeout 500ms)
	check "$v isp-block: last hop 1 ($isp)" is "$line" last_hop 1
	check "$v isp-block: address $isp" is "$line" address "$isp"

	line=$(hops "$server" 8080 --timeout 500ms)
	check "$v open port: path length 3" is "$line" path_length 3
	check "$v open port: last router before it is hop 2" is "$line" last_hop 2
	check "$v open port: found without waiting for a timeout" lt "$line" elapsed_ms 400

	line=$(hops "$server" 8083 --timeout 500ms)
	check "$v router-reject: last hop 2, then rejected" is "$line" last_hop 2
	check "$v router-reject: the note names the rejection" contains "$(field "$line" note)" "rejected"

	# --- the runner: 20 ports, mixed
	out=$(tool scan "$server" 8080-8099 --timeout 1s --retries 1)
	summary=$(grep '^summary ' <<<"$out")
	check "$v scan of 20 ports: 1 connected" is "$summary" CONNECTED 1
	check "$v scan of 20 ports: 13 refused (8087 by the host firewall's RST)" is "$summary" REFUSED 13
	check "$v scan of 20 ports: 3 unreachable (8083, 8084, 8086)" is "$summary" UNREACHABLE 3
	check "$v scan of 20 ports: 3 timed out (8082, 8090, 8091)" is "$summary" TIMED_OUT 3
	check "$v scan of 20 ports: no local failure" is "$summary" FAILED 0
	check "$v scan of 20 ports: the silent ports were tried twice" \
		is "$(grep '^result port=8082 ' <<<"$out")" attempts 2
	check "$v scan of 20 ports: answered ports only once" \
		is "$(grep '^result port=8081 ' <<<"$out")" attempts 1
	check "$v scan of 20 ports: two rounds of 1 s, in parallel" ge "$summary" elapsed_ms 1990
	check "$v scan of 20 ports: ... and no more" lt "$summary" elapsed_ms 3000
	echo "       $v 20 ports: $summary"

	# --- decided from the agent's evidence
	out=$(tool scan "$server" 8080,8082 --timeout 5s --retries 2 --decide 8082@300)
	line=$(grep '^attempt port=8082 ' <<<"$out" || true)
	check "$v decide: one attempt for the decided port" [ "$(grep -c '^attempt port=8082 ' <<<"$out")" = 1 ]
	check "$v decide: TIMED_OUT with the note" is "$line" error "decided from the agent's evidence"
	check "$v decide: cut at 300 ms, not 5 s" lt "$line" elapsed_ms 1000
	check "$v decide: marked decided" is "$(grep '^result port=8082 ' <<<"$out")" decided 1
done

if [[ ${PROBE_LAB_PERF:-0} == 1 ]]; then
	lab exec server nft add rule inet dropspot_lab input tcp dport 20000-21999 drop
	for server in 203.0.113.2 2001:db8:2::2; do
		summary=$(tool scan "$server" 20000-22999 --timeout 1s --retries 1 | grep '^summary ')
		echo "       3000 ports to $server: $summary"
		check "perf $server: 2000 dropped" is "$summary" TIMED_OUT 2000
		check "perf $server: 1000 refused" is "$summary" REFUSED 1000
		check "perf $server: under 20 s with 256 in flight" lt "$summary" elapsed_ms 20000
	done
fi

check_summary
