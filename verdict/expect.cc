// --expect: verdict classes and names.
#include <algorithm>
#include <cctype>

#include "common/text.h"
#include "verdict/verdict.h"

namespace dropspot {

std::string_view expectation_class(v1::Verdict verdict) {
  switch (verdict) {
    case v1::OPEN: return "open";
    case v1::DROPPED_IN_TRANSIT:
    case v1::REJECTED_IN_TRANSIT:
    case v1::DROPPED_BY_HOST_FIREWALL:
    case v1::REJECTED_BY_HOST_FIREWALL:
    case v1::REPLY_LOST:
    case v1::FILTERED: return "blocked";
    case v1::NO_LISTENER:
    case v1::LISTENER_WRONG_ADDRESS:
    case v1::CLOSED: return "closed";
    default: return "";
  }
}

bool verdict_meets(v1::Verdict verdict, std::string_view what) {
  const std::string low = lower(trim(what));
  if (low == "open" || low == "blocked" || low == "closed") return expectation_class(verdict) == low;
  v1::Verdict named{};
  return v1::Verdict_Parse(upper(trim(what)), &named) && named != v1::VERDICT_UNSPECIFIED && named == verdict;
}

void apply_expectation(v1::PortReport& port, std::string_view what) {
  port.set_expect(std::string(what));
  port.set_as_expected(verdict_meets(port.verdict(), what));
}

}  // namespace dropspot
