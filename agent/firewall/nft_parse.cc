// nftables: reading `nft -j list ruleset` (and the rule text of `nft -a list ruleset`).
#include <sstream>

#include "agent/firewall/internal.h"

namespace dropspot::agent {

namespace firewall_detail {

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
      if (type == "tcp reset")
        out += " with tcp reset";
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

}  // namespace firewall_detail

using namespace firewall_detail;

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

}  // namespace dropspot::agent
