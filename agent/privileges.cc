#include "agent/privileges.h"

// The raw capset/capget system calls and prctl: no libcap needed for the
// three capability sets of one process.
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

#include "common/text.h"

namespace dropspot::agent {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int capget(cap_user_header_t header, cap_user_data_t data) {
  return static_cast<int>(::syscall(SYS_capget, header, data));
}

int capset(cap_user_header_t header, const cap_user_data_t data) {
  return static_cast<int>(::syscall(SYS_capset, header, data));
}

/// The highest capability number this kernel knows.
int last_cap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int n = CAP_LAST_CAP;
  if (!(in >> n)) n = CAP_LAST_CAP;
  return n;
}

}  // namespace

std::vector<int> kept_capabilities() { return {CAP_NET_RAW, CAP_NET_ADMIN}; }

result<user_identity> resolve_user(const std::string& spec) {
  using R = result<user_identity>;
  if (spec.empty()) return R::failure("--user: empty user name");
  user_identity id;
  id.name = spec;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  unsigned long number = 0;
  const auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), number);
  const bool numeric = ec == std::errc() && end == spec.data() + spec.size();
  if (numeric) {
    if (number > 0xfffffffeUL) return R::failure("--user: " + quote(spec) + " is not a uid");
    ::getpwuid_r(static_cast<uid_t>(number), &pw, buf.data(), buf.size(), &found);
    id.uid = static_cast<uid_t>(number);
    id.gid = found ? found->pw_gid : static_cast<gid_t>(number);
  } else {
    ::getpwnam_r(spec.c_str(), &pw, buf.data(), buf.size(), &found);
    if (!found) return R::failure("--user: no user named " + quote(spec));
    id.uid = found->pw_uid;
    id.gid = found->pw_gid;
  }
  if (id.uid == 0) return R::failure("--user: " + quote(spec) + " is root: name an unprivileged user");
  return id;
}

result<std::string> drop_privileges(const user_identity& user) {
  using R = result<std::string>;
  const auto kept = kept_capabilities();
  const auto is_kept = [&](int cap) { return std::find(kept.begin(), kept.end(), cap) != kept.end(); };

  // Shrink the bounding set while CAP_SETPCAP is still ours.
  for (int cap = 0; cap <= last_cap(); ++cap)
    if (!is_kept(cap) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return R::failure(errno_text("dropping capabilities from the bounding set"));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return R::failure(errno_text("PR_SET_NO_NEW_PRIVS"));

  // Keep the permitted set across the uid change, then change gid before uid.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return R::failure(errno_text("PR_SET_KEEPCAPS"));
  const gid_t groups[1] = {user.gid};
  if (::setgroups(1, groups) != 0) return R::failure(errno_text("setgroups"));
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return R::failure(errno_text("setresgid"));
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return R::failure(errno_text("setresuid"));
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);

  // Effective, permitted and inheritable: exactly the kept capabilities.
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int cap : kept) {
    data[CAP_TO_INDEX(cap)].effective |= CAP_TO_MASK(cap);
    data[CAP_TO_INDEX(cap)].permitted |= CAP_TO_MASK(cap);
    data[CAP_TO_INDEX(cap)].inheritable |= CAP_TO_MASK(cap);
  }
  if (capset(&header, data) != 0) return R::failure(errno_text("capset"));
  // Ambient: the programs the agent runs (nft, iptables-save) inherit them.
  for (int cap : kept)
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
      return R::failure(errno_text("raising ambient capabilities"));

  // Check: no way back to root, and the sets are what we asked for.
  uid_t r = 0, e = 0, s = 0;
  if (::getresuid(&r, &e, &s) != 0 || r == 0 || e == 0 || s == 0) return R::failure("still root after setresuid");
  if (::setuid(0) == 0) return R::failure("uid 0 could be regained after dropping it");
  __user_cap_data_struct now[_LINUX_CAPABILITY_U32S_3] = {};
  if (capget(&header, now) != 0) return R::failure(errno_text("capget"));
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i)
    if (now[i].effective != data[i].effective || now[i].permitted != data[i].permitted)
      return R::failure("the capability sets differ from the ones asked for");
  return "running as " + user.name + " (uid " + std::to_string(user.uid) + ", gid " + std::to_string(user.gid) +
         ") with only CAP_NET_RAW and CAP_NET_ADMIN";
}

}  // namespace dropspot::agent
