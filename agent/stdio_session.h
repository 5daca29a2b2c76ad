#pragma once
// `agent --stdio`: one control session on standard input and output, run by
// the prober through the user's own SSH login (no port to open). The SSH
// login authenticated the peer; a token, if configured, is not needed here.
#include <cstdint>
#include <optional>
#include <string>

#include "agent/options.h"
#include "common/result.h"

namespace dropspot::agent {

/// Runs one session on fds 0/1; logs go to stderr. Exit code: 0 when the
/// session completed, 1 when it failed, 2 for bad usage.
int run_stdio(const options& opts);

}  // namespace dropspot::agent
