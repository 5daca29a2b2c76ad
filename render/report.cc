#include "render/report.h"

#include <algorithm>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <ostream>
#include <sstream>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/os.h"
#include "common/ports.h"
#include "common/text.h"
#include "render/commands.h"
#include "render/evidence.h"
#include "render/json.h"
#include "verdict/verdict.h"

namespace dropspot {

namespace {

constexpr const char* green = "\x1b[32m";
constexpr const char* red = "\x1b[31m";
constexpr const char* yellow = "\x1b[33m";
constexpr const char* bold = "\x1b[1m";
constexpr const char* reset = "\x1b[0m";

const char* paint(const text_style& style, const char* code) { return style.color ? code : ""; }

const char* verdict_color(v1::Verdict v) {
  if (v == v1::OPEN) return green;
  if (expectation_class(v) == "blocked") return red;
  return yellow;
}

/// "80", "53/udp".
std::string port_name(const v1::PortReport& p) { return port_label(p.port(), p.protocol() == v1::UDP); }

/// Appends `text` wrapped to `width`: the first line starts with `first`,
/// the others with `rest` (no longer than `first`). Text is already safe
/// (escaped). Lines break only at spaces, which are kept inside a line;
/// words longer than a line are split, unless `split_words` is false (a
/// glued command: it stands on a line of its own, however long).
void wrap(std::string& out, const std::string& first, const std::string& rest, std::string_view text, std::size_t width,
          bool split_words = true) {
  std::string prefix = first;
  std::string line;
  auto flush = [&]() {
    out += prefix + unglue(std::move(line)) + "\n";
    prefix = rest;
    line.clear();
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto word_at = text.find_first_not_of(' ', pos);
    if (word_at == std::string_view::npos) break;
    const std::string_view gap = line.empty() ? std::string_view() : text.substr(pos, word_at - pos);
    auto end = text.find(' ', word_at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(word_at, end - word_at);
    pos = end;
    const std::size_t room = width > prefix.size() ? width - prefix.size() : 1;
    if (!line.empty() && line.size() + gap.size() + word.size() <= room) {
      line += gap;
      line += word;
      continue;
    }
    if (!line.empty()) flush();
    for (;;) {
      const std::size_t r = width > prefix.size() ? width - prefix.size() : 1;
      if (word.size() <= r || !split_words) {
        line = std::string(word);
        break;
      }
      // A word longer than a whole line: split it.
      line = std::string(word.substr(0, r));
      word.remove_prefix(r);
      flush();
    }
  }
  if (!line.empty() || first.find_first_not_of(' ') != std::string::npos) flush();
}

/// `label` padded to the evidence column.
std::string label(std::string_view name) {
  std::string s = "  " + std::string(name);
  constexpr std::size_t column = 13;
  if (s.size() < column)
    s.resize(column, ' ');
  else
    s += ' ';
  return s;
}

const std::string evidence_indent(13, ' ');

std::string truncate(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  if (width <= 3) return text.substr(0, width);
  return text.substr(0, width - 3) + "...";
}

void render_header(std::string& out, const v1::Report& report, const text_style& style, std::size_t width) {
  std::string title = "dropspot: " + escape(report.target());
  if (!report.address().empty() && report.address() != report.target()) title += " (" + escape(report.address()) + ")";
  wrap(out, "", "  ", title, width);
  if (!report.error().empty()) {  // nothing was tested
    wrap(out, "", "  ", "not tested: " + escape(report.error()), width);
    return;
  }

  const auto& agent = report.agent();
  if (agent.path() == "local") {  // agent check: the host's own view
    wrap(out, "", "  ", "agent check: the host's own view (listeners, firewall rules, services); no probe was sent",
         width);
    return;
  }
  const bool good = agent.status() == v1::AgentInfo::CONNECTED;
  const std::string status = v1::AgentInfo::Status_Name(agent.status());
  std::string line = "agent: " + std::string(paint(style, good ? green : yellow)) + status + paint(style, reset);
  std::string rest;
  if (good) {
    if (!agent.endpoint().empty()) rest += " at " + escape(agent.endpoint());
    if (!agent.path().empty()) rest += " via " + escape(agent.path());
    if (!agent.hostname().empty()) rest += ", host " + escape(agent.hostname());
    std::string about = agent.os();
    if (!agent.software().empty()) about += (about.empty() ? "" : ", ") + agent.software();
    if (!about.empty()) rest += " (" + escape(about) + ")";
  } else if (!agent.message().empty()) {
    rest += " - " + escape(agent.message());
  }
  // Wrapped without colour, since escape codes take no columns; then painted.
  std::string wrapped;
  wrap(wrapped, "", "  ", "agent: " + status + rest, width);
  wrapped.replace(0, std::string("agent: ").size() + status.size(), line);
  out += wrapped;

  if (good) {
    std::string facts = "round trip " + fixed(agent.rtt_ms(), 2) + " ms";
    if (!agent.peer_address().empty()) {
      facts += "; the agent sees us as " + escape(agent.peer_address());
      if (!agent.peer_origin().empty()) facts += " (from " + escape(agent.peer_origin()) + ")";
    }
    if (agent.capture_active()) {
      facts += "; capture running";
      if (agent.interfaces_size() > 0) {
        facts += " on ";
        for (int i = 0; i < agent.interfaces_size(); ++i) facts += (i ? ", " : "") + escape(agent.interfaces(i));
      }
    } else {
      facts += "; capture NOT running";
      if (!agent.message().empty()) facts += ": " + escape(agent.message());
    }
    wrap(out, "  ", "    ", facts, width);
    if (agent.refused_ports_size() > 0) {
      std::string r = "ports the agent refused (--allow-ports):";
      for (int i = 0; i < agent.refused_ports_size(); ++i) r += (i ? ", " : " ") + num(agent.refused_ports(i));
      wrap(out, "  ", "    ", r, width);
    }
    if (!agent.pcap_file().empty())
      wrap(out, "  ", "    ", "capture kept on the agent host: " + escape(agent.pcap_file()), width);
  } else {
    for (const auto& t : agent.tried()) wrap(out, "  tried ", "    ", escape(t), width);
    wrap(out, "  ", "  ", "client-side view only: where a connection dies cannot be localised", width);
  }
}

void render_table(std::string& out, const v1::Report& report, const text_style& style, std::size_t width) {
  std::size_t w_port = 4, w_probe = 5, w_verdict = 7;
  for (const auto& p : report.ports()) {
    w_port = std::max(w_port, port_name(p).size());
    w_probe = std::max(w_probe, escape(p.probe()).size());
    w_verdict = std::max(w_verdict, v1::Verdict_Name(p.verdict()).size());
  }
  auto pad = [](std::string s, std::size_t w) {
    if (s.size() < w) s.resize(w, ' ');
    return s;
  };
  const std::size_t fixed_cols = w_port + 2 + w_probe + 2 + w_verdict + 2;
  // Too narrow for a summary column: the summary goes on a line of its own.
  const bool own_line = width < fixed_cols + 20;
  const std::size_t w_summary = own_line ? width - 4 : width - fixed_cols;
  std::string head = pad("PORT", w_port) + "  " + pad("PROBE", w_probe) + "  " +
                     (own_line ? std::string("VERDICT") : pad("VERDICT", w_verdict) + "  SUMMARY");
  out += paint(style, bold) + head + paint(style, reset) + "\n";
  for (const auto& p : report.ports()) {
    const std::string name = v1::Verdict_Name(p.verdict());
    std::string row = pad(port_name(p), w_port) + "  " + pad(escape(p.probe()), w_probe) + "  ";
    row += paint(style, verdict_color(p.verdict())) + name + paint(style, reset);
    const std::string summary = truncate(escape(p.summary()), w_summary);
    if (own_line) {
      out += row + "\n";
      if (!summary.empty()) out += "    " + summary + "\n";
      continue;
    }
    row += std::string(w_verdict - name.size() + 2, ' ') + summary;
    while (!row.empty() && row.back() == ' ') row.pop_back();
    out += row + "\n";
  }
}

/// What the application probe of each OPEN port saw (HTTP status, certificate,
/// SMTP greeting, SSH version): the table's summary column is too narrow.
void render_app_lines(std::string& out, const v1::Report& report, std::size_t width) {
  bool first = true;
  for (const auto& p : report.ports()) {
    if (p.verdict() != v1::OPEN || !p.has_app() || p.app().detail().empty()) continue;
    if (first) out += "\n";
    first = false;
    const auto kind = escape(p.app().kind().empty() ? p.probe() : p.app().kind());
    wrap(out, port_name(p) + " " + kind + ": ", "    ", escape(p.app().detail()), width);
  }
}

/// One item of advice: its commands never broken across lines.
void render_advice_item(std::string& out, const std::string& advice, std::size_t width) {
  wrap(out, "    - ", "      ", glue_commands(escape(advice), evidence_glue), width, false);
}

/// Advice given for several of the ports shown: said once, after them.
struct shared_advice {
  std::string text;
  std::vector<port_key> ports;
};

port_key key_of(const v1::PortReport& p) {
  return make_port_key(static_cast<std::uint16_t>(p.port()), p.protocol() == v1::UDP);
}

std::string port_list(const std::vector<std::uint32_t>& ports) {
  std::string s;
  for (std::size_t i = 0; i < ports.size(); ++i)
    s += (i == 0 ? "" : i + 1 == ports.size() ? " and " : ", ") + key_label(ports[i]);
  return s;
}

void render_details(std::string& out, const v1::Report& report, const v1::PortReport& p, const text_style& style,
                    std::size_t width, std::uint64_t base, const std::vector<shared_advice>& shared) {
  const std::string name = v1::Verdict_Name(p.verdict());
  std::string title = "port " + port_name(p);
  if (!p.probe().empty()) title += " (" + escape(p.probe()) + ")";
  out += title + ": " + paint(style, verdict_color(p.verdict())) + name + paint(style, reset) + "\n";
  wrap(out, "  ", "  ", escape(p.summary()), width);
  for (const auto& line : evidence_lines(report, p, base))
    wrap(out, label(line.label), evidence_indent, line.text, width);
  std::vector<std::uint32_t> shared_with;
  bool heading = false;
  for (const auto& a : p.advice()) {
    const auto group = std::find_if(shared.begin(), shared.end(), [&](const auto& s) { return s.text == a; });
    if (group != shared.end()) {
      for (auto other : group->ports)
        if (other != key_of(p) && std::find(shared_with.begin(), shared_with.end(), other) == shared_with.end())
          shared_with.push_back(other);
      continue;
    }
    if (!heading) out += "  next steps:\n";
    heading = true;
    render_advice_item(out, a, width);
  }
  if (!shared_with.empty()) {
    std::sort(shared_with.begin(), shared_with.end());
    wrap(out, heading ? "    - " : "  next steps: ", "      ",
         std::string(heading ? "and " : "") + "those shared with port" + (shared_with.size() > 1 ? "s " : " ") +
             port_list(shared_with) + ", below",
         width);
  }
}

/// The advice that two or more of the shown ports share, in order of first use.
template <class Shown>
std::vector<shared_advice> shared_advice_of(const v1::Report& report, const Shown& shown) {
  std::vector<shared_advice> all;
  for (const auto& p : report.ports()) {
    if (!shown(p)) continue;
    for (const auto& a : p.advice()) {
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& s) { return s.text == a; });
      if (it == all.end()) {
        all.push_back({a, {key_of(p)}});
      } else if (std::find(it->ports.begin(), it->ports.end(), key_of(p)) == it->ports.end()) {
        it->ports.push_back(key_of(p));
      }
    }
  }
  std::erase_if(all, [](const auto& s) { return s.ports.size() < 2; });
  return all;
}

}  // namespace

text_style text_style_for_stdout(color_mode mode) {
  text_style style;
  const char* no_color = std::getenv("NO_COLOR");
  const bool terminal = os::ansi_terminal(stdout);
  style.color = mode == color_mode::always ||
                (mode == color_mode::automatic && terminal && (no_color == nullptr || *no_color == '\0'));
  if (const int columns = os::terminal_columns(stdout); columns > 0) style.width = columns;
  return style;
}

std::string render_text(const v1::Report& report, const text_style& style) {
  const auto width = static_cast<std::size_t>(std::max(40, style.width));
  std::string out;
  const bool quiet = style.detail == verbosity::quiet;
  // Whose details are shown: an OPEN port can still need work (advice).
  const auto shown = [&](const v1::PortReport& p) {
    if (quiet) return !p.as_expected() && !p.expect().empty();
    return style.detail == verbosity::verbose || p.verdict() != v1::OPEN || p.advice_size() > 0;
  };
  if (!quiet || !report.error().empty()) render_header(out, report, style, width);
  if (report.ports_size() == 0) return out;
  if (!quiet) {
    out += "\n";
    render_table(out, report, style, width);
    render_app_lines(out, report, width);
  }

  const auto base = time_base(report);
  const auto shared = shared_advice_of(report, shown);
  for (const auto& p : report.ports()) {
    if (!shown(p)) continue;
    if (!out.empty()) out += "\n";
    render_details(out, report, p, style, width, base, shared);
  }
  // Steps that several ports share, once, in groups of the same ports.
  std::vector<std::vector<std::uint32_t>> groups;
  for (const auto& s : shared)
    if (std::find(groups.begin(), groups.end(), s.ports) == groups.end()) groups.push_back(s.ports);
  for (const auto& g : groups) {
    out += "\n";
    wrap(out, "", "  ", "next steps for ports " + port_list(g) + ":", width);
    for (const auto& s : shared)
      if (s.ports == g) render_advice_item(out, s.text, width);
  }

  std::vector<std::string> unexpected;
  for (const auto& p : report.ports())
    if (!p.expect().empty() && !p.as_expected())
      unexpected.push_back(port_name(p) + " (expected " + escape(p.expect()) + ", got " +
                           v1::Verdict_Name(p.verdict()) + ")");
  if (!unexpected.empty()) {
    std::string s;
    for (const auto& u : unexpected) s += (s.empty() ? "" : ", ") + u;
    if (!out.empty()) out += "\n";
    wrap(out, "not as expected: ", "  ", s, width);
  } else if (report.ports_size() > 0 && !report.ports(0).expect().empty()) {
    out += out.empty() ? "every port as expected\n" : "\nevery port as expected\n";
  }
  if (quiet) return out;
  if (report.notes_size() > 0) {
    out += "\nnotes:\n";
    for (const auto& n : report.notes()) wrap(out, "  - ", "    ", escape(n), width);
  }
  if (report.elapsed_ms() > 0) out += "\ndone in " + fixed(report.elapsed_ms() / 1000.0, 2) + " s\n";
  if (report.runs() > 1)  // --wait: this report is the last run's
    out += "run " + num(report.runs()) + " of --wait: " +
           (report.ready_after_ms() > 0 ? "ready after " + fixed(report.ready_after_ms() / 1000.0, 1) + " s"
                                        : std::string("not ready by the deadline")) +
           "\n";
  return out;
}

std::string render_fleet_summary(const std::vector<v1::Report>& reports, const text_style& style) {
  const auto width = static_cast<std::size_t>(std::max(40, style.width));
  std::size_t good = 0;
  for (const auto& r : reports)
    if (r.ok()) ++good;
  // A name tested at several addresses (IPv4 and IPv6) has a row for each.
  std::map<std::string, std::size_t> per_name;
  for (const auto& r : reports) ++per_name[r.target()];
  const auto label = [&](const v1::Report& r) {
    return escape(r.target()) + (per_name[r.target()] > 1 && !r.address().empty() ? " " + escape(r.address()) : "");
  };
  std::string counted = num(reports.size()) + " targets";
  if (per_name.size() == 1 && reports.size() > 1)
    counted = num(reports.size()) + " addresses of " + escape(reports.front().target());
  else if (per_name.size() < reports.size())
    counted = num(reports.size()) + " addresses of " + num(per_name.size()) + " targets";
  std::string out =
      std::string(paint(style, bold)) + counted + ", " + num(good) + " as expected" + paint(style, reset) + "\n";
  std::size_t host_width = 6;
  for (const auto& r : reports) host_width = std::max(host_width, label(r).size());
  host_width = std::min<std::size_t>(host_width, 48);
  const auto column = [](std::string s, std::size_t w) {
    s = truncate(s, w);
    s.resize(w, ' ');
    return s;
  };
  out += "  " + column("target", host_width) + "  " + column("agent", 11) + "  " + column("ports", 5) + "  " +
         "not as expected\n";
  for (const auto& r : reports) {
    std::string agent = r.error().empty() ? lower(v1::AgentInfo::Status_Name(r.agent().status())) : "-";
    std::size_t ok_ports = 0;
    std::string bad;
    for (const auto& p : r.ports()) {
      if (p.as_expected()) {
        ++ok_ports;
        continue;
      }
      bad += (bad.empty() ? "" : ", ") + port_name(p) + " " + v1::Verdict_Name(p.verdict());
    }
    const bool agent_missing = r.error().empty() && r.agent().status() != v1::AgentInfo::CONNECTED &&
                               r.agent().status() != v1::AgentInfo::DISABLED;
    std::string_view error = r.error();
    if (error.rfind("--target: ", 0) == 0) error.remove_prefix(10);
    if (!error.empty()) bad = "not tested: " + escape(error);
    if (bad.empty() && agent_missing) bad = "every port; the agent not used";
    if (bad.empty()) bad = "-";
    std::string line = "  " + column(label(r), host_width) + "  " + column(agent, 11) + "  " +
                       column(r.error().empty() ? num(ok_ports) + "/" + num(r.ports_size()) : "-", 5) + "  ";
    const auto rest = width > line.size() + 3 ? width - line.size() : 3;
    const char* paint_code = r.ok() ? green : (agent_missing && bad.rfind("every port", 0) == 0 ? yellow : red);
    out += line + paint(style, paint_code) + truncate(bad, rest) + paint(style, reset) + "\n";
  }
  // Where a name's addresses disagree: each line once (every report of the name carries it).
  std::vector<std::string> compared;
  for (const auto& r : reports)
    for (const auto& n : r.address_notes())
      if (std::find(compared.begin(), compared.end(), n) == compared.end()) compared.push_back(n);
  if (!compared.empty()) {
    out += "\nthe addresses disagree:\n";
    for (const auto& n : compared) wrap(out, "  - ", "    ", escape(n), width);
  }
  return out;
}

void write_json(std::ostream& out, const v1::Report& report) {
  // render/json: protobuf's JSON text, written in one walk of the report
  // (protobuf's own writer took a fifth of the prober's CPU on a sweep).
  // The ports go out a piece at a time into the place of an empty list, so
  // a sweep's 7 MB of text is never held at once (the prober's memory target).
  // (Not a copy of the report without its ports: copying 3000 ports cost
  // more than writing them.)
  std::string json;
  append_json(json, report, 0, v1::Report::descriptor()->FindFieldByName("ports"));
  json += '\n';
  const std::string empty_ports = "\"ports\": []";
  const auto at = json.find(empty_ports);
  if (report.ports_size() == 0 || at == std::string::npos) {  // no ports, or no place for them: whole
    json.clear();
    append_json(json, report);
    json += '\n';
    out.write(json.data(), static_cast<std::streamsize>(json.size()));
    return;
  }
  const auto before = at + empty_ports.size() - 1;  // up to and with the '['
  out.write(json.data(), static_cast<std::streamsize>(before));
  // Written in pieces of some 256 KiB: a port at a time went to the file in
  // 4 KiB writes (stdout's buffer), 1800 system calls for a sweep's report.
  constexpr std::size_t piece = std::size_t{1} << 18;
  std::string ports;
  ports.reserve(piece + 8192);
  for (int i = 0; i < report.ports_size(); ++i) {
    ports += i > 0 ? ",\n  " : "\n  ";
    append_json(ports, report.ports(i), 2);
    if (ports.size() >= piece || i + 1 == report.ports_size()) {
      out.write(ports.data(), static_cast<std::streamsize>(ports.size()));
      ports.clear();
    }
  }
  out << "\n ";
  out.write(json.data() + before, static_cast<std::streamsize>(json.size() - before));
}

std::string render_json(const v1::Report& report) {
  std::ostringstream out;
  write_json(out, report);
  return out.str();
}

void write_json(std::ostream& out, const std::vector<v1::Report>& reports) {
  out << "{\n \"targets\": [\n";
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (i > 0) out << ",\n";
    write_json(out, reports[i]);
  }
  out << " ]\n}";
}

}  // namespace dropspot
