#pragma once
// A service_manager that answers from maps, and records what it was asked:
// the unit tests' stand-in for systemd (agent/services.h).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/services.h"

namespace dropspot::agent {

class fake_service_manager : public service_manager {
 public:
  std::string unavailable_reason;
  std::map<std::string, unit_state> units;  ///< by name and alias
  std::map<std::string, std::vector<std::string>> journals;
  std::map<std::uint16_t, std::vector<socket_unit>> sockets;
  std::vector<std::string> calls;

  std::string unavailable() const override { return unavailable_reason; }
  std::vector<socket_unit> sockets_for_port(std::uint16_t port) override {
    calls.push_back("sockets_for_port " + std::to_string(port));
    auto it = sockets.find(port);
    return it == sockets.end() ? std::vector<socket_unit>{} : it->second;
  }
  std::optional<unit_state> state(const std::string& unit) override {
    calls.push_back("state " + unit);
    if (!unavailable_reason.empty()) return std::nullopt;
    auto it = units.find(unit);
    if (it != units.end()) return it->second;
    unit_state u;
    u.name = unit;
    u.load_state = "not-found";
    u.active_state = "inactive";
    u.sub_state = "dead";
    return u;
  }
  std::vector<std::string> journal_tail(const std::string& unit, std::size_t lines) override {
    calls.push_back("journal_tail " + unit);
    auto it = journals.find(unit);
    if (it == journals.end()) return {};
    auto out = it->second;
    if (out.size() > lines) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(lines));
    return out;
  }
};

/// A loaded unit as `systemctl show` describes it, for the fake's `units`.
inline unit_state unit(const char* name, const char* active, const char* sub, const char* file_state,
                       const char* result = "success", std::uint32_t pid = 0) {
  unit_state u;
  u.name = name;
  u.load_state = "loaded";
  u.active_state = active;
  u.sub_state = sub;
  u.unit_file_state = file_state;
  u.result = result;
  u.main_pid = pid;
  return u;
}

}  // namespace dropspot::agent
