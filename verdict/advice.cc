// Advice: the commands to run next, per verdict.
#include <algorithm>

#include "common/firewall_rule.h"
#include "verdict/internal.h"

namespace dropspot::verdict_detail {

namespace {

/// The service a port usually belongs to, for `systemctl status X` advice.
std::string service_guess(std::uint32_t port) {
  switch (port) {
    case 22: return "sshd";
    case 25:
    case 465:
    case 587: return "postfix";
    case 80:
    case 443: return "nginx";
    case 110:
    case 143:
    case 993:
    case 995: return "dovecot";
    case 3306: return "mariadb";
    case 5432: return "postgresql";
    default: return "<service>";
  }
}

/// What the agent would add (`why`: "localise the drop"), said as fits the
/// way it was asked for: never "use --ssh" when --ssh just failed.
std::string agent_hint(const port_input& in, const std::string& why, const std::string& fallback) {
  const auto status = in.agent.status();
  const bool failed = status != v1::AgentInfo::CONNECTED && status != v1::AgentInfo::DISABLED &&
                      status != v1::AgentInfo::STATUS_UNSPECIFIED;
  if (failed && in.agent.path() == "ssh")
    return "the agent would " + why + ", but it could not be used through SSH (the agent line says why)" +
           (fallback.empty() ? std::string() : "; meanwhile: " + fallback);
  if (status == v1::AgentInfo::AUTH_FAILED)
    return "the agent answered but refused the token: use the one in the server's /etc/dropspot/token, and it will " +
           why;
  return "run the agent on the server to " + why + " (prober --ssh USER@" + host_of(in) + " ... runs it through SSH)" +
         (fallback.empty() ? std::string() : ", or " + fallback);
}

void app_advice(const port_input& in, std::vector<std::string>& advice) {
  const std::string h = host_of(in);
  const std::string n = num(in.port);
  const std::string& k = in.probe;
  if (k == "http")
    advice.push_back("see what the server answers: curl -v http://" + host_port(h, in.port) + "/");
  else if (k == "https")
    advice.push_back("check TLS and the certificate: openssl s_client -connect " + host_port(h, in.port) +
                     " -servername " + h + " (expired or wrong-name certificate? renew with certbot renew)");
  else if (k == "smtp" || k == "smtps")
    advice.push_back("read the greeting: openssl s_client -connect " + host_port(h, in.port) +
                     (k == "smtp" ? " -starttls smtp" : "") +
                     "; a 4xx/5xx greeting names the reason (postfix: journalctl -u postfix)");
  else if (k == "imap" || k == "imaps" || k == "pop3" || k == "pop3s")
    advice.push_back("read the greeting and TLS: openssl s_client -connect " + host_port(h, in.port) +
                     (k == "imap"   ? " -starttls imap"
                      : k == "pop3" ? " -starttls pop3"
                                    : "") +
                     "; on the server: doveconf -n and journalctl -u dovecot");
  else if (k == "ssh")
    advice.push_back("see where the SSH handshake stops: ssh -v -p " + n + " " + h +
                     "; on the server: journalctl -u sshd");
  else
    advice.push_back(
        "the service accepted the connection but did not answer as expected: check its logs "
        "(journalctl -u " +
        service_guess(in.port) + ")");
  // Clients verify on every port but 25: a certificate they refuse is the
  // fault to fix on the server, not in the client.
  const bool address = h.find(':') != std::string::npos || h.find_first_not_of("0123456789.") == std::string::npos;
  if (in.app && in.app->detail().find("certificate verification failed") != std::string::npos && k != "https")
    advice.push_back("mail clients refuse this certificate: get one for the name they use (certbot certonly -d " +
                     (address ? std::string("mail.example.org") : h) +
                     ") and point the server at it (postfix: smtpd_tls_cert_file, smtpd_tls_key_file; dovecot: "
                     "ssl_cert, ssl_key in conf.d/10-ssl.conf), or make the clients trust this one");
  advice.push_back("systemctl status " + service_guess(in.port) + "; journalctl -xe --no-pager");
}

}  // namespace

std::string host_of(const port_input& in) {
  if (!in.target.empty()) return in.target;
  if (!in.target_address.empty()) return in.target_address;
  return "HOST";
}

std::vector<std::string> advise(Verdict v, const port_input& in, const listener_view& lv, const advice_context& ctx) {
  const std::string& dst = ctx.dst;
  std::vector<std::string> a;
  const std::string n = num(in.port);
  const std::string h = host_of(in);
  const std::string svc = !lv.accepting.empty() && !lv.accepting.front()->unit().empty() ? lv.accepting.front()->unit()
                          : !lv.other.empty() && !lv.other.front()->unit().empty()       ? lv.other.front()->unit()
                                                                                         : service_guess(in.port);
  const std::string tcpdump = "on the server: tcpdump -ni any port " + n + " (then connect again)";
  const std::string tnc = "from a Windows client: Test-NetConnection " + h + " -Port " + n;
  const std::string op25b =
      "port 25 from consumer lines is often blocked by the ISP (OP25B): submit mail on 587 (STARTTLS) or 465 "
      "(TLS) instead, or test from another network";
  const std::string fw_list =
      "list the server's rules: nft list ruleset; iptables -S; ip6tables -S; "
      "firewall-cmd --list-all; ufw status verbose";
  const std::string fw_open = "open the port: firewall-cmd --permanent --add-port=" + n +
                              "/tcp && firewall-cmd --reload (firewalld), ufw allow " + n +
                              "/tcp (ufw), or an accept rule before the drop/reject";
  const std::string fw_save =
      "rules added at runtime vanish at reboot unless saved: firewall-cmd "
      "--runtime-to-permanent, netfilter-persistent save, or nft list ruleset > "
      "/etc/nftables.conf";
  switch (v) {
    case v1::OPEN: break;
    case v1::APP_FAILED: app_advice(in, a); break;
    case v1::PATH_MTU_BLACKHOLE:
      for (auto& s : path_mtu_advice(in)) a.push_back(std::move(s));
      break;
    case v1::DROPPED_IN_TRANSIT:
      if (ctx.failed_locally) {
        a.push_back(
            "the connection never left this machine: check its firewall (nft list ruleset; iptables -S; "
            "on Windows: Get-NetFirewallRule) and its route: ip route get " +
            (in.target_address.empty() ? h : in.target_address));
        a.push_back(tnc);
        break;
      }
      a.push_back("check the hosting provider's packet filter / security group: allow TCP " + n + " inbound");
      if (in.port == 25) a.push_back(op25b);
      a.push_back("check the client's own firewall, or try from another network");
      a.push_back(in.hop ? "the hop localisation is in the evidence; confirm with: traceroute -T -p " + n + " " + h
                         : "localise the drop: traceroute -T -p " + n + " " + h);
      a.push_back(tcpdump + ": nothing should arrive");
      a.push_back(tnc);
      break;
    case v1::REJECTED_IN_TRANSIT:
      a.push_back(
          "the rejecting hop is in the evidence: near the server it is the provider's packet filter / "
          "security group (allow TCP " +
          n + " inbound); near you, your firewall or the ISP");
      if (in.port == 25) a.push_back(op25b);
      a.push_back("see the path: traceroute -T -p " + n + " " + h);
      a.push_back(tcpdump + (ctx.syn_seen ? ": the SYN arrives, no reset leaves" : ": nothing should arrive"));
      a.push_back(tnc);
      break;
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL: {
      // The agent that read the rules gave the commands for this host's
      // manager (host_advice, first in the report): no generic list of every
      // manager's commands then, and no fix said twice.
      const bool host_knows = in.firewall_inspected && !in.host_advice.empty();
      const bool reply_path = !in.firewall.empty() && in.firewall.front() == output_path_marker;
      // The agent gives the removal of the rules it may remove itself; a
      // rule a manager made (ufw, firewalld) is changed through the manager.
      if (!host_knows)
        for (const auto& rule : in.firewall)
          if (auto fix = firewall_fix_command(rule, static_cast<std::uint16_t>(in.port), reply_path);
              !fix.empty() && std::find(in.host_advice.begin(), in.host_advice.end(), fix) == in.host_advice.end())
            a.push_back("remove the rule that blocks it (" + rule + "): " + fix);
      if (!in.firewall_inspected || in.firewall.empty())
        a.push_back(fw_list + (v == v1::REJECTED_BY_HOST_FIREWALL
                                   ? " (look for a reject rule: tcp reset, icmp admin-prohibited or host-prohibited)"
                                   : " (look for a drop rule or a default drop policy)"));
      if (!host_knows) {
        a.push_back(fw_open);
        a.push_back(fw_save);
      }
    }
      if (lv.fit == listener_view::none)
        a.push_back("then start the service: systemctl status " + svc + "; systemctl enable --now " + svc +
                    "; ss -tlnp 'sport = :" + n + "'");
      break;
    case v1::NO_LISTENER:
      a.push_back("check what listens: ss -tlnp 'sport = :" + n + "' (all listeners: ss -tulnp state listening)");
      // The agent found the unit and gave its command (first in the report):
      // no guess at a unit name beside it.
      if (!in.service_summary.empty() && !in.host_advice.empty()) break;
      a.push_back("start it and enable it at boot: systemctl status " + svc + "; systemctl enable --now " + svc);
      a.push_back("if it failed to start: journalctl -xe --no-pager; journalctl -u " + svc +
                  "; less /var/log/messages");
      a.push_back("if it listens on another port, fix its port setting (Listen / listen / Port) and restart it");
      break;
    case v1::LISTENER_WRONG_ADDRESS: {
      for (const auto* l : lv.other) {
        a.push_back(bind_fix(*l, in.port, dst));
        if (a.size() >= 2) break;
      }
      a.push_back("then restart it: systemctl restart " + svc + "; check: ss -tlnp 'sport = :" + n + "'");
      break;
    }
    case v1::REPLY_LOST:
      a.push_back(
          "the server's answer leaves but never arrives: check the provider's filter for outbound rules "
          "(a stateless filter needs the reply allowed) and the client's firewall");
      a.push_back("check the server's return route: ip route get " +
                  (in.agent.peer_address().empty() ? std::string("<client address>") : in.agent.peer_address()) +
                  " (asymmetric routing, a second interface, policy routing)");
      a.push_back(tcpdump + ": the SYN-ACK leaves");
      a.push_back(tnc);
      break;
    case v1::INTERCEPTED:
      a.push_back("something else answered for " + h +
                  ": a transparent proxy, the ISP, port forwarding to "
                  "another host, or the name resolving elsewhere (check: dig " +
                  h + ")");
      a.push_back(tcpdump + ": nothing arrives although the prober connects");
      a.push_back(
          "compare what answers (banner, TLS certificate) with the server's own service, and test from "
          "another network");
      if (in.port == 25)
        a.push_back("ISPs that block port 25 (OP25B) sometimes redirect it to their own relay: use 587 or 465");
      break;
    case v1::FILTERED:
      a.push_back(agent_hint(in, "localise the drop", tcpdump));
      a.push_back(
          "check the provider's packet filter / security group and the server's firewall (nft list "
          "ruleset; iptables -S) for TCP " +
          n);
      if (in.port == 25) a.push_back(op25b);
      a.push_back(tnc);
      break;
    case v1::CLOSED:
      a.push_back("on the server: ss -tlnp 'sport = :" + n + "'; systemctl status " + svc);
      a.push_back("if something listens, look for a reject rule: nft list ruleset; iptables -S");
      a.push_back(agent_hint(in, "tell these apart", ""));
      break;
    default: break;
  }
  return a;
}

}  // namespace dropspot::verdict_detail
