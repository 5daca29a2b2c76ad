# dropspot %postun: make systemd forget the removed unit (the user and
# /var/lib/dropspot stay, as Debian's packages leave theirs).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
fi
