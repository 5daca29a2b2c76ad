#include "agent/systemd.h"

#include "agent/host_files.h"
#include "agent/run_program.h"
#include "common/ports.h"
#include "common/text.h"

namespace dropspot::agent {

std::string unit_state::describe() const {
  if (!found()) return "not found";
  std::string out = active_state.empty() ? std::string("unknown") : active_state;
  if (!sub_state.empty() && sub_state != active_state) out += " (" + sub_state + ")";
  if (failed() && !result.empty() && result != "success") out += " (Result: " + result + ")";
  if (active() && main_pid) out += " pid " + std::to_string(main_pid);
  if (load_state == "masked" || unit_file_state == "masked") return out + ", masked";
  if (unit_file_state.empty()) return out;
  if (enabled()) return out + ", " + (unit_file_state == "enabled" ? std::string("enabled at boot") : unit_file_state);
  return out + ", " + unit_file_state + " at boot";
}

unit_state parse_systemctl_show(std::string_view text) {
  unit_state u;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = line.substr(0, eq);
    std::string value(trim(std::string_view(line).substr(eq + 1)));
    if (key == "Id")
      u.name = value;
    else if (key == "LoadState")
      u.load_state = value;
    else if (key == "ActiveState")
      u.active_state = value;
    else if (key == "SubState")
      u.sub_state = value;
    else if (key == "UnitFileState")
      u.unit_file_state = value;
    else if (key == "Result")
      u.result = value;
    else if (key == "MainPID")
      u.main_pid = static_cast<std::uint32_t>(std::strtoul(value.c_str(), nullptr, 10));
    else if (key == "Wants")
      u.wants = words(value);
    else if (key == "Requires")
      u.requires_ = words(value);
    else if (key == "After")
      u.after = words(value);
  }
  return u;
}

std::vector<socket_unit> parse_list_sockets(std::string_view text) {
  std::vector<socket_unit> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto w = words(line);
    if (w.size() < 2 || w[0] == "LISTEN" || w[1].find('.') == std::string::npos) continue;
    socket_unit s;
    s.listen = w[0];
    s.unit = w[1];
    if (w[0].find('/') == std::string::npos)
      if (auto p = port_of_listen(w[0])) s.port = *p;
    for (std::size_t i = 2; i < w.size(); ++i) {
      auto name = w[i];
      if (!name.empty() && name.back() == ',') name.pop_back();
      if (!name.empty()) s.activates.push_back(name);
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool listen_covers(std::string_view listen, std::string_view address) {
  const auto colon = listen.rfind(':');
  if (colon == std::string_view::npos) return true;  // a bare port
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == address;
}

systemd_manager::systemd_manager(const std::string& root, std::chrono::milliseconds timeout) : timeout_(timeout) {
  if (!path_exists(join_root(root, "/run/systemd/system"))) unavailable_ = "systemd not running: unit state unknown";
}

std::vector<socket_unit> systemd_manager::sockets_for_port(std::uint16_t port) {
  std::vector<socket_unit> out;
  if (!unavailable_.empty()) return out;
  if (!sockets_) {
    std::string err;
    auto text =
        run_program({"systemctl", "list-sockets", "--all", "--no-legend", "--no-pager", "--full"}, timeout_, err);
    sockets_ = text ? parse_list_sockets(*text) : std::vector<socket_unit>{};
  }
  for (const auto& s : *sockets_)
    if (s.port == port) out.push_back(s);
  return out;
}

std::optional<unit_state> systemd_manager::state(const std::string& unit) {
  if (!unavailable_.empty()) return std::nullopt;
  std::string err;
  auto text = run_program({"systemctl", "show", "-p", std::string(unit_properties), "--", unit}, timeout_, err);
  if (!text) return std::nullopt;
  auto u = parse_systemctl_show(*text);
  if (u.name.empty()) u.name = unit;
  return u;
}

std::vector<std::string> systemd_manager::journal_tail(const std::string& unit, std::size_t lines) {
  std::vector<std::string> out;
  if (!unavailable_.empty()) return out;
  std::string err;
  auto text = run_program({"journalctl", "-u", unit, "-n", std::to_string(lines), "--no-pager", "-q", "-o", "short"},
                          timeout_, err);
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line))
    if (!trim(line).empty()) out.push_back(line);
  if (out.size() > lines) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(lines));
  return out;
}

}  // namespace dropspot::agent
