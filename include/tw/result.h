// tw::Result<T>: a T or a non-OK Status. The return type of every fallible call that produces a value.
//
//   tw::Result<std::unique_ptr<tw::EmbeddedStore>> store = tw::EmbeddedStore::Open(options);
//   if (!store.ok()) return store.status();
//   (*store)->Lookup(...);
//
// Accessing the value of a failed Result is a bug and aborts (TW_CHECK semantics), never UB.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "tw/status.h"

namespace tw {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or from a non-OK Status, so `return value;` and `return status;` both work.
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK Status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { CheckOk(); return *value_; }
  const T& value() const& { CheckOk(); return *value_; }
  // A temporary Result hands its value out by value, not as T&&: `for (x : Stats().value().tiers)`
  // would otherwise iterate a member of a Result destroyed before the loop body runs.
  T value() && { CheckOk(); return std::move(*value_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void CheckOk() const {
    if (!value_.has_value()) {
      std::fprintf(stderr, "tw::Result: value() of a failed Result: %s\n", status_.ToString().c_str());
      std::abort();
    }
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace tw

// Evaluates `rexpr` (a Result); on error returns its Status, else moves the value into `lhs`.
#define TW_ASSIGN_OR_RETURN(lhs, rexpr) TW_ASSIGN_OR_RETURN_IMPL_(TW_CONCAT_(tw_result_, __LINE__), lhs, rexpr)
#define TW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
#define TW_CONCAT_(a, b) TW_CONCAT_INNER_(a, b)
#define TW_CONCAT_INNER_(a, b) a##b
