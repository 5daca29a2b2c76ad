#pragma once
// A value or a human-readable error, for parsers of user input.
// (GCC 12 has no std::expected under -std=c++20.)
#include <optional>
#include <string>
#include <utility>

namespace dropspot {

template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  static result failure(std::string message) {
    result r;
    r.error_ = std::move(message);
    return r;
  }

  explicit operator bool() const { return value_.has_value(); }
  bool ok() const { return value_.has_value(); }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const { return *value_; }
  const T* operator->() const { return &*value_; }
  /// The error message; empty when ok().
  const std::string& error() const { return error_; }

 private:
  result() = default;
  std::optional<T> value_;
  std::string error_;
};

}  // namespace dropspot
