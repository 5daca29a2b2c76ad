#!/usr/bin/env bash
# The lab demo: builds dropspot, brings up the namespace lab
#   client — isp router — provider router — server
# with one real fault per runbook case, runs the real agent on the server and
# the real prober on the client, prints the reports, and tears it all down.
# Needs root (network namespaces). Usage: scripts/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
source scripts/deps.sh
install_packages "${DROPSPOT_PACKAGES[@]}"
scripts/build.sh >/dev/null
BIN=$PWD/build/bin
LAB=$PWD/scripts/lab.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root for network namespaces" >&2
  exit 2
fi

TMPD=$(mktemp -d /tmp/dropspot-demo.XXXXXX)
cleanup() {
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$TMPD"
}
trap cleanup EXIT
unset DROPSPOT_LAB
eval "$("$LAB" up 2>/dev/null)"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
quiet() { "$@" >/dev/null 2>&1; }

SERVER=$("$LAB" addr server 4)
SERVER6=$("$LAB" addr server 6)

# Services on the server, and one fault per port (see scripts/lab.sh fault help).
quiet "$LAB" serve server :: 22 --echo            # a plain TCP service on 22 (probed as tcp below)
quiet "$LAB" serve server :: 80 --http            # a web server that is fine
quiet "$LAB" serve server :: 587 --echo           # mail submission, fine
quiet "$LAB" serve server :: 25 --echo            # port 25 works on the server...
quiet "$LAB" fault isp-block 25                   # ...but the client's ISP blocks it (OP25B)
quiet "$LAB" serve server :: 443 --http
quiet "$LAB" fault host-drop 443                  # host firewall drops 443
quiet "$LAB" serve server :: 8443 --http
quiet "$LAB" fault host-reject-rst 8443           # host firewall rejects with a reset
quiet "$LAB" serve server :: 8444 --http
quiet "$LAB" fault host-reject-icmp 8444          # host firewall rejects with ICMP
                                                  # 8080: nothing listens
quiet "$LAB" serve server 127.0.0.1 8081 --http   # listens on loopback only
quiet "$LAB" serve server :: 8082 --http
quiet "$LAB" fault return-drop 8082               # SYN-ACK lost on the way back
quiet "$LAB" fault provider-drop 8083             # the provider's packet filter drops 8083
quiet "$LAB" fault router-reject 8084             # a router rejects 8084 with ICMP
quiet "$LAB" fault intercept 8085                 # the ISP's box answers 8085 itself
PORTS=22,25,80,443,587,8080,8081,8082,8083,8084,8085,8443,8444

"$BIN/agent" token >"$TMPD/token"
chmod 600 "$TMPD/token"
"$LAB" exec server "$BIN/agent" --token-file "$TMPD/token" >"$TMPD/agent.log" 2>&1 &
quiet "$LAB" wait-listen server 7411 5

say "prober --target $SERVER --ports $PORTS   (with the agent)"
TCP_PROBES=(--probe 22=tcp --probe 25=tcp --probe 587=tcp --probe 8080=tcp)
"$LAB" exec client "$BIN/prober" --target "$SERVER" --ports "$PORTS" --token-file "$TMPD/token" --timeout 1s \
  "${TCP_PROBES[@]}" || true

say "prober --target $SERVER6 --ports 22,80,443,8080,8081   (IPv6)"
"$LAB" exec client "$BIN/prober" --target "$SERVER6" --ports 22,80,443,8080,8081 --token-file "$TMPD/token" \
  --timeout 1s --probe 22=tcp --probe 8080=tcp || true

say "prober --target $SERVER --ports $PORTS --no-agent   (client side only, like Test-NetConnection)"
"$LAB" exec client "$BIN/prober" --target "$SERVER" --ports "$PORTS" --no-agent --timeout 1s "${TCP_PROBES[@]}" || true

say "agent log"
cat "$TMPD/agent.log"
if [ "${1:-}" = --keep ]; then
  echo "lab kept: export DROPSPOT_LAB=$DROPSPOT_LAB (scripts/lab.sh down to remove)"
  trap - EXIT
fi
