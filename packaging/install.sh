#!/bin/sh
# Installs dropspot from this unpacked tarball, for a distribution without
# a .deb or .rpm of it: the agent and the prober, the agent's systemd unit
# (not started), its system user, man pages and docs. POSIX sh; run as root.
#
#   sudo ./install.sh [--prefix /usr/local] [--root DIR] [--no-systemd]
#   sudo ./install.sh --uninstall [--prefix /usr/local] [--root DIR]
#
#   --prefix DIR    where bin/, share/man and share/doc go (default /usr/local)
#   --root DIR      install into DIR as if it were / (an image, a container)
#   --no-systemd    no unit, no daemon-reload (a host without systemd: run
#                   `agent --user dropspot --token-file FILE` yourself)
#   --uninstall     remove what install put there (the user, the token in
#                   /etc/dropspot and /var/lib/dropspot stay)
# Exit code: 0 done, 1 failed, 2 bad usage.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
root=""
systemd=1
uninstall=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }; prefix=$2; shift ;;
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a folder" >&2; exit 2; }; root=$2; shift ;;
    --no-systemd) systemd=0 ;;
    --uninstall) uninstall=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $prefix in
  /*) ;;
  *) echo "install.sh: --prefix must be an absolute path, not '$prefix'" >&2; exit 2 ;;
esac
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo ./install.sh), or give --root DIR" >&2
  exit 1
fi
[ -z "$root" ] || [ -d "$root" ] || { echo "install.sh: --root $root: no such folder" >&2; exit 2; }

unit_dir=/etc/systemd/system  # the local administrator's units (no package owns them)
sysusers_dir=/etc/sysusers.d
unit=$unit_dir/dropspot-agent.service
completions="share/bash-completion/completions/agent share/bash-completion/completions/prober
  share/zsh/vendor-completions/_agent share/zsh/vendor-completions/_prober
  share/zsh/site-functions/_agent share/zsh/site-functions/_prober"
files="$prefix/bin/agent $prefix/bin/prober $prefix/share/man/man8/agent.8 $prefix/share/man/man1/prober.1
  $prefix/share/doc/dropspot/agent.md $prefix/share/doc/dropspot/ci.md $unit $sysusers_dir/dropspot.conf"
for c in $completions; do files="$files $prefix/$c"; done

# Runs systemctl on the live host only (not for --root).
reload_systemd() {
  if [ "$systemd" = 1 ] && [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
}

if [ "$uninstall" = 1 ]; then
  if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now dropspot-agent.service >/dev/null 2>&1 || :
  fi
  for f in $files; do rm -f "$root$f"; done
  rmdir "$root$prefix/share/doc/dropspot" 2>/dev/null || :
  reload_systemd
  echo "install.sh: removed dropspot from $root$prefix (the user dropspot, /etc/dropspot and /var/lib/dropspot stay)"
  exit 0
fi

for f in bin/agent bin/prober; do
  [ -x "$here/$f" ] || { echo "install.sh: $here/$f is missing: run me from the unpacked tarball" >&2; exit 1; }
done
install -d "$root$prefix/bin" "$root$prefix/share/man/man1" "$root$prefix/share/man/man8" "$root$prefix/share/doc/dropspot"
install -m 755 "$here/bin/agent" "$here/bin/prober" "$root$prefix/bin/"
install -m 644 "$here/share/man/man8/agent.8" "$root$prefix/share/man/man8/"
install -m 644 "$here/share/man/man1/prober.1" "$root$prefix/share/man/man1/"
install -m 644 "$here/share/doc/dropspot/agent.md" "$here/share/doc/dropspot/ci.md" "$root$prefix/share/doc/dropspot/"
for c in $completions; do
  install -d "$root$prefix/$(dirname "$c")"
  install -m 644 "$here/$c" "$root$prefix/$c"
done
# Where the token goes, root's only.
[ -d "$root/etc/dropspot" ] || install -d -m 0700 "$root/etc/dropspot"

# The agent's system user: systemd-sysusers where it exists, else useradd.
install -d "$root$sysusers_dir"
install -m 644 "$here/lib/sysusers.d/dropspot.conf" "$root$sysusers_dir/dropspot.conf"
if ! grep -q '^dropspot:' "$root/etc/passwd" 2>/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$root$nologin" ] || nologin=/sbin/nologin
  if command -v systemd-sysusers >/dev/null 2>&1; then
    if [ -n "$root" ]; then
      systemd-sysusers --root "$root" "$sysusers_dir/dropspot.conf"
    else
      systemd-sysusers "$sysusers_dir/dropspot.conf"
    fi
  elif [ -n "$root" ]; then
    useradd --root "$root" --system --user-group --home-dir /var/lib/dropspot --no-create-home \
      --shell "$nologin" --comment "dropspot agent" dropspot
  else
    useradd --system --user-group --home-dir /var/lib/dropspot --no-create-home \
      --shell "$nologin" --comment "dropspot agent" dropspot
  fi
fi

if [ "$systemd" = 1 ]; then
  install -d "$root$unit_dir"
  # The unit names /usr/bin/agent; here the agent is in $prefix/bin.
  sed "s|/usr/bin/agent|$prefix/bin/agent|g" "$here/lib/systemd/system/dropspot-agent.service" >"$root$unit.tmp"
  chmod 644 "$root$unit.tmp"
  mv "$root$unit.tmp" "$root$unit"
  reload_systemd
fi

echo "install.sh: installed dropspot in $root$prefix"
echo "  next: $prefix/bin/agent token | sudo install -D -m 600 /dev/stdin /etc/dropspot/token"
if [ "$systemd" = 1 ]; then
  echo "        sudo systemctl enable --now dropspot-agent"
else
  echo "        sudo $prefix/bin/agent --user dropspot --token-file /etc/dropspot/token"
fi
