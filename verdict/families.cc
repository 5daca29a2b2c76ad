// A name's addresses compared (issue 24): the classic half failure of a
// dual-stack host, a port that works over IPv4 and fails over IPv6 (or the
// other way), said in one line with what to check for the failing family.
#include <map>
#include <set>

#include "verdict/verdict.h"

namespace dropspot {

namespace {

/// An IPv6 address as text (an IPv4-mapped one, "::ffff:192.0.2.1", is IPv4).
bool is_v6(const std::string& address) {
  return address.find(':') != std::string::npos && address.find('.') == std::string::npos;
}

/// How a port fares, as a predicate: "works", "is dropped in transit".
std::string fares(v1::Verdict v) {
  switch (v) {
    case v1::OPEN: return "works";
    case v1::APP_FAILED: return "connects but the application fails";
    case v1::DROPPED_IN_TRANSIT: return "is dropped in transit";
    case v1::REJECTED_IN_TRANSIT: return "is rejected in transit";
    case v1::DROPPED_BY_HOST_FIREWALL: return "is dropped by the server's firewall";
    case v1::REJECTED_BY_HOST_FIREWALL: return "is rejected by the server's firewall";
    case v1::NO_LISTENER: return "finds nothing listening";
    case v1::LISTENER_WRONG_ADDRESS: return "finds the service not listening on that address";
    case v1::REPLY_LOST: return "loses the server's replies on the way back";
    case v1::INTERCEPTED: return "is answered by another host";
    case v1::FILTERED: return "gets no answer";
    case v1::CLOSED: return "is refused";
    case v1::PATH_MTU_BLACKHOLE: return "loses full-size packets";
    default: return "is not decided";
  }
}

/// What to check for a family whose port fails with `v`: the likeliest
/// place first, then the rest of the usual suspects.
std::string checks(v1::Verdict v, bool v6, std::uint32_t port) {
  const std::string record = v6 ? "the AAAA record" : "the A record";
  const std::string filter = v6 ? "the provider's IPv6 filter (security group)" : "the provider's IPv4 filter";
  std::string rules = v6 ? "ip6tables / nft ip6 and inet rules (an IPv4-only allow rule has no ip6tables twin)"
                         : "iptables / nft ip and inet rules";
  const std::string p = std::to_string(port);
  const std::string listen = v6 ? "that the service listens on [::] (nginx: 'listen [::]:" + p + ";')"
                                : "that the service listens on 0.0.0.0 (nginx: 'listen " + p + ";')";
  switch (v) {
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
    case v1::REPLY_LOST:
    case v1::FILTERED: return filter + " and " + record + " (that it is this server's)";
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL: return rules;
    case v1::NO_LISTENER:
    case v1::LISTENER_WRONG_ADDRESS:
    case v1::CLOSED: return listen + " and " + rules;
    case v1::INTERCEPTED: return record + " (it may point at another host, an old server) and " + filter;
    default: return record + ", " + filter + ", " + rules + " and " + listen;
  }
}

struct seen_at {
  std::string address;
  bool v6 = false;
  v1::Verdict verdict{};
};

}  // namespace

std::vector<std::string> address_notes(const std::vector<v1::Report>& reports) {
  std::vector<std::string> out;
  // Per port (TCP first, as the reports list them), how each address fared.
  std::vector<std::pair<std::uint32_t, bool>> order;
  std::map<std::pair<std::uint32_t, bool>, std::vector<seen_at>> by_port;
  std::size_t tested = 0;
  for (const auto& r : reports) {
    if (!r.error().empty()) continue;
    ++tested;
    for (const auto& p : r.ports()) {
      const std::pair key{p.port(), p.protocol() == v1::UDP};
      auto& list = by_port[key];
      if (list.empty()) order.push_back(key);
      list.push_back({r.address(), is_v6(r.address()), p.verdict()});
    }
  }
  if (tested < 2) return out;
  for (const auto& key : order) {
    const auto& list = by_port[key];
    std::set<v1::Verdict> verdicts;
    for (const auto& s : list) verdicts.insert(s.verdict);
    if (verdicts.size() < 2) continue;
    std::string line = "port " + std::to_string(key.first) + (key.second ? "/udp" : "");
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i > 0) line += i + 1 == list.size() ? " and" : ",";
      line += " " + fares(list[i].verdict) + " over " + (list[i].v6 ? "IPv6" : "IPv4") + " (" + list[i].address + ")";
    }
    // Who suffers: the failing family's clients.
    bool v4_works = false, v6_works = false, v4_fails = false, v6_fails = false;
    const seen_at* failing = nullptr;
    for (const auto& s : list) {
      const bool works = s.verdict == v1::OPEN;
      (s.v6 ? (works ? v6_works : v6_fails) : (works ? v4_works : v4_fails)) = true;
      if (!works && !failing) failing = &s;
    }
    if (v4_works && v6_fails)
      line +=
          ": clients that prefer IPv6 (mail servers, ssh, curl, monitoring) will fail; browsers fall back to IPv4 "
          "and hide it";
    else if (v6_works && v4_fails)
      line += ": clients without IPv6 (most of them) will fail";
    if (failing) line += "; check " + checks(failing->verdict, failing->v6, key.first);
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace dropspot
