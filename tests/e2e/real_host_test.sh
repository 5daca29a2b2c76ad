#!/usr/bin/env bash
# End to end on a real host: Debian 12 booted with its own systemd in the
# lab's server namespace (scripts/realhost.sh), the project's .deb installed
# with dpkg and its unit started by that systemd, Debian's nginx, sshd and postfix,
# ufw and firewalld as their own tools set them up. The prober runs in the
# client namespace across the router. Nothing on the host side is ours but
# the package: what the agent says is what a user's host would say.
# usage: real_host_test.sh BUILD_DIR
source "$(dirname "$0")/lib.sh"
BUILD=$(cd "$1" && pwd)
e2e_setup "$BUILD/bin"
# shellcheck source=tests/e2e/realhost_lib.sh
source "$(dirname "$0")/realhost_lib.sh"

# The package as a user gets it.
mkdir -p "$TMPD/deb"
(cd "$TMPD" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$TMPD/deb" >"$TMPD/cpack.log" 2>&1) ||
  { cat "$TMPD/cpack.log"; exit 1; }
rm -rf "$TMPD/deb/_CPack_Packages"

HOST_DEB_DIR=$TMPD/deb
boot_host
check "the packaged unit runs the agent" test "$(host systemctl is-active dropspot-agent)" = active
check "the unit's copy of the token: 0400, its user's only, in its runtime directory (0700)" \
  test "$(host stat -c '%a %U' /run/dropspot/token /run/dropspot | tr '\n' ' ')" = "400 dropspot 700 dropspot "
check "the token itself stays root-only" test "$(host stat -c '%a %U' /etc/dropspot/token)" = "600 root"

# 1. A clean host: nginx and sshd as Debian starts them.
probe clean --target "$SERVER" --ports 22,80
check "clean: 22 OPEN" verdict_is clean 22 OPEN
check "clean: 80 OPEN" verdict_is clean 80 OPEN
check "clean: Debian's sshd identifies as OpenSSH, at once" jq -e '.ports[] | select(.port == 22) |
  (.app.fields.ssh_software | startswith("OpenSSH_")) and (.app.fields.greeting_ms | tonumber < 1000)' "$TMPD/clean.json"
check "clean: nginx's default page, HTTP 200" jq_is "$TMPD/clean.json" '.ports[] | select(.port == 80) | .app.fields.status' 200
check "clean: the agent took part" jq_is "$TMPD/clean.json" .agent.status CONNECTED
check "clean: no middlebox note" no_note clean 'MSS|middlebox|rewritten'
check "clean: no source missing" no_note clean 'not read|missing|unknown'

check "clean: the saved rules (Debian's /etc/nftables.conf) were compared" no_note clean 'not compared'
agent_groups=$(host ps -o user=,supgrp= -C agent)
check "the agent runs as the system user dropspot, in systemd-journal ($agent_groups)" \
  grep -Eq '^dropspot .*systemd-journal' <<<"$agent_groups"

# 1b. The packaged textfile timer and service for node_exporter, as
#     docs/prometheus.md installs them: run by this systemd as the
#     collector's user, the token a credential, the file written whole.
host useradd --system --home-dir /var/lib/prometheus --no-create-home prometheus
host install -d -o prometheus -g prometheus /var/lib/prometheus/node-exporter
host cp /usr/share/doc/dropspot/examples/dropspot-textfile.service \
  /usr/share/doc/dropspot/examples/dropspot-textfile.timer /etc/systemd/system/
host sh -c 'echo "127.0.0.1 22,80" >/etc/dropspot/fleet.txt; echo "::1 22" >>/etc/dropspot/fleet.txt'
host systemctl daemon-reload
host systemctl start dropspot-textfile.service || host journalctl -u dropspot-textfile --no-pager | tail -n 8 | sed 's/^/    /'
prom=$(host cat /var/lib/prometheus/node-exporter/dropspot.prom 2>/dev/null || true)
check "textfile service: ran to its end ($(host systemctl show -p Result --value dropspot-textfile.service))" \
  test "$(host systemctl show -p Result --value dropspot-textfile.service)" = success
check "textfile service: 22 OPEN in the collector's file" \
  grep -qx 'dropspot_port_verdict{target="127.0.0.1",protocol="tcp",port="22",verdict="OPEN"} 1' <<<"$prom"
check "textfile service: the agent took part, over the credential's token" \
  grep -qx 'dropspot_agent_up{target="::1"} 1' <<<"$prom"
check "textfile service: the file belongs to the collector's user" \
  test "$(host stat -c %U /var/lib/prometheus/node-exporter/dropspot.prom)" = prometheus
host systemctl enable --now dropspot-textfile.timer >/dev/null 2>&1 || true
check "textfile timer: enabled and waiting" test "$(host systemctl is-active dropspot-textfile.timer)" = active
host systemctl disable --now dropspot-textfile.timer >/dev/null 2>&1 || true

# 2. nginx stopped: the unit's state, read by the packaged unit's user.
host systemctl stop nginx
probe stopped --target "$SERVER6" --ports 80
check "stopped (v6): 80 NO_LISTENER" verdict_is stopped 80 NO_LISTENER
check "stopped: nginx.service is inactive" said stopped 80 'nginx\.service is inactive'
check "stopped: each packet captured once (no false retransmission note)" no_note stopped 'retransmitted|2 SYNs'

# 3. nginx failed to start (a broken configuration): failed, with the
#    journal's line that says why.
echo 'server { listen 80; bogus_directive on; }' | host tee /etc/nginx/sites-enabled/broken >/dev/null
host systemctl restart nginx 2>/dev/null || true
probe failed --target "$SERVER" --ports 80
check "failed: 80 NO_LISTENER" verdict_is failed 80 NO_LISTENER
check "failed: nginx.service failed" said failed 80 'nginx\.service (is )?failed'
check "failed: the journal's reason (nginx's own message)" said failed 80 'unknown directive .bogus_directive'
host rm /etc/nginx/sites-enabled/broken
host systemctl reset-failed nginx

# 4. nginx runs but is not enabled at boot: OPEN, and said.
host systemctl start nginx
host systemctl disable --quiet nginx 2>/dev/null
probe disabled --target "$SERVER" --ports 80
check "not enabled: 80 OPEN" verdict_is disabled 80 OPEN
check "not enabled: said (the listener's unit from its socket's cgroup: nginx is root's, the agent not)" \
  said disabled 80 'nginx\.service runs but is not enabled at boot'
check "not enabled: the summary names the unit that listens" said disabled 80 'nginx\.service on 0\.0\.0\.0:80' 
host systemctl enable --quiet nginx 2>/dev/null

# 4b. sshd socket-activated (ssh.socket, as Ubuntu 22.10+ ships it): the
#     listening socket is systemd's (cgroup init.scope), the unit named is
#     the socket unit; stopped, the socket unit is what to start.
host systemctl disable --quiet --now ssh.service 2>/dev/null
host systemctl enable --quiet --now ssh.socket 2>/dev/null
probe socket --target "$SERVER" --ports 22
check "socket unit: 22 OPEN" verdict_is socket 22 OPEN
check "socket unit: the summary names ssh.socket, not init.scope" said socket 22 'ssh\.socket on \[::\]:22'
check "socket unit: its state, and the service it starts" said socket 22 '^ssh\.service \(started by ssh\.socket'
check "socket unit: ssh.service not enabled is not a finding" no_note socket 'ssh\.service runs but is not enabled'
host systemctl stop ssh.socket ssh.service
probe socketstop --target "$SERVER" --ports 22
check "socket unit stopped: 22 NO_LISTENER" verdict_is socketstop 22 NO_LISTENER
check "socket unit stopped: ssh.socket is inactive" said socketstop 22 'ssh\.socket is inactive'
check "socket unit stopped: the advice starts the socket, no guessed unit name" jq_is "$TMPD/socketstop.json" \
  '[.ports[0].advice[] | select(test("systemctl"))] == ["systemctl start ssh.socket"]' true
host systemctl disable --quiet ssh.socket 2>/dev/null
host systemctl enable --quiet --now ssh.service 2>/dev/null

# 4c. postfix as Debian installs it ("Internet Site"): SMTP on 25 with
#     STARTTLS over its self-signed certificate, which mail servers accept.
probe postfix --target "$SERVER" --ports 25
check "postfix: 25 OPEN (STARTTLS between mail servers is not verified)" verdict_is postfix 25 OPEN
check "postfix: the greeting and the unverified certificate are said" \
  said postfix 25 '220 .* ESMTP Postfix.*unverified: self-signed certificate'
check "postfix: the listener's unit (the instance postfix@-)" said postfix 25 'postfix@-\.service on 0\.0\.0\.0:25'
check "postfix: the application probe's close is no late-SYN-ACK reset" no_note postfix 'answered the SYN-ACK'
# Bound to loopback only (main.cf): the line that does it and postconf's fix.
host postconf -e inet_interfaces=loopback-only
host systemctl restart postfix
lab wait-listen server 25 5 || true
probe postfixlo --target "$SERVER6" --ports 25
check "postfix loopback-only (v6): 25 LISTENER_WRONG_ADDRESS" verdict_is postfixlo 25 LISTENER_WRONG_ADDRESS
check "postfix loopback-only: main.cf's line named" said postfixlo 25 '^/etc/postfix/main\.cf:[0-9]+: inet_interfaces = loopback-only'
check "postfix loopback-only: postconf's fix first" jq_is "$TMPD/postfixlo.json" '.ports[0].advice[0]' \
  'postconf -e inet_interfaces=all && systemctl restart postfix'
# Stopped: postfix.service (the unit users start) is named.
host systemctl stop postfix
for _ in $(seq 50); do [ "$(host systemctl is-active postfix@-)" = inactive ] && break; sleep 0.1; done
probe postfixstop --target "$SERVER" --ports 25
check "postfix stopped: 25 NO_LISTENER" verdict_is postfixstop 25 NO_LISTENER
check "postfix stopped: postfix.service is inactive" said postfixstop 25 'postfix\.service is inactive'

# 4d. The mail host a VPS owner builds from the documentation: postscreen in
#     front of port 25 (Postfix's POSTSCREEN_README), the submission service
#     with dovecot's SASL (SASL_README), dovecot's IMAP and POP3 over its own
#     self-signed certificate, all of Debian's packages with their defaults.
host sh -c 'cat >/etc/dovecot/local.conf <<EOF
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF'
host postconf -e inet_interfaces=all smtpd_sasl_type=dovecot smtpd_sasl_path=private/auth \
  postscreen_greet_action=enforce
host postconf -M smtp/inet='smtp inet n - y - 1 postscreen' smtpd/pass='smtpd pass - - y - - smtpd' \
  dnsblog/unix='dnsblog unix - - y - 0 dnsblog' tlsproxy/unix='tlsproxy unix - - y - 0 tlsproxy' \
  submission/inet='submission inet n - y - - smtpd'
host postconf -P submission/inet/syslog_name=postfix/submission submission/inet/smtpd_tls_security_level=encrypt \
  submission/inet/smtpd_sasl_auth_enable=yes
host systemctl restart dovecot
host systemctl start postfix
for p in 25 587 110 143 993 995; do lab wait-listen server $p 10 || true; done
# Mail clients verify certificates: on 587, 143, 993, 110 and 995 a
# self-signed one is the finding (Thunderbird asks, many refuse); on 25
# mail servers deliver over it.
probe mail --target "$SERVER" --ports 25,587,110,143,993,995
check "postscreen: 25 OPEN although the greeting is held (postscreen_greet_wait, 6 s)" verdict_is mail 25 OPEN
check "postscreen: the greeting's time in the evidence (6 s and more)" \
  jq -e '.ports[] | select(.port == 25) | .app.fields.greeting_ms | tonumber >= 5500' "$TMPD/mail.json"
check "postscreen: the note names it and says mail servers wait" said mail 25 'as postscreen .*mail servers wait for it'
for p in 587 110 143 993 995; do
  check "mail clients verify: $p APP_FAILED on dovecot's/postfix's self-signed certificate" \
    said mail $p '^TCP connects, the (smtp|pop3|pop3s|imap|imaps) probe failed: (STARTTLS: |STLS: )?certificate verification failed: self-signed certificate'
done
# Accepted (--insecure, as a user who trusts that certificate): each service
# reads OPEN with what a mail client needs, logins offered over TLS only.
probe mailok --target "$SERVER" --ports 25,587,110,143,993,995 --insecure
for p in 25 587 110 143 993 995; do check "--insecure: $p OPEN" verdict_is mailok $p OPEN; done
check "25: behind postscreen, smtpd's STARTTLS is reached" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 25) | .app.fields.starttls' ok
check "587: EHLO over TLS offers dovecot's AUTH PLAIN" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 587) | .app.fields.auth' PLAIN
check "587: no AUTH before TLS (smtpd_tls_security_level=encrypt)" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 587) | .app.fields.ehlo | test("AUTH")' false
check "143: Dovecot's greeting" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 143) | .app.fields.greeting | test("^\\* OK .*Dovecot \\(Debian\\) ready")' true
check "143: STARTTLS, then AUTH=PLAIN over TLS" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 143) | .app.fields.starttls + " " + .app.fields.login' "ok PLAIN"
check "143: logins disabled before TLS (LOGINDISABLED)" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 143) | .app.fields.capabilities | test("LOGINDISABLED")' true
check "110: STLS, then USER and SASL PLAIN over TLS" jq_is "$TMPD/mailok.json" \
  '.ports[] | select(.port == 110) | .app.fields.starttls + " " + .app.fields.login' "ok USER PLAIN"
check "993/995: implicit TLS, Dovecot greets" jq_is "$TMPD/mailok.json" \
  '[.ports[] | select(.port == 993 or .port == 995) | .app.fields.greeting | test("Dovecot")] | all' true
# Submission without SASL (no smtpd_sasl_auth_enable): said, mail clients cannot send.
host postconf -P submission/inet/smtpd_sasl_auth_enable=no
host postfix reload >/dev/null 2>&1
probe noauth --target "$SERVER" --ports 587 --insecure
check "587 without AUTH: OPEN, and the note says clients cannot log in" said noauth 587 \
  'no AUTH offered over TLS on the submission port 587: mail clients cannot log in'

# 4e. Web servers as their documentation sets them up: apache2's default
#     site; nginx sending HTTP to HTTPS with HSTS (nginx.org's "return 301
#     https://$host$request_uri"), TLS over Debian's snakeoil certificate.
host systemctl stop nginx
host systemctl start apache2
probe apache --target "$SERVER" --ports 80
check "apache2 default site: 80 OPEN, HTTP 200 from Apache" jq_is "$TMPD/apache.json" \
  '.ports[0].verdict + " " + .ports[0].app.fields.status + " " + (.ports[0].app.fields.server | split("/")[0])' \
  "OPEN 200 Apache"
check "apache2: the listener named" said apache 80 'apache2\.service on'
host systemctl stop apache2
host sh -c 'rm /etc/nginx/sites-enabled/default && cat >/etc/nginx/sites-enabled/redirect <<"EOF"
server {
  listen 80 default_server;
  listen [::]:80 default_server;
  return 301 https://$host$request_uri;
}
server {
  listen 443 ssl default_server;
  listen [::]:443 ssl default_server;
  ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;
  ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;
  add_header Strict-Transport-Security "max-age=63072000" always;
  root /var/www/html;
  index index.nginx-debian.html;
}
EOF'
host systemctl start nginx
probe https --target "$SERVER" --ports 80,443
check "redirect: 80 OPEN, 301 to https on the same host" jq_is "$TMPD/https.json" \
  '.ports[0].verdict + " " + .ports[0].app.fields.status + " " + .ports[0].app.fields.location' \
  "OPEN 301 https://$SERVER/"
check "redirect: the note says browsers go on to 443" said https 80 'redirects to HTTPS .*test 443'
check "browsers verify: 443 APP_FAILED on the snakeoil certificate" said https 443 \
  'certificate verification failed: self-signed certificate'
probe httpsok --target "$SERVER" --ports 443 --insecure
check "--insecure: 443 OPEN, HTTP 200, HSTS seen" jq_is "$TMPD/httpsok.json" \
  '.ports[0].verdict + " " + .ports[0].app.fields.status + " " + .ports[0].app.fields.hsts' "OPEN 200 max-age=63072000"
host sh -c 'rm /etc/nginx/sites-enabled/redirect && ln -s ../sites-available/default /etc/nginx/sites-enabled/default'
host systemctl restart nginx

# 5. ufw as a VPS owner sets it up: deny by default, ssh and the agent's
#    port allowed, one port denied by name. (nothing listens on 8080)
host sh -c 'ufw default deny incoming && ufw allow 22/tcp && ufw allow 7411/tcp && ufw deny 8080/tcp &&
  ufw --force enable' >/dev/null
for family in 4 6; do
  r=ufw$family
  probe $r --target "$(server_addr $family)" --ports 22,80,8080
  check "ufw v$family: 22 OPEN" verdict_is $r 22 OPEN
  check "ufw v$family: 80 DROPPED_BY_HOST_FIREWALL" verdict_is $r 80 DROPPED_BY_HOST_FIREWALL
  check "ufw v$family: 80 names ufw's default policy" said $r 80 '^ufw default deny incoming'
  check "ufw v$family: 80 advice is ufw's own" said $r 80 '^ufw allow 80/tcp$'
  check "ufw v$family: one firewall command, not nft's or iptables' (ufw would undo them)" jq_is "$TMPD/$r.json" \
    '[.ports[] | select(.port == 80) | .advice[] | select(test("(^|: )(nft|iptables|ip6tables|ufw|firewall-cmd) "))] | length' 1
  check "ufw v$family: only ufw's own rules in the evidence (no IPv6 routing-header rule)" no_note $r 'rt-type'
  check "ufw v$family: 8080 names the ufw rule" said $r 8080 '^ufw deny 8080/tcp$'
  check "ufw v$family: no 'may match' (ufw's conntrack rules are evaluated)" no_note $r 'may match'
  check "ufw v$family: no drift claimed (ufw loads its own rules at boot)" no_note $r 'saved rules|someone changed'
  check "ufw v$family: no guess about a default-deny policy where the rules are named" no_note $r 'probably a default-deny'
done
# A rule for IPv4 only (`from 0.0.0.0/0`: ufw writes no IPv6 twin), probed
# by a name with an A and an AAAA record (issue 24): one run, both families.
host ufw allow from 0.0.0.0/0 to any port 80 proto tcp >/dev/null
lab hosts client vps.test "$SERVER" vps.test "$SERVER6"
probe ufwdual --target vps.test --ports 80
for i in 0 1; do jq ".targets[$i]" "$TMPD/ufwdual.json" >"$TMPD/ufwdual$i.json"; done
check "ufw IPv4-only rule: a report per address" jq_is "$TMPD/ufwdual.json" '[.targets[].address] | join(" ")' "$SERVER $SERVER6"
check "ufw IPv4-only rule: 80 OPEN over IPv4" verdict_is ufwdual0 80 OPEN
check "ufw IPv4-only rule: 80 DROPPED_BY_HOST_FIREWALL over IPv6" verdict_is ufwdual1 80 DROPPED_BY_HOST_FIREWALL
check "ufw IPv4-only rule: the IPv6 report names ufw's default policy" said ufwdual1 80 '^ufw default deny incoming'
check "ufw IPv4-only rule: the note says IPv6 meets the firewall" jq -e \
  '.targets[0].addressNotes | any(test("port 80 works over IPv4 .* is dropped by the server.s firewall over IPv6"))' "$TMPD/ufwdual.json"
host ufw delete allow from 0.0.0.0/0 to any port 80 proto tcp >/dev/null
# A port opened by hand beside ufw (iptables -I INPUT ... ACCEPT): open now,
# gone at ufw's next reload or boot: said, with ufw's way to keep it.
host iptables -I INPUT -p tcp --dport 80 -j ACCEPT
probe ufwhand --target "$SERVER" --ports 22,80
check "ufw + hand rule: 80 OPEN" verdict_is ufwhand 80 OPEN
check "ufw + hand rule: not kept by ufw, and what then blocks it" said ufwhand 80 \
  '^allowed now only by a rule ufw did not make \(table ip filter chain INPUT handle [0-9]+: tcp dport 80 .*accept\): .*ufw default deny incoming'
check "ufw + hand rule: ufw's way to keep it, and nothing else" jq_is "$TMPD/ufwhand.json" \
  '.ports[] | select(.port == 80) | .advice | join(" | ")' 'ufw allow 80/tcp'
check "ufw + hand rule: 22 (ufw's own allow) has nothing to say" no_note ufwhand 'did not make.*dport 22'
host ufw --force disable >/dev/null

# 6. firewalld on a fresh boot: the default zone public (ssh, dhcpv6-client),
#    the agent's port added permanently as agent.md says.
boot_host
host systemctl start firewalld
host sh -c 'firewall-cmd -q --permanent --add-port=7411/tcp && firewall-cmd -q --reload'
fw_first() { jq -r --argjson p "$2" '.ports[] | select(.port == $p) | .evidence.firewall[0] // ""' "$TMPD/$1.json"; }
for family in 4 6; do
  r=firewalld$family
  probe $r --target "$(server_addr $family)" --ports 22,80,8080
  check "firewalld v$family: 22 OPEN" verdict_is $r 22 OPEN
  check "firewalld v$family: 80 REJECTED_BY_HOST_FIREWALL" verdict_is $r 80 REJECTED_BY_HOST_FIREWALL
  check "firewalld v$family: the zone leads the firewall evidence" \
    grep -q '^firewalld zone public (default zone.*does not allow 80/tcp' <<<"$(fw_first $r 80)"
  check "firewalld v$family: 80 advice names the http service" \
    said $r 80 '^firewall-cmd --permanent --zone=public --add-service=http && firewall-cmd --reload$'
  check "firewalld v$family: 8080 advice is the port, not a service that lists it" \
    said $r 8080 '^firewall-cmd --permanent --zone=public --add-port=8080/tcp && firewall-cmd --reload$'
  check "firewalld v$family: no 'may match' (ct status dnat: a first SYN is not DNATed)" no_note $r 'may match'
  check "firewalld v$family: blocked now and permanently: no drift claimed" no_note $r 'not saved|someone changed'
done
# Opened at runtime only: open now, gone at the next reload: said.
host firewall-cmd -q --add-service=http
probe runtime --target "$SERVER" --ports 80
check "firewalld runtime-only: 80 OPEN" verdict_is runtime 80 OPEN
check "firewalld runtime-only: 'allowed now, not saved'" said runtime 80 '^allowed now, not saved'
# Made permanent: /etc/firewalld (0750 root:root) read through the unit's
# group root, so no drift is claimed.
host firewall-cmd -q --runtime-to-permanent
probe permanent --target "$SERVER" --ports 80
check "firewalld permanent: 80 OPEN" verdict_is permanent 80 OPEN
check "firewalld permanent: /etc/firewalld read, no drift claimed" no_note permanent 'not saved|not compared|someone changed'

# 7. The output path: the SYN passes, a rule drops the server's answer.
#    nginx on 80 (an nft rule), sshd on 22 (an iptables-nft rule).
boot_host
host nft -f - <<'NFT'
table inet egress {
	chain output {
		type filter hook output priority filter; policy accept;
		tcp sport 80 drop comment "the reply of port 80"
	}
}
NFT
host iptables -A OUTPUT -p tcp --sport 22 -j DROP
probe output --target "$SERVER" --ports 22,80
for p in 22 80; do
  check "output path: $p DROPPED_BY_HOST_FIREWALL" verdict_is output $p DROPPED_BY_HOST_FIREWALL
  check "output path: $p says the reply is dropped on its way out" said output $p 'drops its reply on the way out'
done
check "output path: 80 names the nft rule" said output 80 '^table inet egress chain output handle [0-9]+: tcp sport 80 drop'
check "output path: 80 advice removes it" said output 80 '^nft delete rule inet egress output handle [0-9]+$'
check "output path: 22 names the iptables rule" said output 22 '^iptables: -A OUTPUT -p tcp -m tcp --sport 22 -j DROP$'

# 8. iptables-persistent's saved rules, as `netfilter-persistent save`
#    writes them (0640 root:root, read through the unit's group root): a
#    DROP saved but deleted at runtime is open now and closed after a reboot.
boot_host
host sh -c 'mkdir -p /etc/iptables && touch /etc/iptables/rules.v4 && chmod 0640 /etc/iptables/rules.v4 &&
  iptables -A INPUT -p tcp --dport 80 -j DROP && iptables-save >/etc/iptables/rules.v4 &&
  iptables -D INPUT -p tcp --dport 80 -j DROP'
probe persistent --target "$SERVER" --ports 22,80
check "iptables-persistent: 80 OPEN" verdict_is persistent 80 OPEN
check "iptables-persistent: closed after a reboot, by the saved rule" said persistent 80 \
  '^allowed now, not saved: gone after reboot: the saved rules \(.*/etc/iptables/rules\.v4.*\) block port 80: iptables: -A INPUT -p tcp -m tcp --dport 80 -j DROP'
check "iptables-persistent: the advice saves with iptables-persistent, not nft" said persistent 80 \
  '^netfilter-persistent save \(package iptables-persistent\)$'
check "iptables-persistent: 22, the same now and saved, has nothing to say" no_note persistent 'not saved.*port 22'

# 9. iptables-legacy selected (update-alternatives) and a rule added with it:
#    its tables are listed in /proc/net/ip_tables_names (0440 root:root),
#    read through the unit's group root.
boot_host
host update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
host iptables -A INPUT -p tcp --dport 8080 -j DROP
probe legacy --target "$SERVER" --ports 80,8080
check "iptables-legacy: 80 OPEN" verdict_is legacy 80 OPEN
check "iptables-legacy: 8080 DROPPED_BY_HOST_FIREWALL" verdict_is legacy 8080 DROPPED_BY_HOST_FIREWALL
check "iptables-legacy: the rule named" said legacy 8080 '^IPv4: iptables-legacy: -A INPUT -p tcp -m tcp --dport 8080 -j DROP$|^iptables-legacy: -A INPUT -p tcp -m tcp --dport 8080 -j DROP$'

# 10. The unit without the group root (a drop-in, as docs/security.md says
#     one may): what it cannot read is said, never silence.
host mkdir -p /etc/systemd/system/dropspot-agent.service.d
printf '[Service]\nSupplementaryGroups=\nSupplementaryGroups=systemd-journal\n' |
  host tee /etc/systemd/system/dropspot-agent.service.d/no-root-group.conf >/dev/null
host sh -c 'mkdir -p /etc/iptables && printf "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n" >/etc/iptables/rules.v4 &&
  chmod 0640 /etc/iptables/rules.v4'
host systemctl daemon-reload
host systemctl restart dropspot-agent
lab wait-listen server 7411 10
agent_groups=$(host ps -o supgrp= -C agent)
check "the drop-in took the group root away ($agent_groups)" test "${agent_groups/root/}" = "$agent_groups"
probe nogroup --target "$SERVER" --ports 8080
check "without the group root: 8080 still DROPPED_BY_HOST_FIREWALL" verdict_is nogroup 8080 DROPPED_BY_HOST_FIREWALL
check "without the group root: the legacy rules not read, why, what reads them" said nogroup 8080 \
  'iptables-legacy rules not read .*ip_tables_names is root.s only.*sudo iptables-legacy-save'
check "without the group root: never 'no rule explains it'" no_note nogroup 'no firewall rule explains it|read the server.s rulesets'
check "without the group root: rules.v4 not compared, said" said nogroup 8080 \
  '^saved rules: /etc/iptables/rules.v4 not compared: Permission denied \(root.s only: `sudo agent check` compares it\)'
host agent check --ports 8080 --format json >"$TMPD/legacy-check.json" || true
check "'sudo agent check', as the note says, names the rule" jq_is "$TMPD/legacy-check.json" \
  '.ports[0].evidence.firewall[0]' 'IPv4: iptables-legacy: -A INPUT -p tcp -m tcp --dport 8080 -j DROP'

# 11. exim4, Debian's default MTA, as it installs (it conflicts with postfix:
#     a host of its own). debconf's default is local mail only, bound to
#     127.0.0.1 and ::1: from outside that is LISTENER_WRONG_ADDRESS, with
#     the line that does it and the fix; the fix applied, port 25 is OPEN
#     with exim's greeting and STARTTLS over the certificate it made itself.
REALHOST_IMAGE=exim boot_host
probe exim --target "$SERVER" --ports 25
check "exim4 as installed: 25 LISTENER_WRONG_ADDRESS" verdict_is exim 25 LISTENER_WRONG_ADDRESS
check "exim4: the listener named" said exim 25 'exim4\.service'
check "exim4: update-exim4.conf.conf's line named" said exim 25 \
  "^/etc/exim4/update-exim4\.conf\.conf:[0-9]+: dc_local_interfaces='127\.0\.0\.1 ; ::1' \(exim4\)"
fix=$(jq -r '.ports[0].advice[] | select(test("update-exim4.conf &&"))' "$TMPD/exim.json")
check "exim4: the fix is a command to paste" test -n "$fix"
host sh -c "$fix"
for _ in $(seq 50); do host ss -Hltn 'sport = :25' | grep -Eq '(0\.0\.0\.0|\*|\[::\]):25' && break; sleep 0.2; done
probe eximfixed --target "$SERVER" --ports 25
check "exim4 after the advised command: 25 OPEN" verdict_is eximfixed 25 OPEN
check "exim4: its greeting" jq_is "$TMPD/eximfixed.json" '.ports[0].app.fields.greeting | test("^220 .*ESMTP Exim 4")' true
check "exim4: STARTTLS over its own self-signed certificate, said, not failed (port 25)" jq_is "$TMPD/eximfixed.json" \
  '.ports[0].app.fields.starttls + " " + (.ports[0].summary | test("unverified: .*fine between mail servers") | tostring)' \
  "ok true"

e2e_finish
