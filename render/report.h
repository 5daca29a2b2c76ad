#pragma once
// Rendering a Report for people (text) and programs (JSON). Pure code.
#include <iosfwd>
#include <string>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot {

/// How much the text report says: quiet, only the ports not as expected and
/// the closing line; normal, the details of every port that is not OPEN (or
/// has advice); verbose, the details of every port.
enum class verbosity { quiet, normal, verbose };

struct text_style {
  bool color = false;
  int width = 80;  ///< columns; lines are wrapped or truncated to fit (at least 40), commands aside
  verbosity detail = verbosity::normal;
};

/// --color: auto (on a terminal, unless NO_COLOR is set), always, never.
enum class color_mode { automatic, always, never };

/// For standard output: colour as `mode` says; the terminal's width, 80 when
/// standard output is not a terminal.
text_style text_style_for_stdout(color_mode mode = color_mode::automatic);

/// The report for people: a header (target, address, the agent's status,
/// where it was reached, round trip, how it sees us), a table with one line
/// per port (port, probe, verdict, summary truncated with "..."), then for
/// every port that is not OPEN (or has advice) its evidence (each side's packets with times
/// in ms relative to the first attempt, TTL, TCP options, listeners, notes)
/// and advice, then ports not as expected and the cross-port notes. Every
/// line fits style.width columns (escape codes aside); colour (green OPEN,
/// red drops and rejects, yellow the rest) only with style.color. Text that
/// came from the network or the user is escaped (common/text.h).
std::string render_text(const v1::Report& report, const text_style& style);

/// The protobuf JSON mapping of the report, field names in lowerCamelCase
/// as protobuf prints them, enums by name, fields with default values
/// included so the shape is stable.
std::string render_json(const v1::Report& report);

/// The same, written to out as it is made (a sweep's JSON is megabytes).
void write_json(std::ostream& out, const v1::Report& report);

/// Several targets: {"targets": [<report>, ...]} in the targets' order.
void write_json(std::ostream& out, const std::vector<v1::Report>& reports);

/// Several targets' closing table, after their reports: how many are as
/// expected, then per target its agent's status, the ports as expected of
/// all, and those not (port and verdict), or why it was not tested. Fits
/// style.width; green a target as expected, red one that is not.
std::string render_fleet_summary(const std::vector<v1::Report>& reports, const text_style& style);

}  // namespace dropspot
