// The ssh child on Windows: Windows' own OpenSSH client (ssh.exe, found on
// PATH or in %SystemRoot%\System32\OpenSSH; --ssh-command names another)
// started with CreateProcessW. Its stdin and stdout are the control channel:
// named pipes whose ends on our side are opened for overlapped I/O, which is
// what Asio's windows::stream_handle needs (anonymous pipes cannot do it);
// its stderr is a third pipe kept for classify_ssh_failure. The child gets
// those three handles and no other (an explicit inheritance list), and lives
// in a job object that ends it when the prober ends, however it ends.
#include <windows.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/windows/object_handle.hpp>
#include <atomic>
#include <chrono>
#include <optional>

#include "common/awaitable.h"
#include "common/pipe_port.h"
#include "common/text.h"
#include "prober/ssh_transport.h"

namespace dropspot::prober {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

/// Our arguments come from main's argv, in the ANSI code page (as the C
/// runtime gave them): widened the same way, they reach ssh.exe unchanged.
std::wstring widen(const std::string& text) {
  if (text.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_ACP, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_ACP, 0, text.data(), static_cast<int>(text.size()), out.data(), n);
  return out;
}

std::string environment(const char* name) {
  char value[32768];
  const DWORD n = ::GetEnvironmentVariableA(name, value, sizeof value);
  return n > 0 && n < sizeof value ? std::string(value, n) : std::string();
}

/// The system's words for a Win32 error code, on one line.
std::string win32_message(DWORD code) { return std::string(trim(std::system_category().message(int(code)))); }

/// A handle closed when it goes out of scope (unless released).
class owned_handle {
 public:
  owned_handle() = default;
  explicit owned_handle(HANDLE h) : h_(h) {}
  owned_handle(const owned_handle&) = delete;
  owned_handle& operator=(const owned_handle&) = delete;
  owned_handle(owned_handle&& other) noexcept : h_(other.release()) {}
  owned_handle& operator=(owned_handle&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~owned_handle() { reset(); }
  HANDLE get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr && h_ != INVALID_HANDLE_VALUE; }
  HANDLE release() { return std::exchange(h_, nullptr); }
  void reset(HANDLE h = nullptr) {
    if (*this) ::CloseHandle(h_);
    h_ = h;
  }

 private:
  HANDLE h_ = nullptr;
};

/// One pipe to the child: our end overlapped (for Asio), the child's end
/// inheritable and synchronous, as a console program expects its std handles.
struct pipe_pair {
  owned_handle ours;
  owned_handle childs;
};

/// we_read: the child writes (its stdout or stderr); else the child reads.
std::optional<pipe_pair> make_pipe(bool we_read, DWORD& error) {
  static std::atomic<unsigned> counter{0};
  // Unique per process and call; FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name
  // somebody else created first, so nobody can sit on our end.
  const std::wstring name = L"\\\\.\\pipe\\dropspot-ssh-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
                            std::to_wstring(counter++) + L"-" + std::to_wstring(::GetTickCount64());
  pipe_pair p;
  p.ours.reset(::CreateNamedPipeW(
      name.c_str(),
      (we_read ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 64 * 1024, 64 * 1024, 0,
      nullptr));
  if (!p.ours) {
    error = ::GetLastError();
    return std::nullopt;
  }
  SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
  // The attribute rights let the child's C runtime ask what its handle is.
  p.childs.reset(::CreateFileW(name.c_str(),
                               we_read ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES, 0,
                               &inherit, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr));
  if (!p.childs) {
    error = ::GetLastError();
    return std::nullopt;
  }
  return p;
}

/// The first candidate (ssh_program_candidates) that is a file.
std::optional<std::string> find_program(const std::string& program) {
  for (const auto& candidate : ssh_program_candidates(program, environment("PATH"), environment("SystemRoot"))) {
    const DWORD attributes = ::GetFileAttributesW(widen(candidate).c_str());
    if (attributes != INVALID_FILE_ATTRIBUTES && !(attributes & FILE_ATTRIBUTE_DIRECTORY)) return candidate;
  }
  return std::nullopt;
}

std::string not_found_message(const std::string& program) {
  if (program != "ssh")
    return "cannot run the ssh client: " + quote(program) + " was not found (--ssh-command names the program)";
  return "cannot run the ssh client: ssh.exe was not found on PATH nor in %SystemRoot%\\System32\\OpenSSH; install "
         "Windows' OpenSSH client (Settings > Apps > Optional features > OpenSSH Client, or in PowerShell as "
         "administrator: Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0), or name one with "
         "--ssh-command";
}

/// A job object that ends its processes when its last handle closes: when
/// the prober exits, even killed, ssh (and the login it holds) ends with it.
owned_handle make_kill_on_close_job() {
  owned_handle job(::CreateJobObjectW(nullptr, nullptr));
  if (!job) return job;
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits, sizeof limits)) job.reset();
  return job;
}

}  // namespace

class ssh_port final : public pipe_port {
 public:
  ssh_port(const asio::any_io_executor& executor, HANDLE read_end, HANDLE write_end, HANDLE err_end,
           owned_handle process, owned_handle job)
      : pipe_port(executor, read_end, write_end, "ssh"),
        err_(executor, err_end),
        process_(executor),
        job_(std::move(job)),
        stderr_closed_(executor, asio::steady_timer::time_point::max()) {
    // Where the child has no process handle (Wine starting a Unix program),
    // its stderr closing is the only sign that it ended.
    if (process) process_.assign(process.release());
  }
  ~ssh_port() override { end(); }

  asio::awaitable<void> close() override {
    stream().close();
    co_await wait_exit(2s);
  }

  /// Reads stderr (bounded) until ssh closes it.
  asio::awaitable<void> collect_stderr() {
    co_await read_until_closed(err_, stderr_, 64 * 1024);
    closed_ = true;
    stderr_closed_.cancel();
  }

  /// Waits for the child to exit, at most `limit`, then ends it.
  asio::awaitable<void> wait_exit(std::chrono::milliseconds limit) {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer deadline(executor, limit);
    if (process_.is_open() && !exited_) {
      auto exited = process_.async_wait(as_tuple_awaitable);
      auto timeout = deadline.async_wait(as_tuple_awaitable);
      co_await (std::move(exited) || std::move(timeout));
    } else if (!process_.is_open() && !closed_) {
      auto closed = stderr_closed_.async_wait(as_tuple_awaitable);
      auto timeout = deadline.async_wait(as_tuple_awaitable);
      co_await (std::move(closed) || std::move(timeout));
    }
    end();
  }

  const std::string& stderr_text() const { return stderr_; }
  int exit_status() const { return status_; }

 private:
  /// Collects the exit status; ends the child first if it still runs.
  void end() {
    if (exited_ || !process_.is_open()) return;
    HANDLE h = process_.native_handle();
    if (::WaitForSingleObject(h, 0) != WAIT_OBJECT_0) {
      ::TerminateProcess(h, 1);
      ::WaitForSingleObject(h, 2000);
    }
    DWORD code = 0;
    if (::GetExitCodeProcess(h, &code) && code != STILL_ACTIVE) status_ = static_cast<int>(code);
    exited_ = true;
  }

  pipe_end err_;
  asio::windows::object_handle process_;
  owned_handle job_;
  asio::steady_timer stderr_closed_;  ///< never expires; cancelled when stderr closes
  std::string stderr_;
  bool closed_ = false;
  bool exited_ = false;
  int status_ = -1;
};

std::shared_ptr<ssh_port> start_ssh(const asio::any_io_executor& executor, const ssh_settings& settings,
                                    std::string& error) {
  auto argv = ssh_argv(settings);
  if (!argv) {
    error = argv.error();
    return nullptr;
  }
  auto words = std::move(argv).value();
  const auto program = find_program(words[0]);
  if (!program) {
    error = not_found_message(words[0]);
    return nullptr;
  }
  words[0] = *program;
  DWORD failure = 0;
  auto to_child = make_pipe(false, failure);
  auto from_child = to_child ? make_pipe(true, failure) : std::nullopt;
  auto err_pipe = from_child ? make_pipe(true, failure) : std::nullopt;
  if (!err_pipe) {
    error = "cannot create pipes for ssh: " + win32_message(failure);
    return nullptr;
  }

  // Only the three pipe ends are inherited, whatever else is inheritable.
  HANDLE inherited[3] = {to_child->childs.get(), from_child->childs.get(), err_pipe->childs.get()};
  SIZE_T list_size = 0;
  ::InitializeProcThreadAttributeList(nullptr, 1, 0, &list_size);
  std::vector<unsigned char> list_storage(list_size);
  auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(list_storage.data());
  const bool have_list = list_size > 0 && ::InitializeProcThreadAttributeList(list, 1, 0, &list_size) &&
                         ::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
                                                     sizeof inherited, nullptr, nullptr);
  STARTUPINFOEXW startup{};
  startup.StartupInfo.cb = sizeof startup;
  startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  startup.StartupInfo.hStdInput = inherited[0];
  startup.StartupInfo.hStdOutput = inherited[1];
  startup.StartupInfo.hStdError = inherited[2];
  if (have_list) startup.lpAttributeList = list;

  const std::wstring application = widen(*program);
  std::wstring command_line = widen(windows_command_line(words));
  // Suspended until it is in the job: it cannot outlive us even briefly.
  const DWORD flags = CREATE_SUSPENDED | (have_list ? EXTENDED_STARTUPINFO_PRESENT : 0);
  PROCESS_INFORMATION started{};
  const BOOL ok = ::CreateProcessW(application.c_str(), command_line.data(), nullptr, nullptr, TRUE, flags, nullptr,
                                   nullptr, &startup.StartupInfo, &started);
  const DWORD create_error = ok ? 0 : ::GetLastError();
  if (have_list) ::DeleteProcThreadAttributeList(list);
  if (!ok) {
    error = create_error == ERROR_FILE_NOT_FOUND || create_error == ERROR_PATH_NOT_FOUND
                ? not_found_message(*program)
                : "cannot run the ssh client " + quote(*program) + ": " + win32_message(create_error);
    return nullptr;
  }
  owned_handle process(started.hProcess);
  owned_handle thread(started.hThread);
  auto job = make_kill_on_close_job();
  if (job && process && !::AssignProcessToJobObject(job.get(), process.get())) job.reset();
  if (thread) ::ResumeThread(thread.get());
  // The child holds its ends now: closing ours makes its exit our end-of-file.
  to_child->childs.reset();
  from_child->childs.reset();
  err_pipe->childs.reset();
  return std::make_shared<ssh_port>(executor, from_child->ours.release(), to_child->ours.release(),
                                    err_pipe->ours.release(), std::move(process), std::move(job));
}

asio::awaitable<ssh_failure> explain_ssh_failure(ssh_port& port) {
  port.stream().close();
  co_await port.wait_exit(3s);
  // Give the stderr reader a moment to drain what ssh wrote last.
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause(executor, 50ms);
  co_await pause.async_wait(as_tuple_awaitable);
  co_return classify_ssh_failure(port.exit_status(), port.stderr_text());
}

std::shared_ptr<message_port> as_message_port(const std::shared_ptr<ssh_port>& port) { return port; }

asio::awaitable<void> collect_ssh_stderr(std::shared_ptr<ssh_port> port) { co_await port->collect_stderr(); }

}  // namespace dropspot::prober
