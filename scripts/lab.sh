#!/usr/bin/env bash
# dropspot lab: network namespaces on one machine for end-to-end tests and demos.
#
#   client  198.51.100.2/25    2001:db8:1::2/64       client2  198.51.100.130/25  2001:db8:3::2/64
#     eth0                                               eth0
#       \ 198.51.100.0/25, 2001:db8:1::/64               / 198.51.100.128/25, 2001:db8:3::/64
#     to-client 198.51.100.1   2001:db8:1::1    to-client2 198.51.100.129  2001:db8:3::1
#                          isp   (router "r1", consumer ISP: OP25B, interception)
#     to-provider 192.0.2.1/24   2001:db8:12::1/64
#       | 192.0.2.0/24, 2001:db8:12::/64
#     to-isp      192.0.2.2/24   2001:db8:12::2/64
#                          provider (router "r2", hosting provider: cloud packet filter)
#     to-server   203.0.113.1/24 2001:db8:2::1/64
#       | 203.0.113.0/24, 2001:db8:2::/64
#     eth0        203.0.113.2/24 + 203.0.113.3/24, 2001:db8:2::2/64 + 2001:db8:2::3/64
#                          server (where the agent runs)
#
# Clients, client2 and server have default routes towards their router; isp has a
# default route to provider; provider routes 198.51.100.0/24, 2001:db8:1::/64 and
# 2001:db8:3::/64 back to isp (and has no default route: anything else is unreachable).
# IPv6 DAD is off everywhere, so every address is usable at once.
#
# Only documentation ranges (198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24,
# 2001:db8::/32) and loopback are used, and only inside the namespaces made here.
# The host's own firewall, routes and interfaces are never touched: each veth pair is
# created directly inside its two namespaces (`ip link add A netns X type veth peer
# name B netns Y`), so nothing ever appears in the root namespace.
#
# Debian packages needed: iproute2 (ip, ss), nftables (nft), iptables (iptables,
# ip6tables, iptables-legacy, ip6tables-legacy), socat (listeners), util-linux
# (setsid), coreutils, bash. tests/e2e/lab_selftest.sh also needs iputils-ping.
#
# Usage (as root):
#   eval "$(scripts/lab.sh up)"                 # prints: export DROPSPOT_LAB=<prefix>
#   scripts/lab.sh exec NODE CMD...             # run CMD in NODE, exit code passed through
#   scripts/lab.sh addr NODE [4|6] [1|2]        # NODE's main address (2: server's second one)
#   scripts/lab.sh ns NODE                      # NODE's namespace name (for ip -n / nsenter)
#   scripts/lab.sh serve NODE ADDR PORT [--silent|--http|--echo]
#   scripts/lab.sh stop NODE PORT
#   scripts/lab.sh wait-listen NODE PORT [TIMEOUT_S]
#   scripts/lab.sh fault NAME ARGS...           # see `fault_usage` below
#   scripts/lab.sh list
#   scripts/lab.sh down [PREFIX]
# NODE is one of: client client2 isp provider server.
# `up` names the lab $DROPSPOT_LAB if set (and refuses if that lab is up), else ds<pid>;
# for a second lab from a shell that already has one: `DROPSPOT_LAB= scripts/lab.sh up`.
# State (pid files, listener logs, the HTTP responder) lives in /run/dropspot-lab/<prefix>.
# Exit codes: 2 for bad usage (unknown node, bad port, missing DROPSPOT_LAB), 1 for
# other failures; `exec` passes the command's exit code through.
set -euo pipefail

readonly NODES=(client client2 isp provider server)
readonly STATE_ROOT=${DROPSPOT_LAB_STATE_DIR:-/run/dropspot-lab}
readonly NFT_TABLE=dropspot_lab     # one `inet` table per node, owned by the lab
readonly IPT_COMMENT=dropspot_lab   # tag on every iptables rule the lab adds
readonly CONTROL_PORT=7411
FAULT_FAMILY=""  # fault -4 / -6: the fault's rules match that address family only
PROG=$(basename "$0")
readonly PROG
LAB=""      # prefix of the lab being worked on; namespaces are "$LAB-<node>"

# ---------------------------------------------------------------- messages

log() { echo "$PROG: $*" >&2; }
die() { log "$*"; exit 1; }
usage_error() { log "$*"; log "run '$PROG help' for usage"; exit 2; }

usage() {
	cat <<EOF
usage: $PROG COMMAND [ARGS]    (as root; the lab is named by \$DROPSPOT_LAB)
  up [PREFIX]                        create a lab, print 'export DROPSPOT_LAB=<prefix>'
  down [PREFIX]                      kill the lab's processes, delete its namespaces
  list                               labs that are up
  exec NODE CMD...                   run CMD in NODE (exit code passed through)
  addr NODE [4|6] [1|2]              NODE's address (2: the server's second address)
  ns NODE                            NODE's namespace name
  hosts NODE NAME ADDR [NAME ADDR...]  NODE's /etc/hosts (a name with both families: two pairs)
  serve NODE ADDR PORT [--silent|--http|--echo]   background TCP listener (default --silent)
  stop NODE PORT                     kill listeners started by 'serve' on NODE:PORT
  wait-listen NODE PORT [TIMEOUT_S]  wait until something listens on PORT in NODE (default 5 s)
  fault NAME ARGS...                 install a fault, 'fault help' lists them
  wan DELAY_MS                       the client's link becomes a WAN: DELAY_MS each way
                                     (TUN devices joined by scripts/wan_delay.py; for the
                                     lab's life, and 'lab.sh wan' again only on a new lab)
nodes: ${NODES[*]}
EOF
}

fault_usage() {
	cat <<EOF
usage: $PROG fault [-4|-6] NAME ARGS...   (nft rules go in table 'inet $NFT_TABLE' of the node;
                            -4 / -6: the rules match that address family only)
  provider-drop PORT        provider forward: drop SYNs (syn without ack) going to the server, dport PORT
  control-block [PORT]      same as provider-drop, PORT defaults to $CONTROL_PORT (the control channel)
  isp-block PORT            isp forward: drop tcp dport PORT coming from the clients (OP25B)
  router-reject PORT [TYPE] provider forward: reject with icmpx TYPE (default admin-prohibited)
  router-reset PORT         provider forward: reject with tcp reset (RST sent by the router)
  return-drop PORT          provider forward: drop tcp sport PORT coming from the server
  loss PORT PERCENT         provider forward: drop PERCENT% of packets to the server, dport PORT
  reply-loss PORT PERCENT   provider forward: drop PERCENT% of the server's packets, sport PORT
  host-drop PORT            server input: drop tcp dport PORT
  host-reject-rst PORT      server input: reject with tcp reset
  host-reject-icmp PORT [TYPE]  server input: reject with icmpx TYPE (default admin-prohibited,
                            as firewalld does; port-unreachable is what iptables -j REJECT sends)
  host-drop-iptables PORT   server: iptables/ip6tables (Debian default: nft backend) -I INPUT ... -j DROP
  host-drop-iptables-legacy PORT  the same with iptables-legacy/ip6tables-legacy
  intercept PORT [--silent|--http|--echo]  isp prerouting: redirect tcp dport PORT from the clients
                            to a listener on isp itself (started here, default --http)
  mtu-small MTU             the isp-provider link's MTU (both ends) lowered to MTU (1280-1499):
                            a tunnel in the middle of the path; path-MTU discovery works
  mtu-blackhole MTU [DIR]   the same, and the routers drop the ICMP 'fragmentation needed' /
                            'packet too big' they send about it (their output), so full-size
                            packets vanish. DIR: to-client (provider's: the server's packets),
                            to-server (isp's: the clients'), both (default)
  host-drop-frag-needed     server input: drop ICMP 'fragmentation needed' and ICMPv6 'packet too big'
  clear [NODE]              delete the lab's nft tables, iptables rules and intercept listeners
  show [NODE]               print the lab's nft tables and iptables rules
TYPE: admin-prohibited, port-unreachable, host-unreachable, no-route.
PORT may be a range FIRST-LAST (one nft rule), except for control-block, the iptables faults and intercept.
EOF
}

# ---------------------------------------------------------------- validation

check_node() {
	local node=${1:-}
	local known
	for known in "${NODES[@]}"; do
		[[ $node == "$known" ]] && return 0
	done
	usage_error "unknown node '$node' (expected one of: ${NODES[*]})"
}

check_port() {
	if ! [[ ${1:-} =~ ^[0-9]{1,5}$ ]] || (( 10#$1 < 1 || 10#$1 > 65535 )); then
		usage_error "bad port '${1:-}' (expected 1-65535)"
	fi
}

check_percent() {
	if ! [[ ${1:-} =~ ^[0-9]{1,3}$ ]] || (( 10#$1 > 100 )); then
		usage_error "bad percentage '${1:-}' (expected 0-100)"
	fi
}

check_prefix() {
	[[ ${1:-} =~ ^[A-Za-z0-9_]{1,24}$ ]] ||
		usage_error "bad lab prefix '${1:-}' (letters, digits, '_', at most 24)"
}

check_icmp_type() {
	case ${1:-} in
	admin-prohibited | port-unreachable | host-unreachable | no-route) ;;
	*) usage_error "bad icmp type '${1:-}' (admin-prohibited, port-unreachable, host-unreachable, no-route)" ;;
	esac
}

check_root() {
	(( EUID == 0 )) || die "must run as root (network namespaces, nftables)"
}

# The lab named by $DROPSPOT_LAB, which must be up.
require_lab() {
	LAB=${DROPSPOT_LAB:-}
	[[ -n $LAB ]] || usage_error "DROPSPOT_LAB is not set (run: eval \"\$($PROG up)\")"
	check_prefix "$LAB"
	check_root
	lab_exists "$LAB" || usage_error "lab '$LAB' is not up"
}

# ---------------------------------------------------------------- helpers

ns_name() { echo "$LAB-$1"; }
state_dir() { echo "$STATE_ROOT/$LAB"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }

lab_exists() {
	local prefix=$1 node
	[[ -d $STATE_ROOT/$prefix ]] && return 0
	for node in "${NODES[@]}"; do
		ns_exists "$prefix-$node" && return 0
	done
	return 1
}

# n NODE CMD...: run CMD in NODE's namespace.
n() { ip netns exec "$LAB-$1" "${@:2}"; }

# nsysctl NODE KEY VALUE: set a per-namespace sysctl (no procps needed).
nsysctl() { echo "$3" | n "$1" tee "/proc/sys/${2//.//}" >/dev/null; }

# Addresses: addr_of NODE FAMILY INDEX. Routers' main address is the one a client's
# traceroute shows (the interface facing the clients).
addr_of() {
	case $1/$2/$3 in
	client/4/1) echo 198.51.100.2 ;;
	client/6/1) echo 2001:db8:1::2 ;;
	client2/4/1) echo 198.51.100.130 ;;
	client2/6/1) echo 2001:db8:3::2 ;;
	isp/4/1) echo 198.51.100.1 ;;
	isp/6/1) echo 2001:db8:1::1 ;;
	provider/4/1) echo 192.0.2.2 ;;
	provider/6/1) echo 2001:db8:12::2 ;;
	server/4/1) echo 203.0.113.2 ;;
	server/6/1) echo 2001:db8:2::2 ;;
	server/4/2) echo 203.0.113.3 ;;
	server/6/2) echo 2001:db8:2::3 ;;
	*) return 1 ;;
	esac
}

# ---------------------------------------------------------------- up / down

# veth NODE_A IF_A NODE_B IF_B: a veth pair created straight inside both namespaces.
veth() {
	ip link add "$2" netns "$(ns_name "$1")" type veth peer name "$4" netns "$(ns_name "$3")"
	n "$1" ip link set "$2" up
	n "$3" ip link set "$4" up
}

# ifaddr NODE IF ADDR/LEN...: IPv6 addresses get nodad (DAD is also off by sysctl).
ifaddr() {
	local node=$1 ifname=$2 a
	shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			n "$node" ip -6 addr add "$a" dev "$ifname" nodad
		else
			n "$node" ip addr add "$a" dev "$ifname"
		fi
	done
}

make_node() {
	local node=$1 forward=$2
	ip netns add "$(ns_name "$node")"
	echo "$node" >>"$(state_dir)/nodes"
	# Before any interface exists, so new interfaces inherit "default".
	nsysctl "$node" net.ipv6.conf.all.accept_dad 0
	nsysctl "$node" net.ipv6.conf.default.accept_dad 0
	nsysctl "$node" net.ipv4.conf.all.rp_filter 0     # IPv4 conf is inherited from the host
	nsysctl "$node" net.ipv4.conf.default.rp_filter 0
	nsysctl "$node" net.ipv4.ip_forward "$forward"
	nsysctl "$node" net.ipv6.conf.all.forwarding "$forward"
	n "$node" ip link set lo up
}

build_lab() {
	make_node client 0
	make_node client2 0
	make_node isp 1
	make_node provider 1
	make_node server 0

	veth client eth0 isp to-client
	veth client2 eth0 isp to-client2
	veth isp to-provider provider to-isp
	veth provider to-server server eth0

	ifaddr client eth0 198.51.100.2/25 2001:db8:1::2/64
	ifaddr client2 eth0 198.51.100.130/25 2001:db8:3::2/64
	ifaddr isp to-client 198.51.100.1/25 2001:db8:1::1/64
	ifaddr isp to-client2 198.51.100.129/25 2001:db8:3::1/64
	ifaddr isp to-provider 192.0.2.1/24 2001:db8:12::1/64
	ifaddr provider to-isp 192.0.2.2/24 2001:db8:12::2/64
	ifaddr provider to-server 203.0.113.1/24 2001:db8:2::1/64
	ifaddr server eth0 203.0.113.2/24 203.0.113.3/24 2001:db8:2::2/64 2001:db8:2::3/64

	n client ip route add default via 198.51.100.1
	n client ip -6 route add default via 2001:db8:1::1
	n client2 ip route add default via 198.51.100.129
	n client2 ip -6 route add default via 2001:db8:3::1
	n isp ip route add default via 192.0.2.2
	n isp ip -6 route add default via 2001:db8:12::2
	n provider ip route add 198.51.100.0/24 via 192.0.2.1
	n provider ip -6 route add 2001:db8:1::/64 via 2001:db8:12::1
	n provider ip -6 route add 2001:db8:3::/64 via 2001:db8:12::1
	n server ip route add default via 203.0.113.1
	n server ip -6 route add default via 2001:db8:2::1

	write_http_responder
}

# Claim a lab name atomically (mkdir) so two concurrent `up`s never share one.
claim_prefix() {
	local wanted=$1 candidate i
	mkdir -p "$STATE_ROOT"
	if [[ -n $wanted ]]; then
		check_prefix "$wanted"
		lab_exists "$wanted" && die "lab '$wanted' is already up (run '$PROG down' first, or 'DROPSPOT_LAB= $PROG up' for another lab)"
		mkdir "$STATE_ROOT/$wanted" 2>/dev/null || die "lab '$wanted' is already up"
		echo "$wanted"
		return
	fi
	for i in '' {1..20}; do
		candidate=ds$$${i:+_$i}
		lab_exists "$candidate" && continue
		mkdir "$STATE_ROOT/$candidate" 2>/dev/null && { echo "$candidate"; return; }
	done
	die "could not find a free lab name"
}

cmd_up() {
	(( $# <= 1 )) || usage_error "usage: $PROG up [PREFIX]"
	check_root
	LAB=$(claim_prefix "${1:-${DROPSPOT_LAB:-}}")
	trap 'up_failed' EXIT
	trap 'exit 130' INT TERM
	build_lab >&2
	trap - EXIT INT TERM
	log "lab '$LAB' is up: namespaces $(printf '%s ' "${NODES[@]/#/$LAB-}")"
	echo "export DROPSPOT_LAB=$LAB"
}

up_failed() {
	local rc=$?
	trap - EXIT
	log "creating lab '$LAB' failed; tearing down what was made"
	teardown || true
	exit $(( rc == 0 ? 1 : rc ))
}

# kill_ns_processes NS: TERM every process in NS, then KILL what is left.
kill_ns_processes() {
	local ns=$1 pids i
	for i in {1..40}; do
		pids=$(ip netns pids "$ns" 2>/dev/null | grep -vx -e "$$" -e "$BASHPID" || true)
		[[ -z $pids ]] && return 0
		# shellcheck disable=SC2086 # one pid per word
		if (( i < 30 )); then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
		sleep 0.05
	done
	log "processes still running in $ns: $pids"
}

teardown() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB-" || true); do
		kill_ns_processes "$ns"
		if ! ip netns del "$ns" 2>/dev/null && ns_exists "$ns"; then
			log "could not delete namespace $ns"
		fi
	done
	rm -rf "${STATE_ROOT:?}/$LAB"
	rm -rf /etc/netns/"$LAB"-*  # cmd_hosts' files
}

cmd_down() {
	(( $# <= 1 )) || usage_error "usage: $PROG down [PREFIX]"
	LAB=${1:-${DROPSPOT_LAB:-}}
	[[ -n $LAB ]] || usage_error "DROPSPOT_LAB is not set and no PREFIX given"
	check_prefix "$LAB"
	check_root
	teardown
	! lab_exists "$LAB" || die "lab '$LAB' could not be removed completely"
}

cmd_list() {
	(( $# == 0 )) || usage_error "usage: $PROG list"
	local dir prefix node up listeners f
	for dir in "$STATE_ROOT"/*/; do
		[[ -d $dir ]] || continue
		prefix=$(basename "$dir")
		up=()
		for node in "${NODES[@]}"; do
			ns_exists "$prefix-$node" && up+=("$node")
		done
		listeners=()
		for f in "$dir"serve.*.pid "$dir"intercept.*.pid; do
			[[ -e $f ]] && f=${f##*/} && listeners+=("${f%.pid}")
		done
		echo "$prefix  nodes: ${up[*]:-none}  listeners: ${listeners[*]:-none}"
	done
}

cmd_exec() {
	(( $# >= 2 )) || usage_error "usage: $PROG exec NODE CMD..."
	check_node "$1"
	require_lab
	exec ip netns exec "$(ns_name "$1")" "${@:2}"
}

cmd_addr() {
	(( $# >= 1 && $# <= 3 )) || usage_error "usage: $PROG addr NODE [4|6] [1|2]"
	check_node "$1"
	local family=${2:-4} index=${3:-1}
	[[ $family == 4 || $family == 6 ]] || usage_error "bad address family '$family' (4 or 6)"
	addr_of "$1" "$family" "$index" || usage_error "node '$1' has no address number '$index'"
}

# NODE's own /etc/hosts: `ip netns exec` binds /etc/netns/<ns>/hosts over
# it, so names resolve there (and only there) as the lab needs; and its own
# resolv.conf, so that other names fail at once instead of after DNS timeouts.
cmd_hosts() {
	(( $# >= 3 && $# % 2 == 1 )) || usage_error "usage: $PROG hosts NODE NAME ADDR [NAME ADDR...]"
	check_node "$1"
	require_lab
	local dir
	dir=/etc/netns/$(ns_name "$1")
	mkdir -p "$dir"
	{
		printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
		shift
		while (( $# > 0 )); do
			printf '%s\t%s\n' "$2" "$1"
			shift 2
		done
	} >"$dir/hosts"
	# Any other name fails at once: no DNS server is reachable from the lab.
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$dir/resolv.conf"
}

cmd_ns() {
	(( $# == 1 )) || usage_error "usage: $PROG ns NODE"
	check_node "$1"
	require_lab
	ns_name "$1"
}

# ---------------------------------------------------------------- listeners

write_http_responder() {
	# One request per connection: read the request head, answer 200, close.
	cat >"$(state_dir)/http-responder" <<'EOF'
#!/bin/bash
IFS= read -r request || exit 0
while IFS= read -r header && [[ -n ${header%$'\r'} ]]; do :; done
body="dropspot-lab $1 ${SOCAT_SOCKADDR:-?}:${SOCAT_SOCKPORT:-?}"$'\n'
printf 'HTTP/1.1 200 OK\r\nServer: dropspot-lab/%s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
	"$1" "${#body}" "$body"
EOF
	chmod 755 "$(state_dir)/http-responder"
}

# socat_listen_address ADDR PORT: dual-stack for "::", one family otherwise.
socat_listen_address() {
	local addr=$1 port=$2
	case $addr in
	::) echo "TCP6-LISTEN:$port,bind=[::],ipv6only=0,reuseaddr,fork" ;;
	*:*) echo "TCP6-LISTEN:$port,bind=[$addr],ipv6only=1,reuseaddr,fork" ;;
	*) echo "TCP4-LISTEN:$port,bind=$addr,reuseaddr,fork" ;;
	esac
}

check_listen_addr() {
	[[ ${1:-} =~ ^[0-9a-fA-F.:]+$ && ${1:-} =~ [.:] ]] ||
		usage_error "bad listen address '${1:-}' (e.g. 0.0.0.0, ::, 127.0.0.1, ::1, 203.0.113.2)"
}

# start_listener KIND NODE ADDR PORT MODE: KIND is "serve" or "intercept" (pid file name).
start_listener() {
	local kind=$1 node=$2 addr=$3 port=$4 mode=$5
	local pidfile logfile right pid
	pidfile="$(state_dir)/$kind.$node.$port.$addr.pid"
	logfile="${pidfile%.pid}.log"
	[[ -e $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
		die "a listener is already running on $node $addr:$port (pid $(cat "$pidfile"))"
	case $mode in
	--silent) right=(-u "$(socat_listen_address "$addr" "$port")" OPEN:/dev/null) ;;
	--echo) right=("$(socat_listen_address "$addr" "$port")" PIPE) ;;
	--http) right=("$(socat_listen_address "$addr" "$port")" "EXEC:$(state_dir)/http-responder $node") ;;
	*) usage_error "bad mode '$mode' (--silent, --http or --echo)" ;;
	esac
	# setsid: its own process group, so `stop` also ends the per-connection children.
	# ip netns exec and setsid exec in place, so $! is socat's pid.
	setsid ip netns exec "$(ns_name "$node")" socat "${right[@]}" </dev/null >>"$logfile" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	if ! wait_listen "$node" "$port" 5 "$pid"; then
		log "listener on $node $addr:$port did not start; socat said: $(tail -n 3 "$logfile" 2>/dev/null)"
		stop_pidfile "$pidfile"
		exit 1
	fi
	[[ $addr == *:* ]] && addr="[$addr]"
	log "$node: listening on $addr:$port ($mode, pid $pid)"
}

# wait_listen NODE PORT TIMEOUT_S [PID]: poll ss until PORT listens (owned by PID if given).
wait_listen() {
	local node=$1 port=$2 timeout=$3 pid=${4:-} i out
	for (( i = 0; i < timeout * 20; i++ )); do
		out=$(n "$node" ss -Hltnp "sport = :$port" 2>/dev/null || true)
		if [[ -n $pid ]]; then
			[[ $out == *"pid=$pid,"* ]] && return 0
			kill -0 "$pid" 2>/dev/null || return 1
		else
			[[ -n $out ]] && return 0
		fi
		sleep 0.05
	done
	return 1
}

stop_pidfile() {
	local pidfile=$1 pid i
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]]; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		for i in {1..40}; do
			kill -0 "$pid" 2>/dev/null || break
			(( i == 30 )) && { kill -KILL -- "-$pid" 2>/dev/null || true; }
			sleep 0.05
		done
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile" "${pidfile%.pid}.log"
}

cmd_serve() {
	(( $# == 3 || $# == 4 )) || usage_error "usage: $PROG serve NODE ADDR PORT [--silent|--http|--echo]"
	check_node "$1"
	check_listen_addr "$2"
	check_port "$3"
	require_lab
	start_listener serve "$1" "$2" "$((10#$3))" "${4:---silent}"
}

cmd_stop() {
	(( $# == 2 )) || usage_error "usage: $PROG stop NODE PORT"
	check_node "$1"
	check_port "$2"
	require_lab
	local f found=0
	for f in "$(state_dir)/serve.$1.$((10#$2))."*.pid; do
		[[ -e $f ]] || continue
		stop_pidfile "$f"
		found=1
	done
	(( found )) || log "no listener started by '$PROG serve' on $1 port $2"
}

cmd_wait_listen() {
	(( $# == 2 || $# == 3 )) || usage_error "usage: $PROG wait-listen NODE PORT [TIMEOUT_S]"
	check_node "$1"
	check_port "$2"
	[[ ${3:-5} =~ ^[0-9]+$ ]] || usage_error "bad timeout '$3' (whole seconds)"
	require_lab
	wait_listen "$1" "$((10#$2))" "${3:-5}" || die "nothing listens on port $2 in $1 after ${3:-5} s"
}

# ---------------------------------------------------------------- faults

# nft_rule NODE CHAIN RULE COMMENT: append RULE to the lab's table in NODE, creating
# the table and a base chain named after its hook on first use.
nft_rule() {
	local node=$1 chain=$2 rule=$3 comment=$4 spec
	case $chain in
	input | forward | output) spec="type filter hook $chain priority filter; policy accept;" ;;
	prerouting) spec="type nat hook prerouting priority dstnat; policy accept;" ;;
	*) die "internal: unknown chain $chain" ;;
	esac
	[[ -z $FAULT_FAMILY ]] || rule="meta nfproto ipv$FAULT_FAMILY $rule"
	n "$node" nft -f - <<EOF
add table inet $NFT_TABLE
add chain inet $NFT_TABLE $chain { $spec }
add rule inet $NFT_TABLE $chain $rule comment "$comment"
EOF
	log "$node: nft inet $NFT_TABLE $chain: $rule"
}

# ipt_drop NODE IPTABLES IP6TABLES PORT: INPUT drop in both families, tagged for `clear`.
ipt_drop() {
	local node=$1 v4=$2 v6=$3 port=$4 cmd
	case $FAULT_FAMILY in 4) v6="" ;; 6) v4="" ;; esac
	for cmd in $v4 $v6; do
		command -v "$cmd" >/dev/null || die "$cmd is not installed (Debian package iptables)"
		n "$node" "$cmd" -I INPUT -p tcp --dport "$port" -m comment --comment "$IPT_COMMENT" -j DROP
		echo "$node $cmd" >>"$(state_dir)/iptables"
		log "$node: $cmd -I INPUT -p tcp --dport $port -j DROP"
	done
}

CLIENT_IFS='{ "to-client", "to-client2" }'

fault_install() {
	local name=$1
	shift
	local port=${1:-}
	# A range FIRST-LAST (nftables faults only): one rule for many ports.
	local range=""
	if [[ $port =~ ^([0-9]{1,5})-([0-9]{1,5})$ ]]; then
		local first=${BASH_REMATCH[1]} last=${BASH_REMATCH[2]}
		case $name in
		control-block | host-drop-iptables* | intercept) usage_error "fault $name takes one port, not a range" ;;
		esac
		check_port "$first"
		check_port "$last"
		(( 10#$first <= 10#$last )) || usage_error "bad port range '$port' (FIRST-LAST with FIRST <= LAST)"
		range="$((10#$first))-$((10#$last))"
		port=$first
	fi
	case $name in
	provider-drop | control-block | isp-block | router-reset | return-drop | host-drop | \
		host-reject-rst | host-drop-iptables | host-drop-iptables-legacy)
		if [[ $name == control-block && $# == 0 ]]; then
			port=$CONTROL_PORT
		elif (( $# != 1 )); then
			usage_error "usage: $PROG fault $name PORT"
		fi
		check_port "$port"
		;;
	router-reject | host-reject-icmp)
		(( $# == 1 || $# == 2 )) || usage_error "usage: $PROG fault $name PORT [ICMP_TYPE]"
		check_port "$port"
		check_icmp_type "${2:-admin-prohibited}"
		;;
	loss | reply-loss)
		(( $# == 2 )) || usage_error "usage: $PROG fault $name PORT PERCENT"
		check_port "$port"
		check_percent "$2"
		;;
	intercept)
		(( $# == 1 || $# == 2 )) || usage_error "usage: $PROG fault intercept PORT [--silent|--http|--echo]"
		check_port "$port"
		case ${2:---http} in --silent | --http | --echo) ;; *) usage_error "bad mode '$2'" ;; esac
		;;
	mtu-small | mtu-blackhole)
		fault_mtu "$name" "$@"
		return
		;;
	host-drop-frag-needed)
		(( $# == 0 )) || usage_error "usage: $PROG fault $name"
		require_lab
		nft_rule server input "icmp type destination-unreachable icmp code frag-needed drop" "$name"
		nft_rule server input "icmpv6 type packet-too-big drop" "$name"
		return
		;;
	*) usage_error "unknown fault '$name' (run '$PROG fault help')" ;;
	esac
	port=$((10#$port))
	[[ -z $range ]] || port=$range
	require_lab
	local tag="$name $port"
	case $name in
	provider-drop | control-block)
		nft_rule provider forward "oifname \"to-server\" tcp dport $port tcp flags & (syn | ack) == syn drop" "$tag" ;;
	isp-block)
		nft_rule isp forward "iifname $CLIENT_IFS tcp dport $port drop" "$tag" ;;
	router-reject)
		nft_rule provider forward "oifname \"to-server\" tcp dport $port reject with icmpx type ${2:-admin-prohibited}" "$tag" ;;
	router-reset)
		nft_rule provider forward "oifname \"to-server\" tcp dport $port reject with tcp reset" "$tag" ;;
	return-drop)
		nft_rule provider forward "iifname \"to-server\" tcp sport $port drop" "$tag" ;;
	loss)
		# numgen ... mod 100 yields 0-99, and nft refuses "< 100": 100% is a plain drop.
		local chance="numgen random mod 100 < $((10#$2)) "
		(( 10#$2 == 100 )) && chance=""
		nft_rule provider forward "oifname \"to-server\" tcp dport $port ${chance}drop" "$tag $((10#$2))%" ;;
	reply-loss)
		local chance="numgen random mod 100 < $((10#$2)) "
		(( 10#$2 == 100 )) && chance=""
		nft_rule provider forward "iifname \"to-server\" tcp sport $port ${chance}drop" "$tag $((10#$2))%" ;;
	host-drop)
		nft_rule server input "tcp dport $port drop" "$tag" ;;
	host-reject-rst)
		nft_rule server input "tcp dport $port reject with tcp reset" "$tag" ;;
	host-reject-icmp)
		nft_rule server input "tcp dport $port reject with icmpx type ${2:-admin-prohibited}" "$tag" ;;
	host-drop-iptables)
		ipt_drop server iptables ip6tables "$port" ;;
	host-drop-iptables-legacy)
		ipt_drop server iptables-legacy ip6tables-legacy "$port" ;;
	intercept)
		nft_rule isp prerouting "iifname $CLIENT_IFS tcp dport $port redirect to :$port" "$tag"
		start_listener intercept isp :: "$port" "${2:---http}" ;;
	esac
}

# The middle link (isp to-provider, provider to-isp) with a smaller MTU, as a
# tunnel or PPPoE link on a real path; `clear` puts it back to 1500. With
# mtu-blackhole the router(s) drop the ICMP errors they generate about it.
fault_mtu() {
	local name=$1
	shift
	local usage="usage: $PROG fault $name MTU"
	[[ $name == mtu-small ]] || usage+=" [to-client|to-server|both]"
	[[ $# == 1 || ($# == 2 && $name == mtu-blackhole) ]] || usage_error "$usage"
	[[ $1 =~ ^[0-9]{4}$ ]] && (( 10#$1 >= 1280 && 10#$1 <= 1499 )) || usage_error "bad MTU '$1' (1280-1499)"
	local mtu=$((10#$1)) dir=${2:-both} router
	case $dir in to-client | to-server | both) ;; *) usage_error "bad direction '$dir' (to-client, to-server or both)" ;; esac
	require_lab
	n isp ip link set dev to-provider mtu "$mtu"
	n provider ip link set dev to-isp mtu "$mtu"
	echo "$mtu" >"$(state_dir)/mtu"
	log "isp-provider link MTU $mtu"
	[[ $name == mtu-blackhole ]] || return 0
	# provider forwards the server's packets towards the clients, isp the clients' towards the server.
	for router in provider isp; do
		[[ $dir == both || ($dir == to-client && $router == provider) || ($dir == to-server && $router == isp) ]] || continue
		nft_rule "$router" output "icmp type destination-unreachable icmp code frag-needed drop" "$name $mtu"
		nft_rule "$router" output "icmpv6 type packet-too-big drop" "$name $mtu"
	done
}

# iptables_cmds_used NODE: which iptables commands the lab used in NODE.
iptables_cmds_used() {
	[[ -e $(state_dir)/iptables ]] || return 0
	awk -v node="$1" '$1 == node {print $2}' "$(state_dir)/iptables" | sort -u
}

# fault_nodes [NODE]: the nodes `clear` and `show` work on.
fault_nodes() {
	if [[ -n ${1:-} ]]; then echo "$1"; else printf '%s\n' "${NODES[@]}"; fi
}

fault_clear() {
	local node cmd f
	for node in $(fault_nodes "${1:-}"); do
		if n "$node" nft list table inet "$NFT_TABLE" >/dev/null 2>&1; then
			n "$node" nft delete table inet "$NFT_TABLE"
		fi
		for cmd in $(iptables_cmds_used "$node"); do
			ipt_delete_tagged "$node" "$cmd"
		done
		[[ ! -e $(state_dir)/iptables ]] || sed -i "/^$node /d" "$(state_dir)/iptables"
		for f in "$(state_dir)/intercept.$node."*.pid; do
			[[ ! -e $f ]] || stop_pidfile "$f"
		done
	done
	if [[ -e $(state_dir)/mtu ]] && [[ -z ${1:-} || $1 == isp || $1 == provider ]]; then
		n isp ip link set dev to-provider mtu 1500
		n provider ip link set dev to-isp mtu 1500
		rm -f "$(state_dir)/mtu"
		# The path MTUs the ends learnt (kept 10 minutes) go with it.
		local end
		for end in client client2 server; do
			n "$end" ip route flush cache
			n "$end" ip -6 route flush cache
		done
	fi
	log "faults cleared on: $(fault_nodes "${1:-}" | tr '\n' ' ')"
}

# ipt_delete_tagged NODE CMD: delete every INPUT rule carrying the lab's comment.
ipt_delete_tagged() {
	local node=$1 cmd=$2 line
	local -a rule
	while IFS= read -r line; do
		[[ $line == "-A INPUT "*"--comment $IPT_COMMENT "* ]] || continue
		read -ra rule <<<"$line"
		rule[0]=-D
		n "$node" "$cmd" "${rule[@]}"
	done < <(n "$node" "$cmd" -S INPUT 2>/dev/null || true)
}

fault_show() {
	local node cmd
	for node in $(fault_nodes "${1:-}"); do
		echo "# $node"
		n "$node" nft list table inet "$NFT_TABLE" 2>/dev/null || true
		for cmd in $(iptables_cmds_used "$node"); do
			n "$node" "$cmd" -S INPUT | grep -- "--comment $IPT_COMMENT" | sed "s/^/$cmd /" || true
		done
	done
}

cmd_fault() {
	# -4 / -6 first: the fault hits that address family only (a dual-stack
	# host's half failure, issue 24).
	case ${1:-} in
	-4 | -6) FAULT_FAMILY=${1#-}; shift ;;
	esac
	(( $# >= 1 )) || usage_error "usage: $PROG fault [-4|-6] NAME ARGS... (run '$PROG fault help')"
	local name=$1
	shift
	case $name in
	help | -h | --help) fault_usage ;;
	clear | show)
		(( $# <= 1 )) || usage_error "usage: $PROG fault $name [NODE]"
		[[ $# == 0 ]] || check_node "$1"
		require_lab
		"fault_$name" "${1:-}"
		;;
	*) fault_install "$name" "$@" ;;
	esac
}

# ---------------------------------------------------------------- wan

# The client's link (client eth0 - isp to-client) as a WAN: this kernel has no
# netem, so the veth pair is replaced by two TUN devices of the same names and
# addresses, joined by a process that holds each packet DELAY_MS (one way).
# The process runs in the isp namespace, so `down` ends it with the lab.
cmd_wan() {
	(( $# == 1 )) || usage_error "usage: $PROG wan DELAY_MS"
	[[ $1 =~ ^[0-9]{1,5}$ ]] && (( 10#$1 <= 10000 )) || usage_error "bad delay '$1' (0-10000 ms)"
	require_lab
	[[ ! -e $(state_dir)/wan ]] || die "the client's link is already a WAN"
	command -v python3 >/dev/null || die "python3 is needed for the WAN link"
	n client ip link del eth0 # both ends of the veth pair
	local log
	log="$(state_dir)/wan.log"
	n isp setsid python3 "$(dirname "$0")/wan_delay.py" "$((10#$1))" "$(ns_name client)" eth0 "$(ns_name isp)" \
		to-client </dev/null >"$log" 2>&1 &
	local i
	for i in $(seq 50); do
		grep -q '^ready' "$log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q '^ready' "$log" || die "the WAN link did not start: $(cat "$log")"
	n client ip link set eth0 up
	n isp ip link set to-client up
	ifaddr client eth0 198.51.100.2/25 2001:db8:1::2/64
	ifaddr isp to-client 198.51.100.1/25 2001:db8:1::1/64
	n client ip route add default via 198.51.100.1 dev eth0 onlink
	n client ip -6 route add default via 2001:db8:1::1 dev eth0 onlink
	echo "$((10#$1))" >"$(state_dir)/wan"
	log "the client's link delays each packet $((10#$1)) ms each way"
}

# ---------------------------------------------------------------- main

main() {
	(( $# >= 1 )) || { usage >&2; exit 2; }
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	list) cmd_list "$@" ;;
	exec) cmd_exec "$@" ;;
	addr) cmd_addr "$@" ;;
	ns) cmd_ns "$@" ;;
	hosts) cmd_hosts "$@" ;;
	serve) cmd_serve "$@" ;;
	stop) cmd_stop "$@" ;;
	wait-listen) cmd_wait_listen "$@" ;;
	fault) cmd_fault "$@" ;;
	wan) cmd_wan "$@" ;;
	help | -h | --help) usage ;;
	*) usage_error "unknown command '$cmd'" ;;
	esac
}

main "$@"
