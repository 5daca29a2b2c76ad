# Shared by the Wine tests (wine_test.sh, wine_hops_test.sh): the Linux
# agent and prober (built when missing), the lab, a throw-away WINEPREFIX
# booted once in the client's namespace (Wine creates sockets in its
# wineserver, so every Windows run happens there), and helpers:
# win/win_json (prober.exe; sets RC), winpath, verdict_is, same_verdicts.
# usage (from a test): source "$(dirname "$0")/wine_lib.sh" "$@"
#   $1 PROBER_EXE, $2 LINUX_BIN_DIR (default: $BUILD_DIR/bin or build/bin)
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
WINE_TEST_NAME=$(basename "$0" .sh)
EXE=$(realpath "${1:?usage: $WINE_TEST_NAME.sh PROBER_EXE [LINUX_BIN_DIR]}")
linux_build=${BUILD_DIR:-build}
case $linux_build in /*) ;; *) linux_build=$E2E_ROOT/$linux_build ;; esac
LINUX_BIN=${2:-$linux_build/bin}
[ -f "$EXE" ] || { echo "$WINE_TEST_NAME: no $EXE" >&2; exit 1; }
if [ ! -x "$LINUX_BIN/agent" ] || [ ! -x "$LINUX_BIN/prober" ]; then
  echo "$WINE_TEST_NAME: building the Linux agent and prober in $linux_build" >&2
  (cd "$E2E_ROOT" && cmake -S . -B "$linux_build" -G Ninja >/dev/null && nice ninja -C "$linux_build" -j 2 agent prober >&2)
fi
WINE=$(command -v wine64 || echo /usr/lib/wine/wine64)
WINESERVER=$(command -v wineserver || echo /usr/lib/wine/wineserver)
e2e_setup "$LINUX_BIN"

export WINEDEBUG=-all WINEPREFIX="$TMPD/wine"
# No Mono or Gecko: wineboot neither looks for nor offers them.
export WINEDLLOVERRIDES="mscoree,mshtml="
# set +e: under errexit, `(exit 1)` after a failed check would end the trap
# before e2e_cleanup and leave the lab's namespaces behind.
wine_cleanup() {
  local rc=$?
  set +e
  "$WINESERVER" -k >/dev/null 2>&1 || true
  (exit "$rc")
  e2e_cleanup
}
trap wine_cleanup EXIT

start=$SECONDS
mkdir -p "$WINEPREFIX"
on client "$WINESERVER" -p  # persistent: no restart between runs
on client "$WINE" wineboot -i >"$TMPD/wineboot.log" 2>&1 || { cat "$TMPD/wineboot.log" >&2; exit 1; }
echo "    wineboot took $((SECONDS - start)) s"

# A Windows path for a file of ours (Wine's Z: drive is /).
winpath() { local p=${1//\//\\}; echo "Z:$p"; }
TOKEN_WIN=$(winpath "$TOKEN_FILE")

# win OUT ERR args...: prober.exe in the client namespace; sets RC.
win() {
  local out=$1 err=$2
  shift 2
  set +e
  on client "$WINE" "$EXE" "$@" >"$out" 2>"$err"
  RC=$?
  set -e
  # The C runtime writes CRLF line ends, as Windows programs do.
  sed -i 's/\r$//' "$out" "$err"
}

# win_json OUT args...: like prober_json, for the Windows prober.
win_json() {
  local out=$1
  shift
  win "$out" "$out.err" --format json "$@"
  if [ "$RC" -ge 124 ] || [ ! -s "$out" ]; then
    echo "    prober.exe exit $RC, stderr: $(head -c 600 "$out.err" 2>/dev/null)" >&2
  fi
}

verdict_is() { jq_is "$1" ".ports[] | select(.port == $2) | .verdict" "$3"; }
# The port -> verdict map of a report, one line per port.
verdicts() { jq -r '.ports[] | "\(.port)/\(.protocol) \(.verdict)"' "$1" 2>/dev/null | sort -n; }
same_verdicts() { # same_verdicts LINUX_JSON WINDOWS_JSON
  local a b
  a=$(verdicts "$1")
  b=$(verdicts "$2")
  if [ -n "$a" ] && [ "$a" = "$b" ]; then return 0; fi
  echo "    Linux:   ${a//$'\n'/, }" >&2
  echo "    Windows: ${b//$'\n'/, }" >&2
  return 1
}
