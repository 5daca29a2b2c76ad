#pragma once
// The completion token of a co_await that takes its error as a value.
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace dropspot {

/// `co_await op(..., as_tuple_awaitable)`: a tuple (error_code, results...)
/// instead of an exception.
inline constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace dropspot
