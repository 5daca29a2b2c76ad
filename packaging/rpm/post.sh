# dropspot %post: the agent's system user (the unit's User=dropspot), as
# sysusers.d says; make systemd see the new unit; never start it here (it
# needs a token first: see /usr/share/doc/dropspot/agent.md).
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/dropspot.conf || :
fi
# Where the token goes (agent token | install -D -m 600 /dev/stdin /etc/dropspot/token).
[ -d /etc/dropspot ] || install -d -m 0700 /etc/dropspot
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
fi
