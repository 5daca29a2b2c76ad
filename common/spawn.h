#pragma once
// co_spawn's completion handler for a coroutine nobody awaits: what escapes
// it is handed to a reporter (the agent's log, the prober's stderr) instead
// of vanishing, as it would with asio::detached.
#include <exception>
#include <string>
#include <utility>

namespace dropspot {

/// on_escape("sending observations", log): a completion handler for
/// co_spawn that calls report("sending observations: <what()>") when the
/// coroutine ends by an exception, and does nothing when it returns.
template <class Report>
auto on_escape(std::string what, Report report) {
  return [what = std::move(what), report = std::move(report)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      report(what + ": " + ex.what());
    } catch (...) {
      report(what + ": an unknown exception");
    }
  };
}

}  // namespace dropspot
