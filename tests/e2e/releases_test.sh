#!/usr/bin/env bash
# The portable build's .deb on every Debian release it is for: Debian 11, 12
# and 13 (bullseye, bookworm, trixie), each booted with its own systemd
# (247, 252, 257) in the lab's server namespace (scripts/realhost.sh, the
# "web" image: nginx, sshd and nftables as Debian installs them). The package
# is installed as a user would, `apt install ./dropspot_*.deb`; its unit
# starts the agent under that release's systemd, and the main build's prober
# in the client namespace asks it about its services and its firewall.
# usage: releases_test.sh PORTABLE_BUILD_DIR MAIN_BUILD_DIR [SUITE...]
source "$(dirname "$0")/lib.sh"
PORTABLE=$(cd "$1" && pwd)
e2e_setup "$2/bin"
shift 2
# shellcheck source=tests/e2e/realhost_lib.sh
source "$(dirname "$0")/realhost_lib.sh"
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bullseye bookworm trixie)

HOST_DEB_DIR=$TMPD/deb
mkdir -p "$HOST_DEB_DIR"
cp "$PORTABLE"/packages/dropspot_*_amd64.deb "$HOST_DEB_DIR/"
# The set-up is README's "On a real server" lines, as a user pastes them;
# the first probe is its line for the PC.
readme_block() { # the ```sh block after README's <!-- real-server: NAME marker
  awk -v name="$1" 'index($0, "<!-- real-server: " name) == 1 { on = 1; next }
    on && /^```sh$/ { inside = 1; next } inside && /^```$/ { exit } inside { print }' "$E2E_ROOT/README.md"
}
HOST_SETUP=$(readme_block server)
PC_LINE=$(readme_block pc)
[ -n "$HOST_SETUP" ] && [ -n "$PC_LINE" ] || { echo "README has no real-server blocks" >&2; exit 1; }
deb_name=$(basename "$(ls "$HOST_DEB_DIR"/dropspot_*_amd64.deb)")
check "README installs the .deb the build makes ($deb_name)" grep -qF "./$deb_name" <<<"$HOST_SETUP"
export REALHOST_IMAGE=web

for suite in "${SUITES[@]}"; do
  export REALHOST_SUITE=$suite
  boot_host
  release=$(host sh -c '. /etc/os-release && echo "$PRETTY_NAME"')
  systemd_version=$(host systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
  echo "    $suite: $release, systemd $systemd_version"
  check "$suite: apt installed the package, its dependencies met by the release" \
    grep -q '^Setting up dropspot ' "$TMPD/install.log"
  check "$suite: the package made /etc/dropspot, root's only (0700)" \
    test "$(host stat -c '%a %U' /etc/dropspot)" = "700 root"
  check "$suite: bash completion installed where bash-completion looks" \
    host test -s /usr/share/bash-completion/completions/prober
  check "$suite: the packaged unit runs the agent" test "$(host systemctl is-active dropspot-agent)" = active
  check "$suite: this systemd knows every line of the unit (none logged as unknown or ignored)" \
    bash -c '! grep -E "dropspot-agent\.service:[0-9]+: " <<<"$1"' _ "$(host journalctl -b --no-pager -o cat)"
  check "$suite: the unit's copy of the token: 0400 in a 0700 folder, the service user's" \
    test "$(host stat -c '%a %U' /run/dropspot/token /run/dropspot | tr '\n' ' ')" = "400 dropspot 700 dropspot "
  check "$suite: the agent runs as its system user, in systemd-journal" \
    grep -Eq '^dropspot .*systemd-journal' <<<"$(host ps -o user=,supgrp= -C agent)"

  # README's line for the PC: the host's name is the lab's address, the token
  # the one README's last line printed.
  read -ra pc <<<"${PC_LINE//vps.example.com/$SERVER}"
  [ "${pc[0]}" = prober ] || { echo "README's PC line is not a prober command: $PC_LINE" >&2; exit 1; }
  [ "$TOKEN_FILE" -ef "$TMPD/token" ] || cp "$TOKEN_FILE" "$TMPD/token"  # README's "token" file
  (cd "$TMPD" && prober_json "$TMPD/$suite-readme.json" "${pc[@]:1}")
  check "$suite: README's first probe: 22 and 80 OPEN, 443 NO_LISTENER, with the agent" \
    jq_is "$TMPD/$suite-readme.json" '[.agent.status, (.ports[] | "\(.port) \(.verdict)")] | join(" ")' \
    "CONNECTED 22 OPEN 80 OPEN 443 NO_LISTENER"

  # A clean host: sshd and nginx as the release starts them.
  probe "$suite-clean" --target "$SERVER" --ports 22,80
  check "$suite: 22 OPEN" verdict_is "$suite-clean" 22 OPEN
  check "$suite: 80 OPEN" verdict_is "$suite-clean" 80 OPEN
  check "$suite: the agent took part and names the release" \
    jq_is "$TMPD/$suite-clean.json" '"\(.agent.status) \(.agent.os)"' "CONNECTED $release"
  check "$suite: the listener's unit (from its cgroup under this systemd)" said "$suite-clean" 80 'nginx\.service on'
  check "$suite: no source missing" no_note "$suite-clean" 'not read|missing|unknown'

  # nginx stopped, then failed on a broken configuration: the unit's state
  # and the journal's reason, read by the unit's user through this release's
  # systemctl and journalctl.
  host systemctl stop nginx
  probe "$suite-stopped" --target "$SERVER6" --ports 80
  check "$suite: nginx stopped (v6): 80 NO_LISTENER" verdict_is "$suite-stopped" 80 NO_LISTENER
  check "$suite: nginx.service is inactive, and the command that starts it" \
    jq_is "$TMPD/$suite-stopped.json" '.ports[0] | (.summary | test("nginx\\.service is inactive")) and
      (.advice[0] == "systemctl start nginx.service")' true
  echo 'server { listen 80; bogus_directive on; }' | host tee /etc/nginx/sites-enabled/broken >/dev/null
  host systemctl start nginx 2>/dev/null || true
  probe "$suite-failed" --target "$SERVER" --ports 80
  check "$suite: nginx failed: 80 NO_LISTENER, nginx.service failed" said "$suite-failed" 80 'nginx\.service (is )?failed'
  check "$suite: the journal's reason (nginx's own message)" said "$suite-failed" 80 'unknown directive .bogus_directive'
  host rm /etc/nginx/sites-enabled/broken
  host systemctl reset-failed nginx
  host systemctl start nginx

  # A drop rule in this release's nftables (0.9.8, 1.0.6, 1.1.3): named by
  # its handle, and the command that deletes it.
  host nft -f - <<'EOF'
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 80 drop
  }
}
EOF
  probe "$suite-nft" --target "$SERVER" --ports 80
  check "$suite: nft drop: 80 DROPPED_BY_HOST_FIREWALL" verdict_is "$suite-nft" 80 DROPPED_BY_HOST_FIREWALL
  check "$suite: the rule named, and the command that deletes it" \
    jq_is "$TMPD/$suite-nft.json" '.ports[0] | (.summary | test("table inet filter chain input handle [0-9]+: tcp dport 80 drop")) and
      (.advice[0] | test("^nft delete rule inet filter input handle [0-9]+$"))' true
done

stop_host
e2e_finish
