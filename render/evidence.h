#pragma once
// One port's evidence as lines, shared by every renderer: the text report
// wraps them to the terminal, JUnit puts them in a failure's text, so an
// attempt, a packet, a listener, a rule reads the same in both. Pure code.
#include <cstdint>
#include <string>
#include <vector>

#include "dropspot.pb.h"

namespace dropspot {

/// Stands for a space where a line must not break ("2000 ms"). escape()
/// never lets this byte through from the network, so it can only come from
/// the evidence lines; unglue() turns it back into a space.
inline constexpr char evidence_glue = '\x1f';

/// `text` with every evidence_glue as a space.
std::string unglue(std::string text);

/// One line of evidence: its label ("prober", "agent", "listener", "hop",
/// "firewall", "saved", "service", "app", "note", "expected") and its text,
/// escaped (the bytes came from the network or the host), glued where a
/// break would split a number from its unit.
struct evidence_line {
  std::string label;
  std::string text;
};

/// Milliseconds as people read them: one decimal below 10 ("1.5 ms",
/// "2000 ms"), glued.
std::string ms_text(double ms);

/// The time every evidence line's "+N ms" counts from: the earliest attempt
/// start in the report, else the earliest packet; 0 (no times shown) if none.
std::uint64_t time_base(const v1::Report& report);

/// The port's evidence in report order: the prober's attempts, the agent's
/// packets (or that it saw none), the listeners (or that there are none,
/// when the agent was there to look), the hop search, firewall rules, saved
/// rules, services, the application probe, notes, and the expectation.
std::vector<evidence_line> evidence_lines(const v1::Report& report, const v1::PortReport& port,
                                          std::uint64_t time_base);

}  // namespace dropspot
