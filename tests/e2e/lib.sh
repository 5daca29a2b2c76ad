# Shared helpers for the end-to-end tests: a lab with trap-based teardown,
# the real agent and prober binaries, and plain assertions.
# Usage: source tests/e2e/lib.sh; e2e_setup BUILD_BIN_DIR; ...; e2e_finish
set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB="$E2E_ROOT/scripts/lab.sh"
E2E_TMP=""
# shellcheck source=tests/e2e/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

e2e_cleanup() {
  local rc=$?
  if [ -n "${DROPSPOT_LAB:-}" ]; then "$LAB" down >/dev/null 2>&1 || true; fi
  [ -n "$E2E_TMP" ] && rm -rf "$E2E_TMP"
  return $rc
}

# e2e_setup BIN_DIR: brings a lab up and makes AGENT, PROBER, TOKEN_FILE, TMPD.
e2e_setup() {
  BIN=$(cd "$1" && pwd)
  AGENT="$BIN/agent"
  PROBER="$BIN/prober"
  [ -x "$AGENT" ] && [ -x "$PROBER" ] || { echo "no agent/prober in $BIN" >&2; exit 1; }
  if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: needs root for network namespaces" >&2
    exit 1
  fi
  E2E_TMP=$(mktemp -d /tmp/dropspot-e2e.XXXXXX)
  TMPD=$E2E_TMP
  trap e2e_cleanup EXIT
  unset DROPSPOT_LAB
  eval "$("$LAB" up)"
  TOKEN_FILE="$TMPD/token"
  "$AGENT" token >"$TOKEN_FILE"
  chmod 600 "$TOKEN_FILE"
}

lab() { "$LAB" "$@"; }
on() { local node=$1; shift; "$LAB" exec "$node" "$@"; }

# start_agent [agent args...]: the real agent in the server namespace, in the
# background (lab down kills it); waits until it listens on each --listen port.
start_agent() {
  local log="$TMPD/agent.log"
  on server "$AGENT" --token-file "$TOKEN_FILE" "$@" >>"$log" 2>&1 &
  local ports=() arg next=""
  for arg in "$@"; do
    if [ "$next" = listen ]; then ports+=("${arg##*:}"); fi
    next=""
    [ "$arg" = --listen ] && next=listen
  done
  [ ${#ports[@]} -eq 0 ] && ports=(7411)
  local p
  for p in "${ports[@]}"; do lab wait-listen server "$p" 5 || { cat "$log" >&2; return 1; }; done
}

stop_agent() {
  local pid
  for pid in $(ip netns pids "$(lab ns server)"); do
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = agent ]; then kill "$pid" 2>/dev/null || true; fi
  done
  sleep 0.1
}

# prober_json OUT_FILE args...: runs the prober from the client namespace with
# JSON output; sets RC to its exit code.
prober_json() {
  local out=$1
  shift
  set +e
  on client "$PROBER" --format json "$@" >"$out" 2>"$out.err"
  RC=$?
  if [ "$RC" -ge 124 ] || [ ! -s "$out" ]; then
    echo "    prober exit $RC, stderr: $(head -c 600 "$out.err" 2>/dev/null)" >&2
  fi
  set -e
}

jq_is() { # jq_is FILE FILTER EXPECTED
  local got
  got=$(jq -r "$2" "$1" 2>/dev/null || echo "<invalid json>")
  if [ "$got" = "$3" ]; then return 0; fi
  echo "    $2 = '$got', expected '$3'" >&2
  return 1
}

port_is() { # port_is FILE PORT JQ_EXPR EXPECTED: the port's JQ_EXPR is EXPECTED
  jq_is "$1" ".ports[] | select(.port == $2) | $3" "$4"
}

port_matches() { # port_matches FILE PORT JQ_EXPR REGEX: some line of the port's JQ_EXPR matches
  local got
  got=$(jq -r ".ports[] | select(.port == $2) | $3" "$1" 2>/dev/null)
  if grep -Eq -- "$4" <<<"$got"; then return 0; fi
  echo "    port $2 $3 = '$(head -c 400 <<<"$got")', expected to match /$4/" >&2
  return 1
}

# start_lab_sshd PERMIT_ROOT_LOGIN: Debian's OpenSSH server in the server
# namespace on port 22 (IPv4 and IPv6) with its own host key, config and pid
# file in TMPD; logins with the key TMPD/user_key only (authorized for every
# user, readable by all). Sets SSH: the client command that uses that key.
start_lab_sshd() {
  local root_login=$1
  [ -x /usr/sbin/sshd ] || { echo "no /usr/sbin/sshd: install openssh-server (scripts/deps.sh)" >&2; return 1; }
  ssh-keygen -q -t ed25519 -N '' -f "$TMPD/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$TMPD/user_key"
  cp "$TMPD/user_key.pub" "$TMPD/authorized_keys"
  chmod 644 "$TMPD/authorized_keys"
  cat >"$TMPD/sshd_config" <<CONF
Port 22
ListenAddress $(lab addr server 4)
ListenAddress $(lab addr server 6)
HostKey $TMPD/host_key
PidFile $TMPD/sshd.pid
AuthorizedKeysFile $TMPD/authorized_keys
PermitRootLogin $root_login
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONF
  mkdir -p /run/sshd
  on server /usr/sbin/sshd -f "$TMPD/sshd_config" -E "$TMPD/sshd.log"
  lab wait-listen server 22 5
  SSH="ssh -i $TMPD/user_key -o UserKnownHostsFile=$TMPD/known_hosts -o StrictHostKeyChecking=accept-new -o LogLevel=ERROR"
}

# lab_nginx DIR PORT... <SERVERS: Debian's nginx in the server namespace with
# its own config, pid and logs under DIR (never /etc/nginx); stdin holds the
# server blocks (and any other directives) of its http block. Waits until it
# listens on each PORT; the caller stops it by DIR/nginx.pid.
lab_nginx() {
  local dir=$1
  shift
  local nginx=nginx
  command -v nginx >/dev/null || nginx=/usr/sbin/nginx
  mkdir -p "$dir"
  {
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 512; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
EOF
    cat
    echo "}"
  } >"$dir/nginx.conf"
  on server "$nginx" -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  local p
  for p in "$@"; do
    lab wait-listen server "$p" 5 || { cat "$dir/error.log" "$dir/stdout.log" >&2; return 1; }
  done
}

# e2e_finish: the closing line; when a check failed, what the agent said in
# each report and the end of its log, so a failure in CI explains itself.
e2e_finish() {
  if ((failed > 0)) && [ -n "${TMPD:-}" ]; then
    local f
    for f in "$TMPD"/*.json; do
      [ -s "$f" ] || continue
      jq -e .agent "$f" >/dev/null 2>&1 || continue
      echo "    $(basename "$f") agent: $(jq -c '.agent | {status, message}' "$f")" >&2
    done
    if [ -s "$TMPD/agent.log" ]; then
      echo "    agent.log (last lines):" >&2
      tail -n 20 "$TMPD/agent.log" | sed 's/^/      /' >&2
    fi
  fi
  check_summary
}
