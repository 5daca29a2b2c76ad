#pragma once
// Rendering a Report for people (text) and programs (JSON). Pure code.
#include <string>

#include "dropspot.pb.h"

namespace dropspot {

struct text_style {
  bool color = false;
  int width = 80;
};

/// Colour only on a terminal, and never when NO_COLOR is set.
text_style text_style_for_stdout();

std::string render_text(const v1::Report& report, const text_style& style);

/// The protobuf JSON mapping of the report, field names in lowerCamelCase
/// as protobuf prints them, enums by name.
std::string render_json(const v1::Report& report);

}  // namespace dropspot
