#pragma once
// Small string helpers shared by the parsers and renderers.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dropspot {

std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
/// The whitespace-separated words of `s`.
std::vector<std::string> words(std::string_view s);
/// 'text' in single quotes, with control and non-ASCII bytes escaped (\xNN),
/// safe to print whatever bytes came from the network or the user.
std::string quote(std::string_view text);
/// Control and non-ASCII bytes escaped, no quotes.
std::string escape(std::string_view text);
/// Printable ASCII (0x20-0x7e): what escape() lets through as it is.
constexpr bool printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }
/// Appends how escape() writes a byte that is not printable: \n, \r, \t or \xNN.
void append_unprintable(std::string& out, unsigned char c);
std::string lower(std::string_view s);
std::string upper(std::string_view s);
bool starts_with_icase(std::string_view s, std::string_view prefix);
/// Whether `v` holds `s`.
bool contains(const std::vector<std::string>& v, std::string_view s);
/// A count as decimal digits (the renderers' shorthand for std::to_string).
inline std::string num(std::uint64_t n) { return std::to_string(n); }
/// `value` with `decimals` digits after the point ("%.*f").
std::string fixed(double value, int decimals);
/// Appends `s` unless `v` holds it already (lists of facts and commands keep their order).
void add_unique(std::vector<std::string>& v, std::string s);

}  // namespace dropspot
