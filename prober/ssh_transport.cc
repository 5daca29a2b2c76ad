#include "prober/ssh_transport.h"

// The pure, portable half: the ssh command line and what its failure means.
// The child process itself: ssh_process_posix.cc (Windows:
// ssh_process_windows.cc).
#include "common/endpoint.h"
#include "common/text.h"

namespace dropspot::prober {

namespace {

/// Splits a command line on blanks; single or double quotes group words.
result<std::vector<std::string>> split_command(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote_char = 0;
  for (char c : text) {
    if (quote_char) {
      if (c == quote_char) {
        quote_char = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote_char = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote_char) return result<std::vector<std::string>>::failure("unbalanced quote in " + quote(text));
  if (in_word) words.push_back(std::move(word));
  return words;
}

/// Whether ssh's stderr says `needle`, in any case.
bool says(const std::string& haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

/// The last non-empty line of ssh's stderr, escaped, for the report.
std::string last_line(const std::string& text) {
  std::string_view t = trim(text);
  auto nl = t.rfind('\n');
  return escape(trim(nl == std::string_view::npos ? t : t.substr(nl + 1)).substr(0, 200));
}

}  // namespace

result<std::vector<std::string>> ssh_argv(const ssh_settings& s) {
  using R = result<std::vector<std::string>>;
  auto argv = split_command(s.ssh_command.empty() ? "ssh" : s.ssh_command);
  if (!argv) return R::failure("--ssh-command: " + argv.error());
  if (argv->empty()) return R::failure("--ssh-command is empty");
  std::string user;
  std::string_view host_port = s.destination;
  if (auto at = host_port.rfind('@'); at != std::string_view::npos) {
    user = std::string(host_port.substr(0, at));
    host_port = host_port.substr(at + 1);
  }
  auto ep = parse_endpoint(host_port);
  if (!ep) return R::failure("--ssh: " + ep.error());
  auto words = std::move(argv).value();
  words.insert(words.end(), {"-o", "BatchMode=yes", "-o", "ConnectTimeout=" + std::to_string(s.connect_timeout_s)});
  if (ep->port != 0) words.insert(words.end(), {"-p", std::to_string(ep->port)});
  words.push_back("--");
  words.push_back(user.empty() ? ep->host : user + "@" + ep->host);
  // The remote shell expands SSH_CONNECTION before sudo scrubs the environment.
  words.push_back(s.remote_agent + " --peer \"${SSH_CONNECTION%% *}\"");
  return words;
}

std::string windows_command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& word : argv) {
    if (!line.empty()) line += ' ';
    if (!word.empty() && word.find_first_of(" \t\n\v\"") == std::string::npos) {
      line += word;
      continue;
    }
    line += '"';
    std::size_t backslashes = 0;
    for (char c : word) {
      if (c == '\\') {
        ++backslashes;
        continue;
      }
      // Backslashes are literal unless a double quote follows them.
      line.append(c == '"' ? 2 * backslashes + 1 : backslashes, '\\');
      backslashes = 0;
      line += c;
    }
    line.append(2 * backslashes, '\\');  // before the closing quote
    line += '"';
  }
  return line;
}

std::vector<std::string> ssh_program_candidates(std::string_view program, std::string_view path_env,
                                                std::string_view system_root) {
  const auto has_extension = [](std::string_view name) {
    const auto dot = name.rfind('.');
    return dot != std::string_view::npos && name.find_first_of("\\/", dot) == std::string_view::npos;
  };
  const auto file_and_exe = [&](std::string path, std::vector<std::string>& out) {
    if (!has_extension(path)) out.push_back(path + ".exe");
    out.push_back(std::move(path));
  };
  std::vector<std::string> out;
  if (program.find_first_of("\\/:") != std::string_view::npos) {
    file_and_exe(std::string(program), out);
    return out;
  }
  const auto in_folder = [&](std::string_view folder) {
    if (folder.empty()) return;
    std::string path(folder);
    if (path.size() >= 2 && path.front() == '"' && path.back() == '"') path = path.substr(1, path.size() - 2);
    if (path.empty()) return;
    if (path.back() != '\\' && path.back() != '/') path += '\\';
    file_and_exe(path + std::string(program), out);
  };
  for (std::size_t start = 0; start <= path_env.size();) {
    auto end = path_env.find(';', start);
    if (end == std::string_view::npos) end = path_env.size();
    in_folder(path_env.substr(start, end - start));
    start = end + 1;
  }
  if (!system_root.empty()) in_folder(std::string(system_root) + "\\System32\\OpenSSH");
  return out;
}

ssh_failure classify_ssh_failure(int exit_status, const std::string& err) {
  ssh_failure f;
  const std::string line = last_line(err);
  using kind = ssh_failure::kind;
  if (says(err, "cannot run the ssh client")) {
    // Our own words (the child could not start ssh): nothing reached the server.
    f = {kind::error, line,
         "install OpenSSH's client (Debian, Ubuntu: apt install openssh-client; Windows: the OpenSSH Client optional "
         "feature) or name the program with --ssh-command"};
  } else if (says(err, "Host key verification failed") || says(err, "REMOTE HOST IDENTIFICATION HAS CHANGED")) {
    f = {kind::error, "ssh: the server's host key is unknown or changed (" + line + ")",
         "connect once with plain ssh to check and accept the host key"};
  } else if (says(err, "Permission denied") || says(err, "Too many authentication failures")) {
    f = {
        kind::auth_failed, "ssh: login refused (" + line + ")",
        "check the user and key: ssh works non-interactively only with a key or an agent (--ssh-command 'ssh -i KEY')"};
  } else if (says(err, "a password is required") || says(err, "a terminal is required") ||
             says(err, "no tty present")) {
    f = {kind::auth_failed, "sudo on the server asks for a password (" + line + ")",
         "allow the agent without a password: a sudoers line like 'USER ALL=(root) NOPASSWD: /usr/bin/agent --stdio "
         "--peer *' "
         "(docs/agent.md)"};
  } else if (says(err, "command not found") || says(err, "No such file or directory") || exit_status == 127) {
    f = {kind::error, "the agent is not installed on the server (" + line + ")",
         "install the dropspot agent there (docs/agent.md) or point --remote-agent at it"};
  } else if (says(err, "Connection refused") || says(err, "timed out") || says(err, "No route to host") ||
             says(err, "Could not resolve") || says(err, "Network is unreachable")) {
    f = {kind::unreachable, "ssh: cannot reach the server (" + line + ")",
         "check that ssh to the server works at all; the port probes below show what the path lets through"};
  } else {
    f = {kind::error, "ssh ended (status " + std::to_string(exit_status) + ")" + (line.empty() ? "" : ": " + line),
         "run the same ssh command by hand to see what it says"};
  }
  return f;
}

}  // namespace dropspot::prober
