# The real-host lab's helpers for a test that sourced tests/e2e/lib.sh and
# ran e2e_setup: a Debian booted with its own systemd in the lab's server
# namespace (scripts/realhost.sh), the package installed, the prober run from
# the client namespace, and assertions on its JSON reports in TMPD.
RH="$E2E_ROOT/scripts/realhost.sh"
SERVER=$(lab addr server 4)
SERVER6=$(lab addr server 6)
HOST_PID=""
server_addr() { if [ "$1" = 4 ]; then echo "$SERVER"; else echo "$SERVER6"; fi; }

stop_host() {
  if [ -n "$HOST_PID" ]; then "$RH" stop "$HOST_PID" || true; fi
  HOST_PID=""
}
trap 'stop_host; e2e_cleanup' EXIT
host() { "$RH" exec "$HOST_PID" "$@"; }

# boot_host: a fresh host (the image as cached: REALHOST_IMAGE and
# REALHOST_SUITE choose it, scripts/realhost.sh), the .deb in HOST_DEB_DIR
# installed with HOST_INSTALL (run in that folder, mounted at /mnt/dropspot),
# a token made, the packaged unit enabled and started; or all of it done by
# the shell lines HOST_SETUP (in that folder). TOKEN_FILE holds its token.
HOST_INSTALL=${HOST_INSTALL:-"dpkg -i ./dropspot_*.deb"}
boot_host() {
  stop_host
  # The host's netfilter lives in the lab's server namespace, not in the
  # container: a new boot starts without the last one's rules.
  on server nft flush ruleset
  on server sh -c 'for t in $(cat /proc/net/ip_tables_names); do iptables-legacy -t "$t" -F; iptables-legacy -t "$t" -X; done
    for t in $(cat /proc/net/ip6_tables_names); do ip6tables-legacy -t "$t" -F; ip6tables-legacy -t "$t" -X; done'
  local out
  out=$(REALHOST_BIND="$HOST_DEB_DIR:/mnt/dropspot" REALHOST_LOG="$TMPD/host.log" "$RH" boot "$(lab ns server)" dshost)
  HOST_PID=$(sed -n 's/^PID=\([0-9]*\).*/\1/p' <<<"$out")
  "$RH" wait "$HOST_PID" 60
  if [ -n "${HOST_SETUP:-}" ]; then # the whole set-up as a user types it (README's lines)
    host sh -ec "cd /mnt/dropspot; $HOST_SETUP" >"$TMPD/install.log" 2>&1 </dev/null ||
      { cat "$TMPD/install.log"; return 1; }
  else
    host sh -c "cd /mnt/dropspot && $HOST_INSTALL" >"$TMPD/install.log" 2>&1 || { cat "$TMPD/install.log"; return 1; }
    host sh -c 'agent token | install -D -m 600 /dev/stdin /etc/dropspot/token'
    host systemctl enable --now dropspot-agent 2>/dev/null
  fi
  host cat /etc/dropspot/token >"$TOKEN_FILE"
  lab wait-listen server 7411 10 || { host journalctl -u dropspot-agent --no-pager | tail -n 20; return 1; }
}

# probe NAME ARGS...: the prober from the client, JSON in TMPD/NAME.json.
probe() {
  local name=$1
  shift
  prober_json "$TMPD/$name.json" --token-file "$TOKEN_FILE" --timeout 1s "$@"
}
verdict() { jq -r --argjson p "$2" '.ports[] | select(.port == $p) | .verdict' "$TMPD/$1.json"; }
# verdict_is FILE PORT VERDICT: and when not, what the port said.
verdict_is() {
  [ "$(verdict "$1" "$2")" = "$3" ] && return 0
  jq -c --argjson p "$2" '.ports[] | select(.port == $p) | {verdict, summary, notes: .evidence.notes}' \
    "$TMPD/$1.json" | head -c 1500 >&2
  echo >&2
  return 1
}
# said FILE PORT REGEX: the port's summary, evidence or advice says it.
said() {
  jq -e --argjson p "$2" --arg re "$3" '.ports[] | select(.port == $p) |
    [.summary, (.evidence | .. | strings?), (.advice[]? // empty)] | map(select(test($re))) | length > 0' \
    "$TMPD/$1.json" >/dev/null || {
    echo "    port $2 of $1.json does not say /$3/:" >&2
    jq -c --argjson p "$2" '.ports[] | select(.port == $p) | {verdict, summary, evidence}' "$TMPD/$1.json" | head -c 1500 >&2
    echo >&2
    return 1
  }
}
no_note() { # no_note FILE REGEX: no note anywhere in the report matches
  local found
  found=$(jq -r --arg re "$2" '[.. | strings? | select(test($re))] | unique | .[]' "$TMPD/$1.json")
  [ -z "$found" ] && return 0
  echo "    $1.json says /$2/:" >&2
  head -c 1500 <<<"$found" | sed 's/^/      /' >&2
  return 1
}
