#!/usr/bin/env bash
# Benchmarks of issue #7, in the namespace lab, always as ratios against a peer
# measured in the same run (the machines are shared and noisy): medians of
# several runs, interleaved.
#
#   1. runbook matrix: 22 ports with mixed faults, prober (with the agent) wall
#      time <= 0.2 x `nmap -sS -Pn -n -p LIST` (--quick: 0.3);
#   2. sweep of ports 1-3000 (1000 dropped in transit, 1000 dropped by the host
#      firewall, the rest mixed): prober <= 0.1 x `nmap -sS -T4 -Pn -n` (--quick: 0.15), and
#      every port's verdict right;
#   3. server cost: wrk against nginx on port 80 of the server, with and without
#      an agent session watching port 80 for another client: >= 0.97 (--quick:
#      >= 0.85, see below), the agent itself about idle meanwhile; the idle
#      agent uses no CPU and never wakes up;
#   4. memory: agent peak RSS <= 16 MiB with one session, <= 64 MiB with 50;
#      prober <= 32 MiB for the sweep;
#   5. latency floor: the path's and the control channel's round trips, and how
#      far each kind of port's decision is from them (reported, no limit).
#   6. a WAN: the matrix across a 100 ms round trip (lab.sh wan 50), against
#      nmap -sS in the same run: <= 0.5 x nmap (--quick 0.6), <= 8 round trips,
#      each port decided <= 3 round trips (--quick 3.5) after its first SYN, every verdict right;
#   7. random loss: 30 % both ways on one open port, 50 runs across the WAN,
#      OPEN every time with a loss note.
#   8. a UDP sweep (issue 17): 200 UDP ports (--quick: 20), silent bound
#      sockets, host drops, provider drops and nothing bound, against
#      `nmap -sU -T4 -Pn -n` in the same run (on the lab's plain path, before
#      section 6's WAN): <= 0.2 x nmap (--quick: 0.3), every verdict right (nmap says
#      open|filtered for all but the closed ones, and slows to the kernel's ICMP
#      rate limit for those).
#
# usage: scripts/bench.sh [--quick] [--build-dir DIR] [--runs N] [--keep-json DIR]
#   --quick       fewer repetitions, a shorter wrk (what CI runs; a few minutes)
#   --build-dir   binaries from DIR/bin (default: --quick uses $BUILD_DIR or build/
#                 and builds there if needed; otherwise a Release build in build-bench/)
#   --runs N      repetitions of the matrix and the sweep (default 7 and 5, quick 3)
#   --keep-json   keep every prober report and nmap output in DIR
# Needs root (network namespaces). Installs nmap and wrk with apt if missing.
# Inside the lab's namespaces only, ICMP rate limits are switched off
# (net.ipv4.icmp_ratelimit=0, net.ipv6.icmp.ratelimit=0, net.ipv4.icmp_msgs_per_sec and
# icmp_msgs_burst 100000 where the kernel has them per namespace):
# the sweep makes the routers and the server send hundreds of ICMP errors, which
# Linux otherwise limits to about one per second per destination after a burst of
# six, and nmap profits from it exactly as the prober does.
# Exit code: 0 when every target holds, 1 when one is missed, 2 for bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=0
BIN_DIR=""
RUNS=""
KEEP_JSON=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --build-dir) BIN_DIR=${2:?--build-dir DIR}; shift ;;
    --runs) RUNS=${2:?--runs N}; shift ;;
    --keep-json) KEEP_JSON=${2:?--keep-json DIR}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -z $RUNS || $RUNS =~ ^[1-9][0-9]?$ ]] || { echo "bench: --runs: 1..99" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root (network namespaces)" >&2
  exit 2
fi
if [ $QUICK = 1 ]; then
  MATRIX_RUNS=${RUNS:-3} SWEEP_RUNS=${RUNS:-3} WRK_PAIRS=8 WRK_SECONDS=2 SESSIONS=50 WAN_RUNS=${RUNS:-3}
else
  MATRIX_RUNS=${RUNS:-7} SWEEP_RUNS=${RUNS:-5} WRK_PAIRS=10 WRK_SECONDS=5 SESSIONS=50 WAN_RUNS=${RUNS:-5}
fi

log() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- packages and build

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
install_packages "${DROPSPOT_PACKAGES[@]}" nmap wrk || exit 1

if [ -z "$BIN_DIR" ]; then
  if [ $QUICK = 1 ]; then
    BUILD=${BUILD_DIR:-build}
    if [ ! -x "$BUILD/bin/agent" ] || [ ! -x "$BUILD/bin/prober" ]; then
      cmake -S . -B "$BUILD" -G Ninja >/dev/null && ninja -C "$BUILD" agent prober >&2
    fi
  else
    BUILD=${BENCH_BUILD_DIR:-build-bench}
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    nice ninja -C "$BUILD" agent prober >&2
  fi
  BIN_DIR=$BUILD/bin
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
AGENT=$BIN_DIR/agent
PROBER=$BIN_DIR/prober
[ -x "$AGENT" ] && [ -x "$PROBER" ] || { log "no agent/prober in $BIN_DIR"; exit 1; }
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null || true)

# ---------------------------------------------------------------- lab

LAB_SH=$ROOT/scripts/lab.sh
TMPD=$(mktemp -d /tmp/dropspot-bench.XXXXXX)
cleanup() {
  local rc=$?
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
  if [ -n "${DROPSPOT_LAB:-}" ]; then "$LAB_SH" down >/dev/null 2>&1 || true; fi
  if [ -n "$KEEP_JSON" ]; then mkdir -p "$KEEP_JSON" && cp -r "$TMPD"/. "$KEEP_JSON"/ 2>/dev/null; fi
  rm -rf "$TMPD"
  return $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
lab() { "$LAB_SH" "$@"; }
on() { local node=$1; shift; "$LAB_SH" exec "$node" "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

unset DROPSPOT_LAB
eval "$(lab up 2>/dev/null)"
SERVER=$(lab addr server 4)
for node in isp provider server; do
  on "$node" sh -c 'echo 0 >/proc/sys/net/ipv4/icmp_ratelimit; echo 0 >/proc/sys/net/ipv6/icmp/ratelimit'
  # Per namespace on recent kernels; a child namespace does not see the host-wide
  # sysctls of older kernels at all, so the host's own are never touched.
  for key in icmp_msgs_per_sec icmp_msgs_burst; do
    on "$node" sh -c "[ ! -e /proc/sys/net/ipv4/$key ] || echo 100000 >/proc/sys/net/ipv4/$key"
  done
done
# The lab's ports (faults are nftables rules on port ranges; see lab.sh fault help).
#   80 nginx (OPEN, http probe)   201-204 listeners (OPEN)   9000 silent listener
#   205 listener behind a host reset rule, 401-500 host ICMP port-unreachable,
#   501-600 host ICMP admin-prohibited: REJECTED_BY_HOST_FIREWALL (a reset
#   with nothing listening is NO_LISTENER by design: the same packet)
#   301-400 router-reject: REJECTED_IN_TRANSIT
#   1001-2000 provider-drop, 3001-3003 isp-block: DROPPED_IN_TRANSIT
#   2001-3000 host-drop: DROPPED_BY_HOST_FIREWALL
#   everything else in 1-3000: NO_LISTENER
quiet lab fault provider-drop 1001-2000
quiet lab fault isp-block 3001-3003
quiet lab fault host-drop 2001-3000
quiet lab fault router-reject 301-400
quiet lab fault host-reject-rst 205
quiet lab fault host-reject-icmp 401-500 port-unreachable
quiet lab fault host-reject-icmp 501-600
for p in 201 202 203 204 205; do quiet lab serve server 0.0.0.0 $p --echo; done
quiet lab serve server 0.0.0.0 9000 --silent
OPEN_PORTS=(80 201 202 203 204 205)
# The listeners speak no protocol: connect-level probes, as nmap -sS.
PROBES_MATRIX=(--probe 201=tcp --probe 202=tcp --probe 205=tcp)
PROBES_SWEEP=(--probe 201=tcp --probe 202=tcp --probe 203=tcp --probe 204=tcp --probe 205=tcp)
expected_verdict() { # the jq expression for port .port's expected verdict
  cat <<'JQ'
def expected: if .port == 80 or (.port >= 201 and .port <= 204) then "OPEN"
  elif .port == 205 then "REJECTED_BY_HOST_FIREWALL"
  elif .port >= 301 and .port <= 400 then "REJECTED_IN_TRANSIT"
  elif .port >= 401 and .port <= 600 then "REJECTED_BY_HOST_FIREWALL"
  elif (.port >= 1001 and .port <= 2000) or (.port >= 3001 and .port <= 3003) then "DROPPED_IN_TRANSIT"
  elif .port >= 2001 and .port <= 3000 then "DROPPED_BY_HOST_FIREWALL"
  else "NO_LISTENER" end;
JQ
}

NG=$TMPD/nginx
mkdir -p "$NG"
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NG/body; proxy_temp_path $NG/proxy; fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi; scgi_temp_path $NG/scgi;
  keepalive_requests 1000000;
  server { listen 80; location / { return 200 "dropspot bench\n"; } }
}
EOF
on server nginx -p "$NG" -c "$NG/nginx.conf" >"$NG/stdout.log" 2>&1 &
NGINX_PID=$!
lab wait-listen server 80 5 >/dev/null || { cat "$NG/error.log" >&2; exit 1; }

TOKEN_FILE=$TMPD/token
"$AGENT" token >"$TOKEN_FILE"
chmod 600 "$TOKEN_FILE"
AGENT_ARGS=(--token-file "$TOKEN_FILE" --max-sessions 64)
"$AGENT" --help 2>/dev/null | grep -q -- --max-per-source && AGENT_ARGS+=(--max-per-source 64)
AGENT_PID=""
start_agent() {
  stop_agent
  on server "$AGENT" "${AGENT_ARGS[@]}" >>"$TMPD/agent.log" 2>&1 &
  lab wait-listen server 7411 5 >/dev/null || { cat "$TMPD/agent.log" >&2; exit 1; }
  local pid
  for pid in $(ip netns pids "$(lab ns server)"); do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = agent ] && AGENT_PID=$pid
  done
  [ -n "$AGENT_PID" ] || { log "agent pid not found"; exit 1; }
}
stop_agent() {
  [ -n "$AGENT_PID" ] || return 0
  kill "$AGENT_PID" 2>/dev/null || true
  while kill -0 "$AGENT_PID" 2>/dev/null; do sleep 0.05; done
  AGENT_PID=""
}
vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# measure OUT NODE CMD...: runs CMD in NODE with stdout to OUT; prints
# "WALL_MS MAXRSS_KIB RC" (the peak RSS of the command, from wait4).
cat >"$TMPD/measure.py" <<'EOF'
import resource, subprocess, sys, time
out = sys.argv[1]
with open(out, "wb") as f, open(out + ".err", "wb") as e:
    t0 = time.monotonic()
    rc = subprocess.call(sys.argv[2:], stdout=f, stderr=e)
    wall = (time.monotonic() - t0) * 1000
print("%.1f %d %d" % (wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc))
EOF
measure() { local out=$1 node=$2; shift 2; python3 "$TMPD/measure.py" "$out" ip netns exec "$(lab ns "$node")" "$@"; }

# median: the median of the numbers on stdin, one per line
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# ratio A B: A / B with 3 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.3f\n", a / b; else print "nan"}'; }
# holds VALUE OP LIMIT
holds() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {exit !((op == "<=" && v <= l) || (op == ">=" && v >= l))}'; }

ROWS=()
MISSED=()
# row NAME VALUE OP LIMIT DETAIL: one line of the result table.
row() {
  local status=ok
  if ! holds "$2" "$3" "$4"; then status=MISSED; MISSED+=("$1"); fi
  ROWS+=("$(printf '%-34s %10s %2s %-8s %-6s %s' "$1" "$2" "$3" "$4" "$status" "$5")")
}
info() { ROWS+=("$(printf '%-34s %10s %2s %-8s %-6s %s' "$1" "$2" "" "" "" "$3")"); }

prober_args() { echo --target "$SERVER" --token-file "$TOKEN_FILE" --format json; }

start_agent

# ---------------------------------------------------------------- 1. runbook matrix

MATRIX=80,201,202,205,301,302,401,402,501,502,602,603,604,1001,1002,1003,2001,2002,2003,3001,3002,3003
log "1. runbook matrix ($MATRIX_RUNS runs): prober vs nmap -sS -Pn -n on ${MATRIX//,/ }"
# run_matrix NAME RUNS: the matrix RUNS times, prober and nmap interleaved;
# TMPD/NAME.prober and NAME.nmap get the wall times, NAME_bad the worst
# run's wrong verdicts, TMPD/NAME.I.json each report.
run_matrix() {
  local name=$1 runs=$2 i wall rc bad nwall worst=0
  : >"$TMPD/$name.prober" ; : >"$TMPD/$name.nmap"
  for i in $(seq "$runs"); do
    read -r wall _ rc < <(measure "$TMPD/$name.$i.json" client "$PROBER" $(prober_args) --ports "$MATRIX" "${PROBES_MATRIX[@]}")
    echo "$wall" >>"$TMPD/$name.prober"
    bad=$(jq "$(expected_verdict) [.ports[] | select(.verdict != expected)] | length" "$TMPD/$name.$i.json" 2>/dev/null || echo 99)
    [ "$(jq -r .agent.status "$TMPD/$name.$i.json" 2>/dev/null)" = CONNECTED ] || bad=99
    (( bad > worst )) && worst=$bad
    read -r nwall _ _ < <(measure "$TMPD/$name.$i.nmap" client nmap -sS -Pn -n -p "$MATRIX" "$SERVER")
    echo "$nwall" >>"$TMPD/$name.nmap"
    log "   run $i: prober ${wall} ms (exit $rc, wrong verdicts $bad), nmap ${nwall} ms"
  done
  printf -v "${name}_bad" '%s' "$worst"
}
run_matrix matrix "$MATRIX_RUNS"
m_prober=$(median <"$TMPD/matrix.prober")
m_nmap=$(median <"$TMPD/matrix.nmap")
# Issue 21: <= 0.2 (--quick on a shared CI machine: 0.3, as with the server cost below).
row "1 matrix: prober / nmap -sS" "$(ratio "$m_prober" "$m_nmap")" "<=" "$([ $QUICK = 1 ] && echo 0.3 || echo 0.2)" \
  "prober ${m_prober} ms, nmap ${m_nmap} ms (medians of $MATRIX_RUNS)"
row "1 matrix: wrong verdicts (worst run)" "$matrix_bad" "<=" 0 "22 ports, 7 verdicts"

# ---------------------------------------------------------------- 2. sweep

log "2. sweep 1-3000 ($SWEEP_RUNS runs): prober vs nmap -sS -T4 -Pn -n"
: >"$TMPD/sweep.prober" ; : >"$TMPD/sweep.nmap" ; : >"$TMPD/sweep.rss"
sweep_bad=0
for i in $(seq "$SWEEP_RUNS"); do
  read -r wall rss rc < <(measure "$TMPD/sweep.$i.json" client "$PROBER" $(prober_args) --ports 1-3000 "${PROBES_SWEEP[@]}")
  echo "$wall" >>"$TMPD/sweep.prober"
  echo "$rss" >>"$TMPD/sweep.rss"
  bad=$(jq "$(expected_verdict) [.ports[] | select(.verdict != expected)] | length" "$TMPD/sweep.$i.json" 2>/dev/null || echo 3000)
  [ "$(jq '.ports | length' "$TMPD/sweep.$i.json" 2>/dev/null)" = 3000 ] || bad=3000
  (( bad > sweep_bad )) && sweep_bad=$bad
  if (( bad > 0 )); then
    jq -r "$(expected_verdict) [.ports[] | select(.verdict != expected) | \"\(.port) \(.verdict) (expected \(expected))\"] | .[:10][]" \
      "$TMPD/sweep.$i.json" 2>/dev/null | sed 's/^/bench:     wrong: /' >&2 || true
  fi
  read -r nwall _ _ < <(measure "$TMPD/sweep.$i.nmap" client nmap -sS -T4 -Pn -n -p 1-3000 "$SERVER")
  echo "$nwall" >>"$TMPD/sweep.nmap"
  log "   run $i: prober ${wall} ms (exit $rc, ${rss} KiB, wrong verdicts $bad), nmap ${nwall} ms"
done
s_prober=$(median <"$TMPD/sweep.prober")
s_nmap=$(median <"$TMPD/sweep.nmap")
s_rss=$(sort -g "$TMPD/sweep.rss" | tail -n 1)
# Issue 21's 0.1 in the full run (0.085 there: docs/benchmarks.md); the
# quick run in CI, a median of three with one cold run on either of a
# machine's CPUs (one may be much slower than the other), gates on 0.15.
row "2 sweep: prober / nmap -sS -T4" "$(ratio "$s_prober" "$s_nmap")" "<=" "$([ $QUICK = 1 ] && echo 0.15 || echo 0.1)" \
  "prober ${s_prober} ms, nmap ${s_nmap} ms (medians of $SWEEP_RUNS)"
row "2 sweep: wrong verdicts (worst run)" "$sweep_bad" "<=" 0 "3000 ports"
row "4 memory: prober sweep peak RSS MiB" "$(awk -v k="$s_rss" 'BEGIN {printf "%.1f", k / 1024}')" "<=" 32 "VmHWM (wait4 ru_maxrss), worst run"

# ---------------------------------------------------------------- 4. agent memory

log "4. agent memory: one session, then $SESSIONS at once"
start_agent
read -r _ _ _ < <(measure "$TMPD/one.json" client "$PROBER" $(prober_args) --ports "$MATRIX" "${PROBES_MATRIX[@]}")
one_kib=$(vm_hwm_kib "$AGENT_PID")
row "4 memory: agent, 1 session, MiB" "$(awk -v k="$one_kib" 'BEGIN {printf "%.1f", k / 1024}')" "<=" 16 "VmHWM after the matrix run"
start_agent
base_kib=$(vm_hwm_kib "$AGENT_PID")
# Each session stays open for a few seconds: port 9000 accepts and never
# answers, and its banner probe waits for it. (Not the http probe: its stall
# watch would run a path-MTU search against the silent port, connections
# this measurement is not about.)
pids=()
for i in $(seq "$SESSIONS"); do
  node=client; (( i % 2 )) && node=client2
  # timeout: a prober has been seen to hang here (waiting with no timer and no socket)
  on "$node" timeout 60 "$PROBER" $(prober_args) --ports "$MATRIX,9000" "${PROBES_MATRIX[@]}" --probe 9000=banner --timeout 8s \
    >"$TMPD/many.$i.json" 2>"$TMPD/many.$i.err" &
  pids+=($!)
done
peak_sessions=0
for _ in $(seq 60); do
  n=$(on server ss -Htn state established "( sport = :7411 )" | wc -l)
  (( n > peak_sessions )) && peak_sessions=$n
  sleep 0.1
done
for p in "${pids[@]}"; do wait "$p" || true; done
many_kib=$(vm_hwm_kib "$AGENT_PID")
connected=$(cat "$TMPD"/many.*.json | jq -s '[.[] | select(.agent.status == "CONNECTED")] | length' 2>/dev/null || echo 0)
row "4 memory: agent, $SESSIONS sessions, MiB" "$(awk -v k="$many_kib" 'BEGIN {printf "%.1f", k / 1024}')" "<=" 64 \
  "VmHWM; $connected of $SESSIONS CONNECTED, up to $peak_sessions at once; idle agent $(awk -v k="$base_kib" 'BEGIN {printf "%.1f", k / 1024}') MiB"
row "4 memory: sessions open at once" "$peak_sessions" ">=" "$SESSIONS" "control connections to the agent (ss)"

# ---------------------------------------------------------------- 3. server cost

log "3. server cost: wrk from client to nginx :80, $WRK_PAIRS interleaved pairs of ${WRK_SECONDS}s"
start_agent
sleep 1
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx_switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
t0=$(cpu_ticks "$AGENT_PID"); c0=$(ctx_switches "$AGENT_PID")
sleep 5
t1=$(cpu_ticks "$AGENT_PID"); c1=$(ctx_switches "$AGENT_PID")
row "3 idle agent: CPU ticks in 5 s" "$((t1 - t0))" "<=" 1 "utime+stime, $(getconf CLK_TCK) ticks/s"
row "3 idle agent: wakeups in 5 s" "$((c1 - c0))" "<=" 5 "context switches of all its threads"

wrk_rps() { # wrk_rps: requests/s of one wrk run from client
  on client wrk -t1 -c16 -d"${WRK_SECONDS}s" "http://$SERVER/" 2>/dev/null | awk '/^Requests\/sec:/ {print $2}'
}
session_for() { # session_for SECONDS: a prober from client2 whose session watches port 80
  # 9000=banner: a silent port held open without the http probe's stall watch (see 4).
  on client2 "$PROBER" $(prober_args) --ports 80,9000 --probe 9000=banner --timeout "$1s" >"$TMPD/watch.json" 2>&1 &
  WATCH_PID=$!
  for _ in $(seq 50); do
    [ "$(on server ss -Htn state established "( sport = :7411 )" | wc -l)" -ge 1 ] && break
    sleep 0.05
  done
  # The prober's own probes and the agent's one-off host inspection (nft,
  # iptables, listeners) are over by then: from now the session only watches.
  sleep 1.5
}
# Pairs in alternating order (without first, then with first), so that a slow
# drift of the machine favours neither; the statistic is the median of the
# pairs' ratios. wrk alone varies by about 7 % from run to run on a two-CPU VM
# (48-62k req/s in ten 2 s runs of an idle machine, nginx and wrk pinned to a
# CPU each), more than the 3 % the target allows: the full run (10 pairs of
# 5 s) holds 0.97; the quick run (CI, 8 pairs of 2 s) holds 0.85, which still
# catches an agent that handles wrk's packets instead of leaving them to the
# kernel's BPF filter. What the session costs its own process is measured
# exactly: the agent's CPU ticks and context switches during the runs with a
# session.
: >"$TMPD/wrk.without" ; : >"$TMPD/wrk.with" ; : >"$TMPD/wrk.ratio"
wrk_rps >/dev/null # warm-up
agent_ticks=0 agent_switches=0
wrk_with() {
  session_for $((WRK_SECONDS + 5))
  local t0 c0
  t0=$(cpu_ticks "$AGENT_PID"); c0=$(ctx_switches "$AGENT_PID")
  with=$(wrk_rps)
  agent_ticks=$((agent_ticks + $(cpu_ticks "$AGENT_PID") - t0))
  agent_switches=$((agent_switches + $(ctx_switches "$AGENT_PID") - c0))
  kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null || true
}
for i in $(seq "$WRK_PAIRS"); do
  if (( i % 2 )); then without=$(wrk_rps); wrk_with; else wrk_with; without=$(wrk_rps); fi
  echo "${without:-0}" >>"$TMPD/wrk.without"
  echo "${with:-0}" >>"$TMPD/wrk.with"
  ratio "${with:-0}" "${without:-0}" >>"$TMPD/wrk.ratio"
  log "   pair $i: without ${without:-?} req/s, with a session ${with:-?} req/s"
done
w_without=$(median <"$TMPD/wrk.without")
w_with=$(median <"$TMPD/wrk.with")
w_ratio=$(median <"$TMPD/wrk.ratio")
w_spread=$( { awk -v m="$w_without" '{d = $1 / m - 1; print (d < 0 ? -d : d)}' "$TMPD/wrk.without"
              awk -v m="$w_with" '{d = $1 / m - 1; print (d < 0 ? -d : d)}' "$TMPD/wrk.with"; } | median)
row "3 server: wrk with / without session" "$(printf '%.3f' "$w_ratio")" ">=" "$([ $QUICK = 1 ] && echo 0.85 || echo 0.97)" \
  "median of $WRK_PAIRS pair ratios; ${w_with} vs ${w_without} req/s (medians); run-to-run spread $(awk -v s="$w_spread" 'BEGIN {printf "%.1f", s * 100}') %"
row "3 agent during wrk: CPU ticks" "$agent_ticks" "<=" "$WRK_PAIRS" "utime+stime over the $WRK_PAIRS runs with a session ($((WRK_PAIRS * WRK_SECONDS)) s)"
# About three per run whatever its length (20-32 measured: the session's own
# traffic); an agent woken by wrk's packets would count thousands.
row "3 agent during wrk: wakeups" "$agent_switches" "<=" "$((WRK_PAIRS * (4 + WRK_SECONDS)))" \
  "context switches of all its threads over those runs (<= 4 per run + 1/s)"

# ---------------------------------------------------------------- 5. latency floor

log "5. latency floor"
ping_ms=$(on client ping -n -q -c 20 -i 0.01 "$SERVER" | awk -F/ '/^rtt|^round-trip/ {print $5}')
last=$TMPD/matrix.$MATRIX_RUNS.json
ctl_ms=$(jq -r '.agent.rttMs // 0' "$last")
info "5 floor: path RTT (ping) ms" "$ping_ms" "median of 20 pings client -> server"
info "5 floor: control channel RTT ms" "$(printf '%.3f' "$ctl_ms")" "the agent's session RTT (report .agent.rttMs)"
# Per verdict: time from a port's first SYN to its decision (the last attempt's
# end, cut short when the agent's evidence was complete), median over the ports.
while read -r verdict n lat; do
  info "5 decide: $verdict" "$lat" "ms first SYN -> decision, median of $n ports (sweep run $SWEEP_RUNS)"
done < <(jq -r '.ports | group_by(.verdict)[] | [.[0].verdict, length,
    ([.[] | .evidence.attempts | (((.[-1].startUnixUs | tonumber) - (.[0].startUnixUs | tonumber)) / 1000 + .[-1].elapsedMs)] | sort | .[length / 2 | floor])] |
    "\(.[0]) \(.[1]) \(.[2] * 10 | round / 10)"' "$TMPD/sweep.$SWEEP_RUNS.json")
info "5 sweep: elapsed_ms" "$(jq -r '.elapsedMs | round' "$TMPD/sweep.$SWEEP_RUNS.json")" "the whole sweep inside the prober"

# ---------------------------------------------------------------- 8. UDP sweep

# 6001-6010 sockets bound to 0.0.0.0 that answer nothing (OPEN: delivered),
# 6011-6050 a host drop rule, 6051-6100 dropped at the provider, 6101-6200
# nothing bound (the kernel's port-unreachable, rate-limited per peer: the
# namespaces' icmp_ratelimit stays at its default). --quick: 20 of them.
UDP_LIST=6001-6200
[ "$QUICK" = 1 ] && UDP_LIST=6001-6002,6011-6014,6051-6054,6101-6110
log "8. UDP sweep: prober vs nmap -sU -T4 -Pn -n on $UDP_LIST"
on server nft add table inet bench_udp
on server nft add chain inet bench_udp input '{ type filter hook input priority -5; }'
on server nft add rule inet bench_udp input udp dport 6011-6050 drop
on provider nft add table inet bench_udp
on provider nft add chain inet bench_udp forward '{ type filter hook forward priority -5; }'
on provider nft add rule inet bench_udp forward oifname '"to-server"' udp dport 6051-6100 drop
on server python3 -c '
import socket, time
held = []
for port in range(6001, 6011):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    held.append(s)
time.sleep(3600)' &
UDP_HOLDER=$!
for _ in $(seq 100); do [ "$(on server ss -Hul 'sport >= :6001 and sport <= :6010' | wc -l)" = 10 ] && break; sleep 0.1; done
udp_expected() {
  cat <<'JQ'
def expected: if .port <= 6010 then "OPEN" elif .port <= 6050 then "DROPPED_BY_HOST_FIREWALL"
  elif .port <= 6100 then "DROPPED_IN_TRANSIT" else "NO_LISTENER" end;
JQ
}
udp_ports=$(echo "$UDP_LIST" | sed 's|,|/udp,|g; s|$|/udp|')
read -r u_wall _ _ < <(measure "$TMPD/udp.json" client "$PROBER" $(prober_args) --ports "$udp_ports")
udp_bad=$(jq "$(udp_expected) [.ports[] | select(.protocol != \"UDP\" or .verdict != expected)] | length" "$TMPD/udp.json" 2>/dev/null || echo 200)
udp_count=$(jq '.ports | length' "$TMPD/udp.json" 2>/dev/null || echo 0)
read -r u_nmap _ _ < <(measure "$TMPD/udp.nmap" client nmap -sU -T4 -Pn -n -p "$UDP_LIST" "$SERVER")
u_openfiltered=$(grep -Eo '[0-9]+ open\|filtered' "$TMPD/udp.nmap" | grep -Eo '^[0-9]+' || true)
[ -n "$u_openfiltered" ] || u_openfiltered=$(grep -c 'open|filtered' "$TMPD/udp.nmap" || true)
kill "$UDP_HOLDER" 2>/dev/null || true
for pid in $(ip netns pids "$(lab ns server)"); do  # the python holding the sockets, not the lab.sh before it
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = python3 ] && kill "$pid" 2>/dev/null
done
log "   prober ${u_wall} ms ($udp_count ports, wrong verdicts $udp_bad), nmap ${u_nmap} ms (${u_openfiltered:-0} open|filtered)"
# --quick: 20 ports, where the prober's fixed cost (the TLS session, about
# 0.25 s on a loaded CI machine) is most of its time and nmap meets few
# rate-limited closed ports: 0.3, as for the matrix; the full run's 200 hold 0.2.
row "8 udp sweep: prober / nmap -sU -T4" "$(ratio "$u_wall" "$u_nmap")" "<=" "$([ $QUICK = 1 ] && echo 0.3 || echo 0.2)" \
  "prober ${u_wall} ms, nmap ${u_nmap} ms ($udp_count ports; nmap: ${u_openfiltered:-0} open|filtered)"
row "8 udp sweep: wrong verdicts" "$((udp_bad + (udp_count == 0 ? 1 : 0)))" "<=" 0 \
  "silent sockets OPEN, host and provider drops, nothing bound (rate-limited port-unreachable)"

# ---------------------------------------------------------------- 6. a WAN

# The same matrix across a 100 ms round trip (lab.sh wan: the client's link
# delays each packet 50 ms each way), the peer in the same run. Issue 21:
# <= 0.5 x nmap -sS (--quick: 0.6, a shared machine's noise), <= 8 round
# trips in all, and every port decided within 3 round trips of its first
# SYN (from the attempts: the SYN phase; application probes come after).
log "6. the matrix across a 100 ms round trip ($WAN_RUNS runs)"
quiet lab wan 50
wan_ping=$(on client ping -n -q -c 5 -i 0.2 "$SERVER" | awk -F/ '/^rtt|^round-trip/ {print $5}')
run_matrix wan "$WAN_RUNS"
w_prober=$(median <"$TMPD/wan.prober")
w_nmap=$(median <"$TMPD/wan.nmap")
info "6 wan: path RTT (ping) ms" "$wan_ping" "the client's link: 50 ms each way (lab.sh wan 50)"
row "6 wan: matrix prober / nmap -sS" "$(ratio "$w_prober" "$w_nmap")" "<=" "$([ $QUICK = 1 ] && echo 0.6 || echo 0.5)" \
  "prober ${w_prober} ms, nmap ${w_nmap} ms (medians of $WAN_RUNS)"
row "6 wan: matrix round trips" "$(awk -v w="$w_prober" -v r="$wan_ping" 'BEGIN {printf "%.1f", w / r}')" "<=" 8 \
  "prober wall time / path RTT; nmap: $(awk -v w="$w_nmap" -v r="$wan_ping" 'BEGIN {printf "%.1f", w / r}')"
# The slowest port of all runs, named: a miss says which verdict, how many
# attempts and which run. --quick allows 3.5 round trips: the WAN is a Python
# process (wan_delay.py) that a busy machine may hold back for a while; CI
# saw 3.1 once where this machine measures 2.2-2.3 in 25 runs.
read -r w_decide w_slowest < <(for f in "$TMPD"/wan.*.json; do
    jq -r --arg run "${f##*/}" --argjson rtt "$wan_ping" '.ports[] | [
      ((((.evidence.attempts[-1].startUnixUs | tonumber) - (.evidence.attempts[0].startUnixUs | tonumber)) / 1000
        + .evidence.attempts[-1].elapsedMs) / $rtt * 10 | round / 10),
      "port \(.port) \(.verdict), \(.evidence.attempts | length) attempts, \($run)"] | join(" ")' "$f" 2>/dev/null
  done | sort -g | tail -n 1 || true)
row "6 wan: first SYN -> decision, RTTs" "${w_decide:-99}" "<=" "$([ $QUICK = 1 ] && echo 3.5 || echo 3)" \
  "the slowest port of all runs (two SYNs lost in transit: two barriers): ${w_slowest:-none}"
row "6 wan: wrong verdicts (worst run)" "$wan_bad" "<=" 0 "22 ports, 7 verdicts, across 100 ms"

# ---------------------------------------------------------------- 7. random loss

# Issue 21: a verdict that names a place on the path rests on repeated
# evidence. 30 % of the packets to and from one open port lost at random
# (lab.sh loss + reply-loss), 50 runs across the WAN of section 6: OPEN every
# time, with a loss note whenever an attempt failed (never DROPPED_IN_TRANSIT
# or REPLY_LOST).
LOSS_RUNS=50
log "7. 30 % random loss both ways on one open port ($LOSS_RUNS runs)"
quiet lab serve server 0.0.0.0 8070 --echo
quiet lab fault loss 8070 30
quiet lab fault reply-loss 8070 30
loss_wrong=0 loss_failed=0 loss_noted=0
for i in $(seq "$LOSS_RUNS"); do
  out="$TMPD/loss.$i.json"
  on client "$PROBER" $(prober_args) --ports 8070 --probe 8070=tcp >"$out" 2>/dev/null || true
  if [ "$(jq -r '.ports[0].verdict' "$out" 2>/dev/null)" != OPEN ]; then
    loss_wrong=$((loss_wrong + 1))
    log "   run $i: $(jq -r '.ports[0] | "\(.verdict): \(.summary)"' "$out" 2>/dev/null)"
  elif jq -e '[.ports[0].evidence.attempts[] | select(.outcome != "CONNECTED")] | length > 0' "$out" >/dev/null 2>&1; then
    loss_failed=$((loss_failed + 1))
    jq -e '.ports[0].evidence.notes | map(select(test("loss"))) | length > 0' "$out" >/dev/null 2>&1 &&
      loss_noted=$((loss_noted + 1))
  fi
done
row "7 loss 30%: runs not OPEN" "$loss_wrong" "<=" 0 "of $LOSS_RUNS; $loss_failed runs lost an attempt, $loss_noted of them with a loss note"
row "7 loss 30%: lossy runs without a note" "$((loss_failed - loss_noted))" "<=" 0 "every run that lost an attempt says so"

# ---------------------------------------------------------------- results

echo
echo "dropspot benchmarks ($([ $QUICK = 1 ] && echo quick || echo full)), $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binaries: $BIN_DIR (${BUILD_TYPE:-default build type}); nmap $(nmap --version | awk 'NR == 1 {print $3}'); $(wrk --version 2>&1 | awk 'NR == 1 {print $1, $2}')"
printf '%-34s %10s %2s %-8s %-6s %s\n' target value "" limit status detail
for r in "${ROWS[@]}"; do echo "$r"; done
if [ ${#MISSED[@]} -gt 0 ]; then
  echo "bench: missed: ${MISSED[*]}" >&2
  exit 1
fi
echo "bench: every target holds" >&2
