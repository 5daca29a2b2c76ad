#pragma once
// What a session may use of this host, as the agent's options configure it:
// capture, listeners and firewall facts. Shared by the TCP server and --stdio.
#include <asio/any_io_executor.hpp>

#include "agent/options.h"
#include "agent/session.h"

namespace dropspot::agent {

session_services host_services(const asio::any_io_executor& executor, const options& opts);

}  // namespace dropspot::agent
