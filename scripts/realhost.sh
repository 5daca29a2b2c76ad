#!/usr/bin/env bash
# A real Debian host for the end-to-end tests: a root filesystem made by
# mmdebstrap from Debian's registry (cached), booted with its own systemd by
# systemd-nspawn inside one of the lab's network namespaces. Its services,
# firewall managers and the packaged agent are Debian's and ours as a user
# installs them; every boot starts from the cached image (--volatile=overlay:
# what the test changes lives in memory and is gone at power-off).
#
# usage: realhost.sh rootfs                 build the image once, print its path
#        realhost.sh boot NETNS NAME         boot it in /run/netns/NETNS; prints PID=...
#        realhost.sh exec PID CMD...         run a command inside (all namespaces)
#        realhost.sh wait PID [SECONDS]      until systemd reports the boot done
#        realhost.sh stop PID                orderly power-off, then kill what is left
# Environment: DROPSPOT_REALHOST_CACHE (default /var/cache/dropspot-realhost);
# REALHOST_IMAGE: full (default) or exim (Debian's default MTA, which
# conflicts with the full image's postfix: a host of its own), both Debian 12;
# or web: nginx, sshd, nftables and sudo on REALHOST_SUITE (bullseye, bookworm or
# trixie: Debian 11, 12, 13), for the portable package on each release.
set -euo pipefail

die() { echo "realhost: $*" >&2; exit 1; }

CACHE=${DROPSPOT_REALHOST_CACHE:-/var/cache/dropspot-realhost}
SUITE=bookworm
# What the image holds; a change makes a new image (the key is a hash of it).
# The main build's .deb needs libpcap0.8 libprotobuf32 libssl3 libxml2
# libprometheus-cpp-core1.0 libcivetweb1 libjemalloc2; the portable one only glibc and
# libgcc_s, which every root has.
case ${REALHOST_IMAGE:-full} in
  full)
    PACKAGES=(systemd systemd-sysv dbus iproute2 procps nginx openssh-server postfix ufw firewalld nftables iptables
      dovecot-imapd dovecot-pop3d apache2 libpcap0.8 libprotobuf32 libssl3 libxml2 libprometheus-cpp-core1.0
      libcivetweb1 libjemalloc2) ;;
  exim)
    PACKAGES=(systemd systemd-sysv dbus iproute2 procps exim4-daemon-light nftables
      libpcap0.8 libprotobuf32 libssl3 libxml2 libprometheus-cpp-core1.0 libcivetweb1 libjemalloc2) ;;
  web)
    SUITE=${REALHOST_SUITE:-bookworm}
    case $SUITE in bullseye | bookworm | trixie) ;; *) die "REALHOST_SUITE: bullseye, bookworm or trixie, not $SUITE" ;; esac
    PACKAGES=(systemd systemd-sysv dbus iproute2 procps sudo nginx openssh-server nftables) ;;
  *) die "REALHOST_IMAGE: full, exim or web, not ${REALHOST_IMAGE}" ;;
esac
MIRRORS=("deb http://deb.debian.org/debian $SUITE main"
  "deb http://deb.debian.org/debian-security $SUITE-security main")

image_path() {
  local key
  key=$(printf '%s\n' "${PACKAGES[@]}" "${MIRRORS[@]}" | sha256sum | cut -c1-12)
  echo "$CACHE/$SUITE-$key"
}

cmd_rootfs() {
  local dir
  dir=$(image_path)
  if [ -f "$dir/.complete" ]; then
    echo "$dir"
    return
  fi
  mkdir -p "$CACHE"
  # One builder at a time (scripts/test.sh starts one in the background).
  exec 9>"$CACHE/.lock"
  flock 9
  if [ -f "$dir/.complete" ]; then
    echo "$dir"
    return
  fi
  command -v mmdebstrap >/dev/null || die "no mmdebstrap: install it (scripts/deps.sh)"
  mkdir -p "$CACHE"
  local tmp="$dir.partial.$$"
  rm -rf "$tmp"
  local list
  list=$(
    IFS=,
    echo "${PACKAGES[*]}"
  )
  echo "realhost: building $dir with mmdebstrap (once)" >&2
  if ! mmdebstrap --variant=minbase --include="$list" "$SUITE" "$tmp" "${MIRRORS[@]}" >"$tmp.log" 2>&1; then
    tail -n 20 "$tmp.log" >&2
    rm -rf "$tmp"
    die "mmdebstrap failed (log above)"
  fi
  # No firewall manager starts at boot: each test enables the one it tests.
  chroot "$tmp" systemctl disable --quiet firewalld.service ufw.service 2>/dev/null || true
  # apache2 would race nginx for port 80 at boot: the test starts it when it tests it.
  chroot "$tmp" systemctl disable --quiet apache2.service 2>/dev/null || true
  rm -f "$tmp/etc/machine-id" && touch "$tmp/etc/machine-id"
  touch "$tmp/.complete"
  rm -rf "$dir" "$tmp.log"
  mv "$tmp" "$dir"
  echo "$dir"
}

cmd_boot() {
  local netns=$1 name=$2 dir log
  [ -e "/run/netns/$netns" ] || die "no network namespace $netns"
  command -v systemd-nspawn >/dev/null || die "no systemd-nspawn: install systemd-container (scripts/deps.sh)"
  dir=$(cmd_rootfs)
  log=${REALHOST_LOG:-/dev/null}
  # CAP_NET_ADMIN: without it the container's services cannot touch netfilter.
  setsid systemd-nspawn --quiet -D "$dir" -M "$name" --register=no --keep-unit --boot \
    --volatile=overlay --capability=CAP_NET_ADMIN --network-namespace-path="/run/netns/$netns" \
    ${REALHOST_BIND:+--bind-ro="$REALHOST_BIND"} </dev/null >"$log" 2>&1 &
  local nspawn=$! child="" i
  for i in $(seq 100); do
    child=$(pgrep -P "$nspawn" | head -n1 || true)
    [ -n "$child" ] && [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && break
    kill -0 "$nspawn" 2>/dev/null || die "systemd-nspawn exited (log: $log)"
    sleep 0.1
  done
  [ -n "$child" ] || die "the container's systemd did not start"
  echo "PID=$child NSPAWN=$nspawn"
}

cmd_exec() {
  local pid=$1
  shift
  nsenter -t "$pid" -m -u -i -n -p -C -- "$@"
}

cmd_wait() {
  local pid=$1 seconds=${2:-60} state="" i
  for i in $(seq $((seconds * 10))); do
    state=$(cmd_exec "$pid" systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) return 0 ;; esac
    sleep 0.1
  done
  die "the container's boot did not finish in ${seconds}s (state: ${state:-none})"
}

cmd_stop() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -RTMIN+4 "$pid" 2>/dev/null || true # systemd: power off
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true # the PID namespace goes with its init
}

case ${1:-} in
  rootfs) cmd_rootfs ;;
  boot) shift; cmd_boot "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  wait) shift; cmd_wait "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
