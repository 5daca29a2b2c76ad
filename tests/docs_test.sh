#!/usr/bin/env bash
# The documentation users read beside --help stays true to the command
# line: every option that `prober --help`, `agent --help` and `agent check
# --help` print is in the man page and in the bash and zsh completion; every
# verdict of proto/dropspot.proto is in prober(1); the exit codes are there;
# the completion works in bash (and parses in zsh, where installed).
# usage: tests/docs_test.sh BUILD_DIR
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "$1/bin" && pwd)
# shellcheck source=tests/e2e/check.sh
source "$SRC/tests/e2e/check.sh"
COMP=$SRC/packaging/completion

# The options a --help prints: "-p,--ports TEXT", "--no-agent", "-v,--verbose".
options_of() { "$@" --help | grep -oE '^  (-[a-zA-Z],)?--[a-z][a-z-]*' | tr ',' '\n' | sed 's/^ *//' | sort -u; }
# In roff every '-' of an option is written '\-'.
roff() { sed 's/-/\\-/g' <<<"$1"; }

for opt in $(options_of "$BIN/prober"); do
  check "prober(1) has $opt" grep -qF -- "$(roff "$opt")" "$SRC/docs/prober.1"
  check "prober's bash completion has $opt" grep -qw -- "$opt" "$COMP/prober.bash"
  check "prober's zsh completion has $opt" grep -qF -- "$opt" "$COMP/_prober"
done
for opt in $(options_of "$BIN/prober" serve); do
  check "prober(1) has serve's $opt" grep -qF -- "$(roff "$opt")" "$SRC/docs/prober.1"
  check "prober's bash completion has serve's $opt" grep -qw -- "$opt" "$COMP/prober.bash"
  check "prober's zsh completion has serve's $opt" grep -qF -- "$opt" "$COMP/_prober"
done
for opt in $(options_of "$BIN/agent") $(options_of "$BIN/agent" check); do
  check "agent(8) has $opt" grep -qF -- "$(roff "$opt")" "$SRC/docs/agent.8"
  check "agent's bash completion has $opt" grep -qw -- "$opt" "$COMP/agent.bash"
  check "agent's zsh completion has $opt" grep -qF -- "$opt" "$COMP/_agent"
done

# Every verdict --expect takes is explained, in the VERDICTS section.
verdicts=$(sed -n '/^enum Verdict {/,/^}/p' "$SRC/proto/dropspot.proto" | grep -oE '^  [A-Z_]+ =' | tr -d ' =' |
  grep -v VERDICT_UNSPECIFIED)
section=$(sed -n '/^\.SH VERDICTS/,/^\.SH /p' "$SRC/docs/prober.1")
for v in $verdicts; do
  check "prober(1) explains the verdict $v" grep -qw -- "$v" <<<"$section"
  check "the completion offers $v for --expect" grep -qw -- "$v" "$COMP/prober.bash"
done
status=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$SRC/docs/prober.1")
for code in 0 1 2 3; do check "prober(1): exit status $code" grep -qx "\.B $code" <<<"$status"; done
check "prober --help: exit status 3" bash -c "'$BIN/prober' --help | grep -q '; 3 every port as expected but the agent'"
for page in prober.1 agent.8; do
  check "$page renders without warnings" \
    bash -c "! MANWIDTH=80 man --warnings -l '$SRC/docs/$page' 2>&1 >/dev/null | grep ."
done

# bash: the completion as bash runs it (COMP_WORDS, COMP_CWORD).
complete_bash() { # complete_bash FILE WORDS...: what bash would offer for the last word
  local file=$1
  shift
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); f=$(complete -p "$1" | sed "s/.*-F \([^ ]*\).*/\1/"); "$f"; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$file" "$@"
}
check "bash: prober --fo completes to --format" grep -qx -- --format <<<"$(complete_bash "$COMP/prober.bash" prober --fo)"
check "bash: prober -f completes the formats" \
  test "$(complete_bash "$COMP/prober.bash" prober -f '' | tr '\n' ' ')" = "text json junit prometheus "
check "bash: prober serve --al completes to --allow-target" \
  grep -qx -- --allow-target <<<"$(complete_bash "$COMP/prober.bash" prober serve --al)"
check "bash: prober se offers serve" grep -qx serve <<<"$(complete_bash "$COMP/prober.bash" prober se)"
check "bash: prober --expect NO_ completes the verdict" \
  test "$(complete_bash "$COMP/prober.bash" prober --expect NO_)" = NO_LISTENER
check "bash: agent ch completes to check" test "$(complete_bash "$COMP/agent.bash" agent ch)" = check
check "bash: agent check --f completes check's option" \
  test "$(complete_bash "$COMP/agent.bash" agent check --f)" = --format
if command -v zsh >/dev/null; then
  for f in _prober _agent; do check "zsh parses $f" zsh -n "$COMP/$f"; done
fi
# docs/examples: the CI files as GitHub and GitLab read them (tests/ci_examples.py),
# and their prober commands through the prober's own parser: a name that
# cannot resolve (exit 1, "cannot resolve") means every option passed; bad
# usage would be exit 2. In a network namespace of its own when root.
TMPD=$(mktemp -d /tmp/dropspot-docs.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
check "CI examples: the keys GitHub and GitLab need are there" \
  bash -c "python3 '$SRC/tests/ci_examples.py' '$SRC/docs/examples' >'$TMPD/commands'"
mkdir -p "$TMPD/broken"
cp "$SRC"/docs/examples/*.yml "$TMPD/broken/"
sed -i '/checks: write/d' "$TMPD/broken/github-actions.yml"
check "CI examples: the check notices a missing permission" \
  bash -c "python3 '$SRC/tests/ci_examples.py' '$TMPD/broken' 2>&1 >/dev/null | grep -q 'checks: write'"
ISOLATE=()
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then ISOLATE=(unshare -n); fi
touch "$TMPD/deploy_key" "$TMPD/known_hosts"
n=0
while read -r argv; do
  n=$((n + 1))
  mapfile -t args < <(jq -r '.[1:][]' <<<"$argv")
  set +e
  (cd "$TMPD" && "${ISOLATE[@]}" "$BIN/prober" "${args[@]}" >"$TMPD/out.$n" 2>"$TMPD/err.$n")
  rc=$?
  set -e
  check "CI example $n: its prober command parses (exit $rc: the name does not resolve, not bad usage)" \
    bash -c "test $rc -eq 1 && grep -q 'cannot resolve deploy.invalid' '$TMPD/err.$n' && grep -q '<failure' '$TMPD/out.$n'"
done <"$TMPD/commands"
check "CI examples: two prober commands found" test "$n" -eq 2
# docs/json.md's example is JSON, opening with schemaVersion and ok as the prober writes them.
check "docs/json.md: the example parses, schemaVersion and ok first" python3 -c '
import json, re, sys
block = re.search(r"```json\n(.*?)```", open(sys.argv[1]).read(), re.S).group(1)
keys = list(json.loads(block))
sys.exit(0 if keys[:2] == ["schemaVersion", "ok"] else 1)' "$SRC/docs/json.md"
check_summary
