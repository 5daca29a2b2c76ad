#pragma once
// What systemd says about units: `systemctl show` and `systemctl
// list-sockets` parsed (pure), and service_manager, the questions the agent
// asks. systemd_manager runs systemctl and journalctl (no shell, with a
// deadline); in unit tests, tests/unit/support/fake_service_manager.h answers
// from maps.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dropspot::agent {

/// One unit as `systemctl show -p ...` reports it.
struct unit_state {
  std::string name;             ///< Id: "nginx.service" (an alias resolves to its unit: sshd -> ssh.service)
  std::string load_state;       ///< loaded, not-found, masked, error
  std::string active_state;     ///< active, inactive, failed, activating, deactivating
  std::string sub_state;        ///< running, dead, failed, exited, auto-restart
  std::string unit_file_state;  ///< enabled, disabled, static, masked, indirect, generated ("" when unknown)
  std::string result;           ///< success, exit-code, signal, core-dump, timeout, start-limit-hit
  std::uint32_t main_pid = 0;
  std::vector<std::string> wants, requires_, after;  ///< dependencies (Wants=, Requires=, After=)

  /// The unit exists (has a unit file or runs).
  bool found() const { return !load_state.empty() && load_state != "not-found"; }
  bool active() const { return active_state == "active" || active_state == "reloading"; }
  bool failed() const {
    return active_state == "failed" || result == "exit-code" || result == "signal" || result == "core-dump" ||
           result == "timeout" || result == "start-limit-hit";
  }
  /// Starts at boot: enabled (or enabled-runtime, indirect, generated, static, alias).
  bool enabled() const {
    return unit_file_state == "enabled" || unit_file_state == "enabled-runtime" || unit_file_state == "static" ||
           unit_file_state == "indirect" || unit_file_state == "generated" || unit_file_state == "alias";
  }
  /// "failed (Result: exit-code), enabled at boot", "active (running), disabled at boot".
  std::string describe() const;
};

/// The properties systemd_manager asks `systemctl show -p` for.
inline constexpr std::string_view unit_properties =
    "Id,LoadState,ActiveState,SubState,UnitFileState,Result,MainPID,Wants,Requires,After";

/// Parses `systemctl show` output (Key=value lines; list values space separated).
unit_state parse_systemctl_show(std::string_view text);

/// One line of `systemctl list-sockets --all --no-legend --no-pager`:
/// "[::]:22   ssh.socket   ssh.service".
struct socket_unit {
  std::string listen;                  ///< "[::]:22", "0.0.0.0:80", "/run/x.sock"
  std::uint16_t port = 0;              ///< 0 for a non-TCP/UDP listen
  std::string unit;                    ///< "ssh.socket"
  std::vector<std::string> activates;  ///< "ssh.service"
};
std::vector<socket_unit> parse_list_sockets(std::string_view text);

/// Whether a socket unit's listen ("[::]:22", "0.0.0.0:80", "22") is the
/// socket bound to `address` ("::", "0.0.0.0"): a bare port is any address.
bool listen_covers(std::string_view listen, std::string_view address);

/// What the agent asks systemd.
class service_manager {
 public:
  virtual ~service_manager() = default;
  /// Empty when the manager can answer; otherwise why it cannot
  /// ("systemd not running: unit state unknown").
  virtual std::string unavailable() const = 0;
  /// The socket units that listen on `port` (socket activation: systemd
  /// holds the socket and starts the services they name).
  virtual std::vector<socket_unit> sockets_for_port(std::uint16_t port) = 0;
  /// The unit's state; nothing when it cannot be asked.
  virtual std::optional<unit_state> state(const std::string& unit) = 0;
  /// The unit's last `lines` journal lines, oldest first.
  virtual std::vector<std::string> journal_tail(const std::string& unit, std::size_t lines) = 0;
};

/// The real one: systemctl and journalctl, each call bounded by `timeout`.
/// Unavailable when <root>/run/systemd/system does not exist (systemd is not
/// the running init: containers, this test machine).
class systemd_manager : public service_manager {
 public:
  explicit systemd_manager(const std::string& root = "/",
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  std::string unavailable() const override { return unavailable_; }
  std::vector<socket_unit> sockets_for_port(std::uint16_t port) override;
  std::optional<unit_state> state(const std::string& unit) override;
  std::vector<std::string> journal_tail(const std::string& unit, std::size_t lines) override;

 private:
  std::string unavailable_;
  std::chrono::milliseconds timeout_;
  std::optional<std::vector<socket_unit>> sockets_;  ///< list-sockets, read once
};

}  // namespace dropspot::agent
