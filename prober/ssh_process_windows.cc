// The ssh child on Windows: not built yet. --ssh fails at once with a plain
// message, which the report shows as the agent's status (ERROR), and the
// port probes still run; the agent's TLS port (--agent) works as on Linux.
// (Next step: CreateProcess of Windows' own OpenSSH client, ssh.exe, with
// overlapped named pipes for asio::windows::stream_handle.)
#include "prober/ssh_transport.h"

namespace dropspot::prober {

class ssh_port {};

std::shared_ptr<ssh_port> start_ssh(const asio::any_io_executor&, const ssh_settings& settings, std::string& error) {
  if (auto argv = ssh_argv(settings); !argv) {
    error = argv.error();
  } else {
    error =
        "--ssh is not available in the Windows build yet: use the agent's TLS port (--agent HOST[:PORT] --token-file "
        "FILE)";
  }
  return nullptr;
}

asio::awaitable<ssh_failure> explain_ssh_failure(ssh_port&) {
  co_return ssh_failure{ssh_failure::kind::error, "--ssh is not available in the Windows build yet", ""};
}

std::shared_ptr<message_port> as_message_port(const std::shared_ptr<ssh_port>&) { return nullptr; }

asio::awaitable<void> collect_ssh_stderr(std::shared_ptr<ssh_port>) { co_return; }

}  // namespace dropspot::prober
