#include "agent/firewall.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

extern char** environ;

namespace dropspot::agent {

using json = nlohmann::json;

const char* to_string(fw_action a) {
  switch (a) {
    case fw_action::none: return "none";
    case fw_action::accept: return "accept";
    case fw_action::drop: return "drop";
    case fw_action::reject: return "reject";
  }
  return "?";
}

namespace {

/// A three-valued match: an unknown expression "may match".
enum class tri { no, yes, maybe };
tri negate(tri t) { return t == tri::yes ? tri::no : t == tri::no ? tri::yes : tri::maybe; }

constexpr std::uint64_t tcp_syn = 0x02;

std::optional<std::uint64_t> tcp_flag_bit(std::string_view name) {
  static const std::pair<std::string_view, std::uint64_t> flags[] = {
      {"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08},
      {"ack", 0x10}, {"urg", 0x20}, {"ecn", 0x40}, {"cwr", 0x80}};
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [n, bit] : flags)
    if (lower == n) return bit;
  return std::nullopt;
}

std::optional<asio::ip::address> parse_address(std::string_view s) {
  asio::error_code ec;
  auto a = asio::ip::make_address(std::string(s), ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

/// An address as bytes (4 or 16) for prefix and range comparisons.
std::vector<unsigned char> address_bytes(const asio::ip::address& a) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

bool in_prefix(const asio::ip::address& a, const asio::ip::address& net, unsigned len) {
  if (a.is_v4() != net.is_v4()) return false;
  auto x = address_bytes(a), y = address_bytes(net);
  for (unsigned i = 0; i < x.size() && len > 0; ++i) {
    const unsigned bits = std::min(len, 8u);
    const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    len -= bits;
  }
  return true;
}

bool in_range(const asio::ip::address& a, const asio::ip::address& lo, const asio::ip::address& hi) {
  if (a.is_v4() != lo.is_v4() || a.is_v4() != hi.is_v4()) return false;
  auto x = address_bytes(a);
  return x >= address_bytes(lo) && x <= address_bytes(hi);
}

/// "198.51.100.0/25" or "2001:db8::1": does the address match it?
std::optional<bool> address_matches_cidr(const asio::ip::address& a, std::string_view cidr) {
  auto slash = cidr.find('/');
  auto net = parse_address(cidr.substr(0, slash));
  if (!net) return std::nullopt;
  unsigned len = net->is_v4() ? 32 : 128;
  if (slash != std::string_view::npos) {
    auto rest = cidr.substr(slash + 1);
    if (rest.find('.') != std::string_view::npos) {  // iptables may print a dotted mask
      auto mask = parse_address(rest);
      if (!mask || !mask->is_v4()) return std::nullopt;
      len = static_cast<unsigned>(__builtin_popcount(mask->to_v4().to_uint()));
    } else {
      len = static_cast<unsigned>(std::atoi(std::string(rest).c_str()));
    }
  }
  return in_prefix(a, *net, len);
}

/// j[key] for JSON that came from outside: null when j is not an object or
/// has no such key (nlohmann's const operator[] is undefined behaviour then).
const json& field(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  const auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::string render_value(const json& v);

std::string render_left(const json& l) {
  if (l.is_object()) {
    if (l.contains("payload")) {
      const auto& p = field(l, "payload");
      return p.value("protocol", std::string("?")) + " " + p.value("field", std::string("?"));
    }
    if (l.contains("meta")) {
      auto key = field(l, "meta").value("key", std::string("?"));
      if (key == "iifname" || key == "oifname" || key == "iif" || key == "oif") return key;
      return "meta " + key;
    }
    if (l.contains("ct")) return "ct " + field(l, "ct").value("key", std::string("?"));
    if (l.contains("&") && field(l, "&").is_array() && field(l, "&").size() == 2)
      return render_left(field(l, "&")[0]) + " & " + render_value(field(l, "&")[1]);
    if (l.contains("concat") && field(l, "concat").is_array()) {
      std::string out;
      for (const auto& e : field(l, "concat")) out += (out.empty() ? "" : " . ") + render_left(e);
      return out;
    }
  }
  return render_value(l);
}

std::string render_value(const json& v) {
  if (v.is_number_unsigned() || v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += (out.empty() ? "" : ",") + render_value(e);
    return out;
  }
  if (v.is_object()) {
    if (v.contains("set") && field(v, "set").is_array()) {
      std::string out;
      for (const auto& e : field(v, "set")) {
        if (e.is_array() && e.size() == 2)
          out += (out.empty() ? "" : ", ") + render_value(e[0]) + " : " + render_value(e[1]);
        else
          out += (out.empty() ? "" : ", ") + render_value(e);
      }
      return "{ " + out + " }";
    }
    if (v.contains("prefix")) {
      const auto& prefix = field(v, "prefix");
      return render_value(field(prefix, "addr")) + "/" + render_value(field(prefix, "len"));
    }
    if (v.contains("range") && field(v, "range").is_array() && field(v, "range").size() == 2)
      return render_value(field(v, "range")[0]) + "-" + render_value(field(v, "range")[1]);
    if (v.contains("elem")) return render_value(field(field(v, "elem"), "val"));
    if (v.contains("concat")) {
      std::string out;
      for (const auto& e : field(v, "concat")) out += (out.empty() ? "" : " . ") + render_value(e);
      return out;
    }
    for (const char* verdict : {"accept", "drop", "continue", "return"})
      if (v.contains(verdict)) return verdict;
    if (v.contains("jump")) return "jump " + field(v, "jump").value("target", std::string("?"));
    if (v.contains("goto")) return "goto " + field(v, "goto").value("target", std::string("?"));
  }
  return v.dump();
}

/// One statement or expression of a rule, as nft would print it (close enough).
std::string render_expr(const json& e) {
  if (!e.is_object() || e.empty()) return e.dump();
  // Not `const auto& [key, val] = *e.items().begin()`: that binds to a
  // temporary iteration_proxy_value that is gone by the next line.
  const std::string& key = e.begin().key();
  const json& val = e.begin().value();
  if (key == "match") {
    auto op = val.value("op", std::string("=="));
    auto l = render_left(field(val, "left"));
    auto r = render_value(field(val, "right"));
    if (op == "==" || op == "in") return l + " " + r;
    return l + " " + op + " " + r;
  }
  if (key == "vmap") return render_left(field(val, "key")) + " vmap " + render_value(field(val, "data"));
  if (key == "accept" || key == "drop" || key == "continue" || key == "return") return key;
  if (key == "jump" || key == "goto") return key + " " + val.value("target", std::string("?"));
  if (key == "reject") {
    std::string out = "reject";
    if (val.is_object()) {
      auto type = val.value("type", std::string());
      if (type == "tcp reset") out += " with tcp reset";
      else if (!type.empty())
        out += " with " + type + (val.contains("expr") ? " " + render_value(field(val, "expr")) : "");
    }
    return out;
  }
  if (key == "counter") return "counter";
  if (key == "log") return "log";
  if (key == "xt") return "xt " + val.value("type", std::string()) + " " + val.value("name", std::string());
  return key;
}

std::string render_rule(const json& exprs) {
  std::string out;
  if (!exprs.is_array()) return out;
  for (const auto& e : exprs) out += (out.empty() ? "" : " ") + render_expr(e);
  return out;
}

std::string chain_key(std::string_view family, std::string_view table, std::string_view chain) {
  return std::string(family) + " " + std::string(table) + " " + std::string(chain);
}

}  // namespace

// ---------------------------------------------------------------------------
// nftables: parsing
// ---------------------------------------------------------------------------

struct nft_rule_rec {
  std::string family, table, chain;
  std::uint64_t handle = 0;
  json expr;
  std::string text;  ///< from `nft -a list ruleset`, else rendered
};
struct nft_chain_rec {
  std::string family, table, name;
  bool base = false;
  std::string hook, policy, type, device;
  long long prio = 0;
  std::size_t order = 0;
  std::vector<std::size_t> rules;  ///< indices into impl::rules
};
struct nft_ruleset::impl {
  std::vector<nft_rule_rec> rules;
  std::map<std::string, nft_chain_rec> chains;  ///< by chain_key
  std::map<std::string, json> sets;             ///< by chain_key(family, table, set): its "elem"
};

nft_ruleset::nft_ruleset() : impl_(std::make_unique<impl>()) {}
nft_ruleset::~nft_ruleset() = default;
nft_ruleset::nft_ruleset(nft_ruleset&&) noexcept = default;
nft_ruleset& nft_ruleset::operator=(nft_ruleset&&) noexcept = default;
std::size_t nft_ruleset::rule_count() const { return impl_->rules.size(); }

std::map<std::string, std::string> parse_nft_handles(std::string_view text) {
  std::map<std::string, std::string> out;
  std::string family, table, chain;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    std::string body = line.substr(first);
    auto mark = body.rfind(" # handle ");
    std::string handle;
    if (mark != std::string::npos) {
      handle = body.substr(mark + 10);
      body = body.substr(0, mark);
    }
    std::istringstream words(body);
    std::string w1, w2, w3;
    words >> w1 >> w2 >> w3;
    if (w1 == "table") {
      family = w2;
      table = w3;
      chain.clear();
    } else if (w1 == "chain") {
      chain = w2;
    } else if (w1 == "type" && !chain.empty()) {
      // "type filter hook ingress device "eth0" priority ...": nft -j omits the device
      auto at = body.find(" device ");
      if (at != std::string::npos) {
        auto name = body.substr(at + 8);
        name = name.substr(0, name.find_first_of(" ;"));
        if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
        out[chain_key(family, table, chain) + " device"] = name;
      }
    } else if (w1 == "}") {
      if (!chain.empty()) chain.clear();
    } else if (!chain.empty() && !handle.empty() && w1 != "type" && w1 != "policy") {
      // two spaces appear where iptables-nft rules hide an xt match: keep one
      std::string clean;
      for (char c : body)
        if (!(c == ' ' && !clean.empty() && clean.back() == ' ')) clean += c;
      out[chain_key(family, table, chain) + " " + handle] = clean;
    }
  }
  return out;
}

namespace {

/// Deeper JSON than nft ever prints (about 10 levels) is refused: the
/// renderers and the evaluator recurse over it.
constexpr int max_nft_json_depth = 64;

result<nft_ruleset> parse_nft_json_unchecked(std::string_view json_text, std::string_view text) {
  bool too_deep = false;
  const json::parser_callback_t depth_check = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > max_nft_json_depth) too_deep = true;
    return !too_deep;
  };
  json doc = json::parse(json_text.begin(), json_text.end(), depth_check, false);
  if (too_deep)
    return result<nft_ruleset>::failure("nft JSON: nested deeper than " + std::to_string(max_nft_json_depth));
  if (doc.is_discarded()) return result<nft_ruleset>::failure("nft JSON: not valid JSON");
  if (!doc.is_object() || !doc.contains("nftables") || !field(doc, "nftables").is_array())
    return result<nft_ruleset>::failure("nft JSON: no \"nftables\" array");
  auto handles = parse_nft_handles(text);
  nft_ruleset rs;
  auto& im = rs.get();
  std::size_t order = 0;
  for (const auto& item : field(doc, "nftables")) {
    if (!item.is_object()) continue;
    if (item.contains("chain")) {
      const auto& c = field(item, "chain");
      nft_chain_rec ch;
      ch.family = c.value("family", std::string());
      ch.table = c.value("table", std::string());
      ch.name = c.value("name", std::string());
      ch.base = c.contains("hook");
      ch.hook = c.value("hook", std::string());
      ch.type = c.value("type", std::string("filter"));
      if (c.contains("dev") && field(c, "dev").is_string()) ch.device = field(c, "dev").get<std::string>();
      if (auto d = handles.find(chain_key(ch.family, ch.table, ch.name) + " device"); d != handles.end())
        ch.device = d->second;
      ch.policy = c.value("policy", std::string("accept"));
      if (c.contains("prio") && field(c, "prio").is_number()) ch.prio = field(c, "prio").get<long long>();
      ch.order = order++;
      im.chains[chain_key(ch.family, ch.table, ch.name)] = std::move(ch);
    } else if (item.contains("set") || item.contains("map")) {
      const auto& s = item.contains("set") ? field(item, "set") : field(item, "map");
      im.sets[chain_key(s.value("family", std::string()), s.value("table", std::string()),
                        s.value("name", std::string()))] = s.contains("elem") ? field(s, "elem") : json::array();
    } else if (item.contains("rule")) {
      const auto& r = field(item, "rule");
      nft_rule_rec rec;
      rec.family = r.value("family", std::string());
      rec.table = r.value("table", std::string());
      rec.chain = r.value("chain", std::string());
      rec.handle = r.value("handle", std::uint64_t{0});
      rec.expr = r.contains("expr") ? field(r, "expr") : json::array();
      auto key = chain_key(rec.family, rec.table, rec.chain);
      auto h = handles.find(key + " " + std::to_string(rec.handle));
      rec.text = h != handles.end() ? h->second : render_rule(rec.expr);
      if (h == handles.end() && r.contains("comment") && field(r, "comment").is_string())
        rec.text += " comment \"" + field(r, "comment").get<std::string>() + "\"";
      auto c = im.chains.find(key);
      if (c == im.chains.end()) return result<nft_ruleset>::failure("nft JSON: rule in unknown chain " + key);
      c->second.rules.push_back(im.rules.size());
      im.rules.push_back(std::move(rec));
    }
  }
  return rs;
}

}  // namespace

result<nft_ruleset> parse_nft_json(std::string_view json_text, std::string_view text) {
  // A field of an unexpected JSON type (a number where nft prints a string...)
  // makes the whole ruleset unreadable rather than half read.
  try {
    return parse_nft_json_unchecked(json_text, text);
  } catch (const json::exception& e) {
    return result<nft_ruleset>::failure(std::string("nft JSON: unexpected structure: ") + e.what());
  }
}

// ---------------------------------------------------------------------------
// nftables: evaluation
// ---------------------------------------------------------------------------

namespace {

/// Chains entered in one evaluation at most: jumps that fan out (two rules
/// jumping to a chain that does the same, 32 deep) would otherwise take 2^32.
constexpr std::size_t max_chain_visits = 10000;

struct nft_eval {
  const nft_ruleset::impl& rs;
  const syn_packet& pkt;
  std::vector<std::string>& notes;
  const nft_rule_rec* current = nullptr;
  std::size_t chain_visits = 0;

  std::string rule_name(const nft_rule_rec& r) const {
    return "table " + r.family + " " + r.table + " chain " + r.chain + " handle " + std::to_string(r.handle) + ": " +
           r.text;
  }
  void note(const std::string& what) {
    auto n = (current ? rule_name(*current) + ": " : std::string()) + what;
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }

  /// The elements of a set reference: inline {"set":[...]}, "@name", a single value.
  const json* elements(const json& right, json& scratch) const {
    if (right.is_object() && right.contains("set")) return &field(right, "set");
    if (right.is_string() && !right.get<std::string>().empty() && right.get<std::string>()[0] == '@') {
      auto it = rs.sets.find(chain_key(current->family, current->table, right.get<std::string>().substr(1)));
      return it == rs.sets.end() ? nullptr : &it->second;
    }
    scratch = json::array({right});
    return &scratch;
  }

  static const json& unwrap(const json& e) {
    if (e.is_object() && e.contains("elem") && field(e, "elem").is_object() && field(e, "elem").contains("val"))
      return field(field(e, "elem"), "val");
    return e;
  }

  // --- single-element comparisons ---

  static std::optional<long long> number(const json& v) {
    if (v.is_number_integer() || v.is_number_unsigned()) return v.get<long long>();
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit)) return std::atoll(s.c_str());
    }
    return std::nullopt;
  }

  tri port_is(long long port, const json& e) {
    const auto& v = unwrap(e);
    if (auto n = number(v)) return *n == port ? tri::yes : tri::no;
    if (v.is_object() && v.contains("range") && field(v, "range").is_array() && field(v, "range").size() == 2) {
      auto lo = number(field(v, "range")[0]), hi = number(field(v, "range")[1]);
      if (lo && hi) return (port >= *lo && port <= *hi) ? tri::yes : tri::no;
    }
    note("a port value dropspot does not understand (" + v.dump() + "): assumed to match");
    return tri::maybe;
  }

  tri address_is(const asio::ip::address& a, const json& e) {
    const auto& v = unwrap(e);
    if (v.is_string()) {
      auto x = parse_address(v.get<std::string>());
      if (x) return *x == a ? tri::yes : tri::no;
    } else if (v.is_object() && v.contains("prefix")) {
      auto x = parse_address(field(v, "prefix").value("addr", std::string()));
      const auto& len = field(field(v, "prefix"), "len");
      if (x && len.is_number_unsigned()) return in_prefix(a, *x, len.get<unsigned>()) ? tri::yes : tri::no;
    } else if (const auto& range = field(v, "range");
               range.is_array() && range.size() == 2 && range[0].is_string() && range[1].is_string()) {
      auto lo = parse_address(range[0].get<std::string>()), hi = parse_address(range[1].get<std::string>());
      if (lo && hi) return in_range(a, *lo, *hi) ? tri::yes : tri::no;
    }
    note("an address value dropspot does not understand (" + v.dump() + "): assumed to match");
    return tri::maybe;
  }

  tri string_is(const std::string& s, const json& e) {
    const auto& v = unwrap(e);
    if (!v.is_string()) return tri::no;
    auto pat = v.get<std::string>();
    if (!pat.empty() && pat.back() == '*') return s.compare(0, pat.size() - 1, pat, 0, pat.size() - 1) == 0 ? tri::yes : tri::no;
    return s == pat ? tri::yes : tri::no;
  }

  /// Any element of `right` matches (tri::yes wins over maybe).
  template <class F>
  tri any_of(const json& right, F&& is) {
    json scratch;
    const json* elems = elements(right, scratch);
    if (!elems) {
      note("set " + right.dump() + " not found: assumed to match");
      return tri::maybe;
    }
    tri out = tri::no;
    for (const auto& e : *elems) {
      auto t = is(e);
      if (t == tri::yes) return tri::yes;
      if (t == tri::maybe) out = tri::maybe;
    }
    return out;
  }

  /// The element of the packet the left side names, as a comparison; nothing
  /// when it is unknown to dropspot (then the match "may match").
  /// `implied_no` is set when the left side cannot apply to this packet at all
  /// (ip saddr on an IPv6 packet, udp dport on TCP): nft then never matches.
  tri match(const json& m) {
    const auto op = m.value("op", std::string("=="));
    const json& left = field(m, "left");
    const json& right = field(m, "right");
    auto apply_op = [&](tri contained) { return op == "!=" ? negate(contained) : contained; };
    const bool eq_like = op == "==" || op == "!=" || op == "in";

    if (left.is_object() && left.contains("payload")) {
      const auto& p = field(left, "payload");
      auto proto = p.value("protocol", std::string());
      auto field = p.value("field", std::string());
      if (proto == "ip" || proto == "ip6") {
        if ((proto == "ip6") != pkt.v6) return tri::no;  // implicit nfproto dependency
        if (field == "protocol" || field == "nexthdr")
          return apply_op(any_of(right, [&](const json& e) {
            const auto& v = unwrap(e);
            return (v == "tcp" || v == 6) ? tri::yes : tri::no;
          }));
        if (field == "saddr" || field == "daddr") {
          const auto& addr = field == "saddr" ? pkt.source : pkt.destination;
          if (!addr) {
            if (field == "saddr") {
              note("matches the source address; for any remote source taken as not matching");
              return op == "!=" ? tri::yes : tri::no;
            }
            note("matches the destination address, unknown here: assumed to match");
            return tri::maybe;
          }
          if (!eq_like) return tri::maybe;
          return apply_op(any_of(right, [&](const json& e) { return address_is(*addr, e); }));
        }
      } else if (proto == "tcp" || proto == "th") {
        if (field == "dport") {
          const long long port = pkt.port;
          if (eq_like) return apply_op(any_of(right, [&](const json& e) { return port_is(port, e); }));
          auto n = number(right);
          if (!n) return tri::maybe;
          if (op == "<") return port < *n ? tri::yes : tri::no;
          if (op == ">") return port > *n ? tri::yes : tri::no;
          if (op == "<=") return port <= *n ? tri::yes : tri::no;
          if (op == ">=") return port >= *n ? tri::yes : tri::no;
        }
        if (field == "sport") {
          note("matches the client's source port, unknown: assumed to match");
          return tri::maybe;
        }
        if (field == "flags") return flags_match(op, tcp_syn, right);
      } else if (!proto.empty()) {
        return tri::no;  // udp, icmp, sctp ...: not a TCP packet
      }
    }
    if (left.is_object() && left.contains("&") && field(left, "&").is_array() && field(left, "&").size() == 2) {
      const auto& inner = field(left, "&")[0];
      const auto& payload = field(inner, "payload");
      if (payload.is_object() && payload.value("field", std::string()) == "flags" &&
          payload.value("protocol", std::string()) == "tcp") {
        auto mask = flag_bits(field(left, "&")[1]);
        if (mask) return flags_match(op == "in" ? "==" : op, tcp_syn & *mask, right);
      }
    }
    if (left.is_object() && left.contains("meta")) {
      auto key = field(left, "meta").value("key", std::string());
      if (key == "protocol")
        return apply_op(any_of(right, [&](const json& e) {
          return unwrap(e) == (pkt.v6 ? "ip6" : "ip") ? tri::yes : tri::no;
        }));
      if (key == "l4proto")
        return apply_op(any_of(right, [&](const json& e) {
          const auto& v = unwrap(e);
          return (v == "tcp" || v == 6) ? tri::yes : tri::no;
        }));
      if (key == "nfproto")
        return apply_op(any_of(right, [&](const json& e) {
          return unwrap(e) == (pkt.v6 ? "ipv6" : "ipv4") ? tri::yes : tri::no;
        }));
      if (key == "iifname" || key == "iif") {
        if (pkt.in_interface.empty()) {
          auto is_lo = any_of(right, [&](const json& e) { return string_is("lo", e); });
          if (is_lo == tri::yes) return apply_op(tri::no);  // remote traffic never arrives on lo
          note("matches the input interface, unknown here: assumed to match");
          return tri::maybe;
        }
        return apply_op(any_of(right, [&](const json& e) { return string_is(pkt.in_interface, e); }));
      }
      if (key == "pkttype")
        return apply_op(any_of(right, [&](const json& e) { return unwrap(e) == "host" ? tri::yes : tri::no; }));
    }
    if (left.is_object() && left.contains("fib")) {
      // fib daddr type local: the packet is for this host
      const auto& f = field(left, "fib");
      if (f.value("result", std::string()) == "type" && f.contains("flags") &&
          field(f, "flags").dump().find("daddr") != std::string::npos)
        return apply_op(any_of(right, [&](const json& e) { return unwrap(e) == "local" ? tri::yes : tri::no; }));
    }
    if (left.is_object() && left.contains("ct")) {
      auto key = field(left, "ct").value("key", std::string());
      if (key == "state") {
        // "in" and arrays are bit tests: new is in {new, untracked}
        return apply_op(any_of(right, [&](const json& e) {
          const auto& v = unwrap(e);
          if (v.is_array()) {
            for (const auto& x : v)
              if (x == "new") return tri::yes;
            return tri::no;
          }
          return v == "new" ? tri::yes : tri::no;
        }));
      }
      if (key == "direction")
        return apply_op(any_of(right, [&](const json& e) { return unwrap(e) == "original" ? tri::yes : tri::no; }));
    }
    note("an expression dropspot does not evaluate (" + render_left(left) + "): the rule may match");
    return tri::maybe;
  }

  static std::optional<std::uint64_t> flag_bits(const json& v) {
    if (v.is_number()) return v.get<std::uint64_t>();
    if (v.is_string()) return tcp_flag_bit(v.get<std::string>());
    if (v.is_array() || (v.is_object() && v.contains("set"))) {
      std::uint64_t bits = 0;
      for (const auto& x : v.is_array() ? v : field(v, "set")) {
        auto b = flag_bits(x);
        if (!b) return std::nullopt;
        bits |= *b;
      }
      return bits;
    }
    if (v.is_object() && v.contains("|") && v["|"].is_array()) {
      std::uint64_t bits = 0;
      for (const auto& x : v["|"]) {
        auto b = flag_bits(x);
        if (!b) return std::nullopt;
        bits |= *b;
      }
      return bits;
    }
    return std::nullopt;
  }

  tri flags_match(const std::string& op, std::uint64_t value, const json& right) {
    auto bits = flag_bits(right);
    if (!bits) {
      note("tcp flags value dropspot does not understand: assumed to match");
      return tri::maybe;
    }
    if (op == "in") return (value & *bits) ? tri::yes : tri::no;
    if (op == "==") return value == *bits ? tri::yes : tri::no;
    if (op == "!=") return value != *bits ? tri::yes : tri::no;
    return tri::maybe;
  }

  struct rule_result {
    tri matched = tri::yes;
    std::string verdict;  ///< accept drop reject jump goto return continue, or empty
    std::string target;
  };

  rule_result verdict_of(const json& v, rule_result r) {
    if (!v.is_object() || v.empty()) return r;
    const std::string& k = v.begin().key();  // see render_expr
    const json& val = v.begin().value();
    r.verdict = k;
    if ((k == "jump" || k == "goto") && val.is_object()) r.target = val.value("target", std::string());
    return r;
  }

  rule_result run_rule(const nft_rule_rec& rule) {
    current = &rule;
    rule_result r;
    for (const auto& e : rule.expr) {
      if (!e.is_object() || e.empty()) continue;
      const std::string& k = e.begin().key();  // see render_expr
      const json& val = e.begin().value();
      if (k == "match") {
        auto t = match(val);
        if (t == tri::no) return {tri::no, {}, {}};
        if (t == tri::maybe) r.matched = tri::maybe;
      } else if (k == "vmap") {
        tri found = tri::no;
        json verdict;
        auto key_match = [&](const json& key_value) {
          json m = {{"op", "=="}, {"left", field(val, "key")}, {"right", key_value}};
          return match(m);
        };
        json scratch;
        const json* elems = elements(field(val, "data"), scratch);
        if (!elems) {
          note("verdict map " + field(val, "data").dump() + " not found: the rule may match");
          return {tri::maybe, {}, {}};
        }
        for (const auto& pair : *elems) {
          if (!pair.is_array() || pair.size() != 2) continue;
          auto t = key_match(pair[0]);
          if (t == tri::no) continue;
          found = t;
          verdict = pair[1];
          if (t == tri::yes) break;
        }
        if (found == tri::no) return {tri::no, {}, {}};
        if (found == tri::maybe) r.matched = tri::maybe;
        return verdict_of(verdict, r);
      } else if (k == "accept" || k == "drop" || k == "reject" || k == "jump" || k == "goto" || k == "return" ||
                 k == "continue") {
        return verdict_of(e, r);
      } else if (k == "queue") {
        note("queues packets to a userspace program: its verdict is unknown");
        return {tri::maybe, "accept", {}};
      } else if (k == "xt") {
        if (val.is_object() && val.value("name", std::string()) == "comment") continue;
        note("an iptables extension dropspot does not evaluate (" + render_expr(e) + "): the rule may match");
        r.matched = tri::maybe;
      } else if (k == "counter" || k == "log" || k == "limit" || k == "mangle" || k == "notrack" || k == "set" ||
                 k == "ct helper" || k == "quota" || k == "meter" || k == "comment") {
        // statements that leave the verdict alone (a limit is assumed under its rate)
      } else {
        note("a statement dropspot does not evaluate (" + k + "): the rule may match");
        r.matched = tri::maybe;
      }
    }
    return r;
  }

  struct chain_result {
    fw_action action = fw_action::none;  ///< none: fell off the end (or returned)
    const nft_rule_rec* rule = nullptr;
    bool uncertain = false;
  };

  chain_result run_chain(const nft_chain_rec& chain, int depth) {
    if (depth > 32) {
      note("jumps nest deeper than 32 chains: evaluation stopped at chain " + chain.name);
      return {};
    }
    if (++chain_visits > max_chain_visits) {
      note("jumps enter chains more than " + std::to_string(max_chain_visits) + " times: evaluation stopped");
      return {};
    }
    for (auto index : chain.rules) {
      const auto& rule = rs.rules[index];
      auto r = run_rule(rule);
      if (r.matched == tri::no || r.verdict.empty() || r.verdict == "continue") continue;
      const bool maybe = r.matched == tri::maybe;
      if (r.verdict == "accept") return {fw_action::accept, &rule, maybe};
      if (r.verdict == "drop") return {fw_action::drop, &rule, maybe};
      if (r.verdict == "reject") return {fw_action::reject, &rule, maybe};
      if (r.verdict == "return") return {};
      if (r.verdict == "jump" || r.verdict == "goto") {
        auto target = rs.chains.find(chain_key(chain.family, chain.table, r.target));
        if (target == rs.chains.end()) {
          notes.push_back("chain " + r.target + " not found");
          continue;
        }
        auto sub = run_chain(target->second, depth + 1);
        sub.uncertain = sub.uncertain || maybe;
        if (sub.action != fw_action::none || r.verdict == "goto") return sub;
      }
    }
    return {};
  }
};

}  // namespace

namespace {

fw_finding evaluate_unchecked(const nft_ruleset& rules, const syn_packet& packet) {
  const auto& rs = rules.get();
  fw_finding out;
  // The hooks a SYN to this host passes, in order: netdev/inet ingress,
  // prerouting, input; within a hook, by priority.
  auto hook_rank = [](const std::string& hook) { return hook == "ingress" ? 0 : hook == "prerouting" ? 1 : 2; };
  std::vector<const nft_chain_rec*> base;
  for (const auto& [key, c] : rs.chains) {
    if (!c.base || c.type != "filter") continue;  // nat and route chains do not filter
    const bool family_fits = c.family == "inet" || c.family == (packet.v6 ? "ip6" : "ip");
    if ((c.hook == "input" || c.hook == "prerouting") && family_fits) base.push_back(&c);
    else if (c.hook == "ingress" && (c.family == "netdev" || c.family == "inet")) {
      // an ingress chain sees one device: remote traffic never arrives on lo
      const auto& iface = packet.in_interface;
      if (!c.device.empty() && (c.device == "lo" || (!iface.empty() && iface != c.device))) continue;
      if (!c.device.empty() && iface.empty())
        out.notes.push_back("table " + c.family + " " + c.table + " chain " + c.name + " filters device " + c.device +
                            " only; the input interface is unknown here: assumed to be it");
      base.push_back(&c);
    }
  }
  std::stable_sort(base.begin(), base.end(), [&](auto* a, auto* b) {
    if (hook_rank(a->hook) != hook_rank(b->hook)) return hook_rank(a->hook) < hook_rank(b->hook);
    return a->prio != b->prio ? a->prio < b->prio : a->order < b->order;
  });
  nft_eval ev{rs, packet, out.notes};
  for (const auto* c : base) {
    auto r = ev.run_chain(*c, 0);
    if (r.action == fw_action::none) {
      if (c->policy == "drop") {
        out.action = fw_action::drop;
        out.rule = "table " + c->family + " " + c->table + " chain " + c->name + " policy drop";
        out.family = c->family;
        out.table = c->table;
        out.chain = c->name;
        return out;
      }
      out.action = fw_action::accept;
      continue;
    }
    if (r.action == fw_action::accept) {
      out.action = fw_action::accept;
      continue;
    }
    out.action = r.action;
    out.rule = ev.rule_name(*r.rule);
    out.family = r.rule->family;
    out.table = r.rule->table;
    out.chain = r.rule->chain;
    out.handle = r.rule->handle;
    if (r.uncertain) out.notes.push_back("the rule that decided may not match: see the notes before it");
    return out;
  }
  if (base.empty()) out.action = fw_action::none;
  return out;
}

}  // namespace

fw_finding evaluate(const nft_ruleset& rules, const syn_packet& packet) {
  try {
    return evaluate_unchecked(rules, packet);
  } catch (const json::exception& e) {
    fw_finding out;
    out.notes.push_back(std::string("the nftables ruleset has a structure dropspot does not understand (") + e.what() +
                        "): not evaluated");
    return out;
  }
}

// ---------------------------------------------------------------------------
// iptables
// ---------------------------------------------------------------------------

namespace {

/// Splits an iptables-save line into arguments; "quoted strings" stay one.
std::vector<std::string> split_args(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, have = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size()) cur += line[++i];
      else if (c == '"') quoted = false;
      else cur += c;
    } else if (c == '"') {
      quoted = have = true;
    } else if (c == ' ' || c == '\t') {
      if (have) out.push_back(std::move(cur));
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(std::move(cur));
  return out;
}

bool port_in_spec(std::uint16_t port, std::string_view spec) {  // "80", "8000:8010", ":1023"
  auto colon = spec.find(':');
  if (colon == std::string_view::npos) return std::atoi(std::string(spec).c_str()) == port;
  long lo = colon == 0 ? 0 : std::atol(std::string(spec.substr(0, colon)).c_str());
  long hi = colon + 1 == spec.size() ? 65535 : std::atol(std::string(spec.substr(colon + 1)).c_str());
  return port >= lo && port <= hi;
}

std::vector<std::string> split_list(std::string_view s, char sep = ',') {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = s.find(sep, start);
    out.emplace_back(s.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::optional<std::uint64_t> ipt_flags(std::string_view list) {
  if (list == "ALL") return 0x3F;
  if (list == "NONE") return 0;
  std::uint64_t bits = 0;
  for (const auto& f : split_list(list)) {
    auto b = tcp_flag_bit(f);
    if (!b) return std::nullopt;
    bits |= *b;
  }
  return bits;
}

struct ipt_eval {
  const ipt_ruleset& rs;
  const syn_packet& pkt;
  std::string_view label;
  std::vector<std::string>& notes;
  const ipt_rule* current = nullptr;
  std::size_t chain_visits = 0;

  std::string rule_name(const ipt_rule& r) const { return std::string(label) + ": " + r.line; }
  void note(const std::string& what) {
    auto n = (current ? rule_name(*current) + ": " : std::string()) + what;
    if (std::find(notes.begin(), notes.end(), n) == notes.end()) notes.push_back(n);
  }

  struct rule_result {
    tri matched = tri::yes;
    std::string target;  ///< after -j
    bool go = false;     ///< -g
  };

  rule_result run_rule(const ipt_rule& rule) {
    current = &rule;
    rule_result r;
    const auto& a = rule.args;
    bool neg = false;
    auto value = [&](std::size_t& i) -> std::string { return i + 1 < a.size() ? a[++i] : std::string(); };
    auto combine = [&](tri t) {
      if (neg) t = negate(t);
      neg = false;
      if (t == tri::no) r.matched = tri::no;
      else if (t == tri::maybe && r.matched == tri::yes) r.matched = tri::maybe;
    };
    for (std::size_t i = 0; i < a.size() && r.matched != tri::no; ++i) {
      const auto& o = a[i];
      if (o == "!") {
        neg = true;
      } else if (o == "-p" || o == "--protocol") {
        auto p = value(i);
        combine(p == "tcp" || p == "6" || p == "all" ? tri::yes : tri::no);
      } else if (o == "-s" || o == "--source" || o == "-d" || o == "--destination") {
        const bool src = o == "-s" || o == "--source";
        auto list = value(i);
        const auto& addr = src ? pkt.source : pkt.destination;
        if (!addr) {
          if (src) {
            note("matches the source address; for any remote source taken as not matching");
            combine(tri::no);
          } else {
            note("matches the destination address, unknown here: assumed to match");
            neg = false;
            combine(tri::maybe);
          }
          continue;
        }
        tri t = tri::no;
        for (const auto& cidr : split_list(list)) {
          auto m = address_matches_cidr(*addr, cidr);
          if (!m) t = tri::maybe;
          else if (*m) { t = tri::yes; break; }
        }
        combine(t);
      } else if (o == "-i" || o == "--in-interface") {
        auto name = value(i);
        std::string iface = pkt.in_interface;
        bool wildcard = !name.empty() && name.back() == '+';
        auto prefix = wildcard ? name.substr(0, name.size() - 1) : name;
        if (iface.empty()) {
          if (name == "lo") {
            combine(tri::no);
          } else {
            note("matches the input interface, unknown here: assumed to match");
            neg = false;
            combine(tri::maybe);
          }
          continue;
        }
        combine((wildcard ? iface.compare(0, prefix.size(), prefix) == 0 : iface == name) ? tri::yes : tri::no);
      } else if (o == "-o" || o == "--out-interface") {
        value(i);
        combine(tri::yes);
      } else if (o == "-m" || o == "--match") {
        auto mod = value(i);
        static const char* known[] = {"tcp", "multiport", "conntrack", "state", "comment", "addrtype", "limit"};
        if (std::find(std::begin(known), std::end(known), mod) == std::end(known)) {
          note("an iptables match dropspot does not evaluate (-m " + mod + "): the rule may match");
          combine(tri::maybe);
        }
      } else if (o == "--dport" || o == "--destination-port") {
        combine(port_in_spec(pkt.port, value(i)) ? tri::yes : tri::no);
      } else if (o == "--dports" || o == "--destination-ports" || o == "--ports") {
        bool any = false;
        for (const auto& p : split_list(value(i))) any = any || port_in_spec(pkt.port, p);
        combine(any ? tri::yes : tri::no);
      } else if (o == "--sport" || o == "--source-port" || o == "--sports" || o == "--source-ports") {
        value(i);
        note("matches the client's source port, unknown: assumed to match");
        neg = false;
        combine(tri::maybe);
      } else if (o == "--ctstate" || o == "--state") {
        bool any = false;
        for (const auto& s : split_list(value(i))) any = any || s == "NEW";
        combine(any ? tri::yes : tri::no);
      } else if (o == "--syn") {
        combine(tri::yes);
      } else if (o == "--tcp-flags") {
        auto mask = ipt_flags(value(i));
        auto comp = ipt_flags(value(i));
        combine(mask && comp ? ((tcp_syn & *mask) == *comp ? tri::yes : tri::no) : tri::maybe);
      } else if (o == "--dst-type") {
        auto t = value(i);
        combine(t == "LOCAL" ? tri::yes : tri::no);
      } else if (o == "-j" || o == "--jump" || o == "-g" || o == "--goto") {
        r.go = o == "-g" || o == "--goto";
        r.target = value(i);
        // the target's own options (--reject-with, --log-prefix) follow; they do not match
        break;
      } else if (o == "--comment" || o == "--limit" || o == "--limit-burst" || o == "--src-type") {
        value(i);
        neg = false;
      } else if (o.rfind("--", 0) == 0) {
        // an option of a match dropspot does not evaluate: skip its values
        while (i + 1 < a.size() && a[i + 1].rfind("-", 0) != 0 && a[i + 1] != "!") ++i;
        neg = false;
      }
    }
    return r;
  }

  struct chain_result {
    fw_action action = fw_action::none;
    const ipt_rule* rule = nullptr;
    bool uncertain = false;
  };

  chain_result run_chain(const std::string& name, int depth) {
    auto c = rs.chains.find(name);
    if (c == rs.chains.end() || depth > 32) return {};
    if (++chain_visits > max_chain_visits) {
      note("jumps enter chains more than " + std::to_string(max_chain_visits) + " times: evaluation stopped");
      return {};
    }
    for (const auto& rule : c->second.rules) {
      auto r = run_rule(rule);
      if (r.matched == tri::no || r.target.empty()) continue;
      const bool maybe = r.matched == tri::maybe;
      if (r.target == "ACCEPT") return {fw_action::accept, &rule, maybe};
      if (r.target == "DROP") return {fw_action::drop, &rule, maybe};
      if (r.target == "REJECT") return {fw_action::reject, &rule, maybe};
      if (r.target == "RETURN") return {};
      if (rs.chains.count(r.target)) {
        auto sub = run_chain(r.target, depth + 1);
        sub.uncertain = sub.uncertain || maybe;
        if (sub.action != fw_action::none || r.go) return sub;
        continue;
      }
      if (r.target != "LOG" && r.target != "NFLOG" && r.target != "MARK" && r.target != "CONNMARK")
        note("target " + r.target + " is not evaluated: assumed to let the packet go on");
    }
    return {};
  }
};

}  // namespace

result<ipt_ruleset> parse_iptables_save(std::string_view text) {
  ipt_ruleset out;
  std::istringstream in{std::string(text)};
  std::string line, table;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.find("Generated by") != std::string::npos && line.find("(nf_tables)") != std::string::npos)
        out.nft_backend = true;
      continue;
    }
    if (line[0] == '*') {
      table = line.substr(1);
      continue;
    }
    if (line == "COMMIT") {
      table.clear();
      continue;
    }
    if (table != "filter") continue;
    if (line[0] == ':') {
      auto args = split_args(line.substr(1));
      if (args.size() < 2) return result<ipt_ruleset>::failure("iptables-save line " + std::to_string(n) + ": bad chain");
      out.chains[args[0]].policy = args[1];
      continue;
    }
    auto args = split_args(line);
    if (args.size() < 2 || args[0] != "-A")
      return result<ipt_ruleset>::failure("iptables-save line " + std::to_string(n) + ": expected -A CHAIN");
    ipt_rule rule;
    rule.line = line;
    rule.args.assign(args.begin() + 2, args.end());
    out.chains[args[1]].rules.push_back(std::move(rule));
  }
  return out;
}

fw_finding evaluate(const ipt_ruleset& rules, const syn_packet& packet, std::string_view label) {
  fw_finding out;
  auto input = rules.chains.find("INPUT");
  if (input == rules.chains.end()) return out;
  ipt_eval ev{rules, packet, label, out.notes};
  auto r = ev.run_chain("INPUT", 0);
  if (r.action == fw_action::none) {
    if (input->second.policy == "DROP") {
      out.action = fw_action::drop;
      out.rule = std::string(label) + ": chain INPUT policy DROP (:INPUT DROP)";
    } else {
      out.action = fw_action::accept;
    }
    return out;
  }
  out.action = r.action;
  out.rule = ev.rule_name(*r.rule);
  if (r.uncertain) out.notes.push_back("the rule that decided may not match: see the notes before it");
  return out;
}

// ---------------------------------------------------------------------------
// All sources
// ---------------------------------------------------------------------------

firewall_diagnosis diagnose(const firewall_snapshot& snap, const syn_packet& packet) {
  firewall_diagnosis out;
  out.notes = snap.notes;
  auto add = [&](fw_finding f) {
    for (auto& n : f.notes) out.notes.push_back(std::move(n));
    if (!f.blocks()) return false;
    if (out.action == fw_action::none || out.action == fw_action::accept) out.action = f.action;
    out.blocked.push_back(f.rule);
    return true;
  };
  if (snap.nft) {
    out.inspected = true;
    auto f = evaluate(*snap.nft, packet);
    const auto family = f.family;
    const auto table = f.table;
    if (add(std::move(f))) {
      // a rule of an iptables-nft table: quote the iptables line too
      const auto& ipt = packet.v6 ? snap.iptables_nft_v6 : snap.iptables_nft_v4;
      if (ipt && family == (packet.v6 ? "ip6" : "ip") && table == "filter") {
        auto i = evaluate(*ipt, packet, packet.v6 ? "ip6tables" : "iptables");
        if (i.blocks()) out.blocked.push_back(i.rule);
      }
    } else if (out.action == fw_action::none) {
      out.action = fw_action::accept;
    }
  }
  const auto& legacy = packet.v6 ? snap.iptables_legacy_v6 : snap.iptables_legacy_v4;
  if (legacy) {
    out.inspected = true;
    add(evaluate(*legacy, packet, packet.v6 ? "ip6tables-legacy" : "iptables-legacy"));
  }
  return out;
}

// ---------------------------------------------------------------------------
// The system
// ---------------------------------------------------------------------------

namespace {

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string();
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  for (const auto& dir : split_list(path, ':')) {
    if (dir.empty()) continue;
    auto full = dir + "/" + name;
    if (access(full.c_str(), X_OK) == 0) return full;
  }
  return {};
}

}  // namespace

std::optional<std::string> run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                       std::string& error) {
  if (argv.empty()) return std::nullopt;
  auto exe = find_program(argv[0]);
  if (exe.empty()) {
    error = argv[0] + ": not installed";
    return std::nullopt;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    error = argv[0] + ": " + std::strerror(rc);
    return std::nullopt;
  }
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[65536];
    auto got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
    if (out.size() > (64u << 20)) {
      timed_out = true;  // absurd output: stop
      break;
    }
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    error = argv[0] + ": timed out";
    return std::nullopt;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    error = argv[0] + ": exited with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return std::nullopt;
  }
  return out;
}

firewall_snapshot read_firewall(std::chrono::milliseconds timeout) {
  firewall_snapshot snap;
  std::string err;
  if (auto j = run_program({"nft", "-j", "list", "ruleset"}, timeout, err)) {
    std::string text_err;
    auto text = run_program({"nft", "-a", "list", "ruleset"}, timeout, text_err);
    auto parsed = parse_nft_json(*j, text ? *text : std::string());
    if (parsed) snap.nft = std::move(parsed).value();
    else snap.notes.push_back(parsed.error());
  } else {
    snap.notes.push_back("nftables not read (" + err + ")");
  }
  auto read_ipt = [&](const char* program, std::optional<ipt_ruleset>& nft_slot,
                      std::optional<ipt_ruleset>& legacy_slot) {
    std::string e;
    auto text = run_program({program}, timeout, e);
    if (!text) return;
    auto parsed = parse_iptables_save(*text);
    if (!parsed) {
      snap.notes.push_back(std::string(program) + ": " + parsed.error());
      return;
    }
    if (parsed->nft_backend) nft_slot = std::move(parsed).value();
    else if (!parsed->chains.empty()) legacy_slot = std::move(parsed).value();
  };
  read_ipt("iptables-save", snap.iptables_nft_v4, snap.iptables_legacy_v4);
  read_ipt("ip6tables-save", snap.iptables_nft_v6, snap.iptables_legacy_v6);
  std::optional<ipt_ruleset> unused;
  read_ipt("iptables-legacy-save", unused, snap.iptables_legacy_v4);
  read_ipt("ip6tables-legacy-save", unused, snap.iptables_legacy_v6);
  return snap;
}

}  // namespace dropspot::agent
