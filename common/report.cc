#include "common/report.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cstdlib>

#include "common/text.h"

namespace dropspot {

namespace {

const char* paint(const text_style& style, const char* code) { return style.color ? code : ""; }

}  // namespace

text_style text_style_for_stdout() {
  text_style style;
  const char* no_color = std::getenv("NO_COLOR");
  style.color = ::isatty(STDOUT_FILENO) && (no_color == nullptr || *no_color == '\0');
  return style;
}

std::string render_text(const v1::Report& report, const text_style& style) {
  std::string out;
  const auto& agent = report.agent();
  out += "dropspot: " + report.target();
  if (report.address() != report.target()) out += " (" + report.address() + ")";
  out += "\n";
  const bool good = agent.status() == v1::AgentInfo::CONNECTED;
  out += std::string("agent: ") + paint(style, good ? "\x1b[32m" : "\x1b[33m") +
         v1::AgentInfo::Status_Name(agent.status()) + paint(style, "\x1b[0m");
  if (!agent.message().empty()) out += " - " + escape(agent.message());
  out += "\n";
  if (good) {
    out += "  agent host " + escape(agent.hostname()) + ", " + escape(agent.software()) + ", path " + agent.path() +
           "\n";
    out += "  the agent sees us as " + agent.peer_address();
    char rtt[32];
    std::snprintf(rtt, sizeof rtt, "%.2f", agent.rtt_ms());
    out += ", control round trip " + std::string(rtt) + " ms\n";
  }
  for (const auto& t : agent.tried())
    if (!good) out += "  tried " + escape(t) + "\n";
  return out;
}

std::string render_json(const v1::Report& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = false;
  options.always_print_primitive_fields = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(report, &json, options);
  if (!status.ok()) return "{\"error\":\"cannot render the report as JSON\"}";
  return json;
}

}  // namespace dropspot
