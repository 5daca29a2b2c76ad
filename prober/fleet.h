#pragma once
// Targets diagnosed: one (the progress line on a terminal, as ever) or a
// fleet (several side by side on one thread, each its own agent session).
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "dropspot.pb.h"
#include "prober/options.h"

namespace dropspot::prober {

/// The address of a resolved name the prober tests (and prober serve checks
/// against --allow-target): the first IPv4 one, else the first. `results`
/// is not empty.
asio::ip::address preferred_address(const asio::ip::tcp::resolver::results_type& results);

/// The addresses of a name that are tested (issue 24), IPv4 first: the
/// first of each family (-4 / -6: of that family), or every one with
/// --all-addresses, repeats left out. A choice that leaves none is a
/// failure naming the missing record. Pure.
result<std::vector<asio::ip::address>> choose_addresses(const std::vector<asio::ip::address>& resolved,
                                                        const address_choice& choice, const std::string& name);

/// Diagnoses one target: resolves its name (a name that does not resolve
/// gives an untested report: a failed check, not bad usage), runs until
/// ready (--wait), shows progress on stderr when it is a terminal and
/// `progress` is set. One report per address tested (choose_addresses),
/// each with its ok set.
std::vector<v1::Report> diagnose_target(const options& opts, const std::string& token, bool progress);

/// One target at an address already resolved (prober serve resolved it to
/// check it against --allow-target), no progress shown, within `limit`: a
/// diagnosis not done by then is abandoned (its connections closed) and the
/// report says so (untested, ok false).
v1::Report diagnose_address(const options& opts, const asio::ip::address& address, const std::string& token,
                            millis limit);

/// Called as targets finish: done so far, in all.
using fleet_observer = std::function<void(std::size_t done, std::size_t total)>;

/// Diagnoses every target, `parallel` at a time, on this thread; the reports
/// in the targets' order (a name's addresses one after another), each with ok set.
std::vector<v1::Report> diagnose_fleet(const fleet_options& fleet, const std::string& token,
                                       fleet_observer observer = {});

/// The exit code over several reports (DESIGN.md, per report): 1 when any
/// is 1, else 3 when any is 3, else 0. Pure.
int fleet_exit_code(const std::vector<v1::Report>& reports);

}  // namespace dropspot::prober
