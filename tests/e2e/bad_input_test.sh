#!/usr/bin/env bash
# Bad input everywhere: the prober, the agent and `agent check` refuse each
# malformed port list, duration, expectation, host name, token file and
# option with exit code 2, exactly one line on stderr, nothing on stdout,
# and never echo the token. No lab: as root, everything runs in a network
# namespace of its own with no interface up, so nothing can leave the machine.
# usage: bad_input_test.sh BUILD_BIN_DIR
set -euo pipefail
source "$(dirname "$0")/check.sh"
BIN=$(cd "$1" && pwd)
AGENT="$BIN/agent"
PROBER="$BIN/prober"
TMPD=$(mktemp -d /tmp/dropspot-bad.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
ISOLATE=()
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
  # A namespace with only loopback, up.
  printf '#!/bin/sh\nip link set lo up && exec "$@"\n' >"$TMPD/isolated"
  chmod 755 "$TMPD/isolated"
  ISOLATE=(unshare -n "$TMPD/isolated")
fi

TOKEN=$("$AGENT" token 2>/dev/null)
printf '%s\n' "$TOKEN" >"$TMPD/token"
chmod 600 "$TMPD/token"
: >"$TMPD/empty"
chmod 600 "$TMPD/empty"
printf 'short\n' >"$TMPD/short"
chmod 600 "$TMPD/short"
printf 'secret with spaces in it\n' >"$TMPD/spaces"
chmod 600 "$TMPD/spaces"
mkdir "$TMPD/dir"
printf '%s\n' "$TOKEN" >"$TMPD/readable"
chmod 644 "$TMPD/readable"
head -c 10000 /dev/zero | tr '\0' a >"$TMPD/huge"
chmod 600 "$TMPD/huge"

# refused NAME CMD...: exit 2, one line on stderr, nothing on stdout, no token.
refused() {
  local name=$1
  shift
  set +e
  env -u DROPSPOT_TOKEN "${ISOLATE[@]}" "$@" >"$TMPD/out" 2>"$TMPD/err"
  local rc=$?
  set -e
  local lines
  lines=$(wc -l <"$TMPD/err")
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$TMPD/out" ] && ! grep -qF "$TOKEN" "$TMPD/err"; then
    echo "ok   - $name: $(cat "$TMPD/err")"
    passed=$((passed + 1))
  else
    echo "FAIL - $name: exit $rc (want 2), $lines stderr lines (want 1), stdout $(wc -c <"$TMPD/out") bytes"
    sed 's/^/    /' "$TMPD/err" | head -5
    failed=$((failed + 1))
  fi
}

P=("$PROBER" --target 127.0.0.1 --no-agent)
# Port lists.
refused "prober.bad_ports letters" "${P[@]}" --ports abc
refused "prober.bad_ports zero" "${P[@]}" --ports 0
refused "prober.bad_ports 65536" "${P[@]}" --ports 65536
refused "prober.bad_ports reversed range" "${P[@]}" --ports 90-80
refused "prober.bad_ports open range" "${P[@]}" --ports 80-
refused "prober.bad_ports empty item" "${P[@]}" --ports 22,,80
refused "prober.bad_ports empty" "${P[@]}" --ports ""
refused "prober.bad_ports negative" "${P[@]}" --ports=-5
refused "prober.bad_ports huge number" "${P[@]}" --ports 99999999999999999999
# Durations.
refused "prober.bad_timeout letters" "${P[@]}" --ports 80 --timeout soon
refused "prober.bad_timeout no unit" "${P[@]}" --ports 80 --timeout 5
refused "prober.bad_timeout unknown unit" "${P[@]}" --ports 80 --timeout 5parsecs
refused "prober.bad_timeout negative" "${P[@]}" --ports 80 --timeout=-1s
refused "prober.bad_timeout too short" "${P[@]}" --ports 80 --timeout 1ms
refused "prober.bad_timeout too long" "${P[@]}" --ports 80 --timeout 3h
refused "prober.bad_wait" "${P[@]}" --ports 80 --wait forever
refused "prober.bad_retries" "${P[@]}" --ports 80 --retries 11
# Expectations.
refused "prober.bad_expect word" "${P[@]}" --ports 80 --expect maybe
refused "prober.bad_expect verdict" "${P[@]}" --ports 80 --expect 80=NOT_A_VERDICT
refused "prober.bad_expect port not probed" "${P[@]}" --ports 80 --expect 81=open
refused "prober.bad_expect bad port" "${P[@]}" --ports 80 --expect x=open
# Host names.
refused "prober.bad_target empty" "$PROBER" --no-agent --ports 80 --target ""
refused "prober.bad_target space" "$PROBER" --no-agent --ports 80 --target "bad host"
refused "prober.bad_target dots" "$PROBER" --no-agent --ports 80 --target "a..b"
refused "prober.bad_target option-like" "$PROBER" --no-agent --ports 80 --target=-oProxyCommand=x
refused "prober.bad_target underscore and slash" "$PROBER" --no-agent --ports 80 --target "a/b"
refused "prober.bad_target too long" "$PROBER" --no-agent --ports 80 --target "$(printf 'a%.0s' $(seq 1 300))"
refused "prober.bad_agent endpoint" "$PROBER" --ports 80 --target 127.0.0.1 --agent "host:99999"
refused "prober.bad_ssh" "$PROBER" --ports 80 --target 127.0.0.1 --ssh "@host"
# Other options.
refused "prober.bad_probe kind" "${P[@]}" --ports 80 --probe 80=gopher
refused "prober.bad_probe shape" "${P[@]}" --ports 80 --probe http
refused "prober.bad_probe port not probed" "${P[@]}" --ports 80 --probe 81=http
refused "prober.bad_format" "${P[@]}" --ports 80 --format xml
refused "prober.unknown option" "${P[@]}" --ports 80 --frobnicate
refused "prober.missing --target" "$PROBER" --ports 80 --no-agent
refused "prober.contradiction" "$PROBER" --target 127.0.0.1 --ports 80 --no-agent --agent 127.0.0.1
# Token files (the prober).
T=("$PROBER" --target 127.0.0.1 --ports 80 --timeout 100ms)
refused "prober.token_file empty" "${T[@]}" --token-file "$TMPD/empty"
refused "prober.token_file missing" "${T[@]}" --token-file "$TMPD/nope"
refused "prober.token_file directory" "${T[@]}" --token-file "$TMPD/dir"
refused "prober.token_file too short" "${T[@]}" --token-file "$TMPD/short"
refused "prober.token_file spaces (content not echoed)" "${T[@]}" --token-file "$TMPD/spaces"
check "prober.token_file spaces: the file's content is not echoed" bash -c "! grep -q 'secret with' '$TMPD/err'"
refused "prober.token_file too large" "${T[@]}" --token-file "$TMPD/huge"
set +e
env DROPSPOT_TOKEN="short" "${ISOLATE[@]}" "${T[@]}" >/dev/null 2>"$TMPD/err"
rc=$?
set -e
check "prober.token_env too short: exit 2" test "$rc" -eq 2
# World-readable: a warning line, and the run goes on (exit 1: no agent reachable here).
set +e
"${ISOLATE[@]}" "${T[@]}" --token-file "$TMPD/readable" --format json >"$TMPD/out" 2>"$TMPD/err"
rc=$?
set -e
check "prober.token_file world-readable: warns on stderr" grep -q "warning: token file .* is readable by others: chmod 600 it" "$TMPD/err"
check "prober.token_file world-readable: still runs (exit $rc, a report)" bash -c "[ $rc -eq 1 ] && jq -e .agent '$TMPD/out' >/dev/null"
check "prober.token_file world-readable: the token is not echoed" bash -c "! grep -qF '$TOKEN' '$TMPD/err' '$TMPD/out'"

# The agent's configuration (each checked before anything is bound).
A=("$AGENT" --token-file "$TMPD/token" --listen 127.0.0.1:7499)
refused "agent.bad_listen name" "$AGENT" --token-file "$TMPD/token" --listen localhost:7411
refused "agent.bad_listen port" "$AGENT" --token-file "$TMPD/token" --listen 127.0.0.1:70000
refused "agent.bad_listen garbage" "$AGENT" --token-file "$TMPD/token" --listen "[::1"
refused "agent.bad_allow_ports" "${A[@]}" --allow-ports 80-x
refused "agent.bad_interface" "${A[@]}" --interface "eth0/../x"
refused "agent.bad_max_session" "${A[@]}" --max-session 10ms
refused "agent.bad_max_session word" "${A[@]}" --max-session long
refused "agent.bad_max_sessions" "${A[@]}" --max-sessions 0
refused "agent.bad_max_per_source" "${A[@]}" --max-per-source 0
refused "agent.bad_auth_timeout" "${A[@]}" --auth-timeout 1h
refused "agent.bad_max_ports" "${A[@]}" --max-ports 0
refused "agent.bad_user root" "${A[@]}" --user root
refused "agent.bad_user unknown" "${A[@]}" --user no-such-user-xyz
refused "agent.peer_without_stdio" "${A[@]}" --peer 198.51.100.2
refused "agent.unknown option" "${A[@]}" --frobnicate
refused "agent.token_file empty" "$AGENT" --token-file "$TMPD/empty" --listen 127.0.0.1:7499
refused "agent.token_file missing" "$AGENT" --token-file "$TMPD/nope" --listen 127.0.0.1:7499
refused "agent.token_file too short" "$AGENT" --token-file "$TMPD/short" --listen 127.0.0.1:7499
refused "agent.no token" "$AGENT" --listen 127.0.0.1:7499
# World-readable: a warning in the log, and the agent serves.
set +e
"${ISOLATE[@]}" timeout 1 "$AGENT" --token-file "$TMPD/readable" --listen 127.0.0.1:7499 >/dev/null 2>"$TMPD/err"
rc=$?
set -e
check "agent.token_file world-readable: warns" grep -q "warning: token file .* is readable by others: chmod 600 it" "$TMPD/err"
check "agent.token_file world-readable: still starts (killed by timeout: $rc)" test "$rc" -eq 124
check "agent: the token never appears on stderr" bash -c "! grep -qF '$TOKEN' '$TMPD/err'"
# A name that does not resolve (.invalid never does, RFC 6761) is not bad
# usage: the name may be right and DNS wrong. A failed check: exit 1, the
# reason on stderr, and the report written (a JUnit file with its failed case).
set +e
env -u DROPSPOT_TOKEN "${ISOLATE[@]}" "$PROBER" --target vps.invalid --ports 80 --no-agent --format junit \
  >"$TMPD/unresolved.xml" 2>"$TMPD/err"
rc=$?
set -e
check "prober.unresolved name: exit 1 ($rc)" test "$rc" -eq 1
check "prober.unresolved name: one line on stderr" test "$(wc -l <"$TMPD/err")" -eq 1
check "prober.unresolved name: the JUnit report has the failed case" \
  grep -q '<failure message="not tested: --target: cannot resolve vps.invalid' "$TMPD/unresolved.xml"
# agent check.
refused "agent_check.bad_ports" "$AGENT" check --ports 80-x
refused "agent_check.bad_ports zero" "$AGENT" check --ports 0
refused "agent_check.bad_format" "$AGENT" check --ports 80 --format xml
refused "agent_check.missing --ports" "$AGENT" check
refused "agent_check.unknown option (named before the missing --ports)" "$AGENT" check --frobnicate
check "agent_check.unknown option: the message names it" grep -q -- "--frobnicate" "$TMPD/err"
refused "prober.unknown option (named before the missing target and ports)" "$PROBER" --frobnicate
check "prober.unknown option: the message names it" grep -q -- "--frobnicate" "$TMPD/err"

check_summary
