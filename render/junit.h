#pragma once
// Rendering a Report as JUnit XML for CI test reporters (GitLab, Jenkins,
// GitHub test-report actions). Pure code.
#include <string>
#include <string_view>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot {

/// Text made safe for XML 1.0 element content and attribute values: bytes
/// that XML cannot carry at all (control bytes) and non-ASCII bytes (the
/// network may send invalid UTF-8) are written as \xNN, like common/text.h's
/// escape(), then & < > " ' become entity references. Newlines are kept
/// when keep_newlines, else shown as \n.
std::string xml_escape(std::string_view text, bool keep_newlines = false);

/// The case's name for a port: "tcp/80 http" (port and probe kind).
std::string junit_case_name(const v1::PortReport& port);

/// One <testsuites> holding one <testsuite> named "dropspot <target>", one
/// <testcase> per port (classname "dropspot.<target>" with the target's dots
/// and colons as "_", name junit_case_name,
/// time = the port's decided_ms in seconds). A port not as expected gets a
/// <failure> whose message says expected and got, type the verdict name, and
/// whose text holds the summary, the evidence (render/evidence.h: the same
/// lines as the text report, "label: text") and the advice. When the
/// agent was required but not used (exit code 1 with every port as
/// expected), an extra "agent" testcase fails with the agent's status and
/// message. The suite's <properties> name the target, address, agent status,
/// runs and ready_after_ms, and the agent's pcap file; the report's notes go
/// to <system-out>. Valid against the usual JUnit XML schema
/// (tests/data/junit.xsd).
std::string render_junit(const v1::Report& report);

/// Several targets: one <testsuite> each, as above, in one <testsuites>
/// whose counts are the sums and whose time is the longest suite's (the
/// targets ran side by side).
std::string render_junit(const std::vector<v1::Report>& reports);

}  // namespace dropspot
