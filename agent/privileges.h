#pragma once
// Least privilege for the agent started as root (--user): once the control
// ports are bound, the TLS key is loaded and the token is read, the process
// becomes an ordinary user that keeps only the capabilities its work needs:
//   CAP_NET_RAW    packet capture (libpcap's packet sockets)
//   CAP_NET_ADMIN  reading the firewall: `nft list ruleset` and
//                  `iptables-save` need it (they get it as an ambient
//                  capability, so the programs the agent runs inherit it)
// Every other capability leaves the bounding set, and no_new_privs is set:
// nothing the agent runs can gain more (setuid binaries included).
//
// Capabilities are per thread: call drop_privileges before any thread starts.
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace dropspot::agent {

/// Who --user names: a user name or a numeric uid.
struct user_identity {
  std::string name;  ///< as given
  uid_t uid = 0;
  gid_t gid = 0;  ///< the user's primary group (the uid itself for a bare number unknown to passwd)
};

/// Looks the user up (getpwnam_r, or a number); refuses root and unknown names.
result<user_identity> resolve_user(const std::string& spec);

/// The capabilities kept after the switch (Linux CAP_* numbers).
std::vector<int> kept_capabilities();

/// Switches the whole process to `user`, keeping kept_capabilities() as
/// permitted, effective, inheritable and ambient, and checks the result
/// (uid 0 cannot be regained). Returns a one-line description of what is
/// now in force, or the error.
result<std::string> drop_privileges(const user_identity& user);

}  // namespace dropspot::agent
