// tw::Status: the one error currency of Token Warehouse.
//
// A Status is a code plus a human-readable message. The OK status holds no allocation, so returning
// it costs a pointer-sized copy. Codes keep their abseil meanings:
//
//   kNotFound           a miss: expected on a cache, never logged as an error
//   kInvalidArgument    the caller passed something wrong; nothing was changed
//   kResourceExhausted  full: no evictable space, a quota, a queue or a limit was reached
//   kUnavailable        transient; retrying may succeed
//   kDeadlineExceeded   a timeout or an expired lease
//   kIOError            the operating system reported an I/O failure
//   kCorruption         stored bytes failed a checksum or a format check; never served
//   kPermissionDenied   authenticated, but not allowed
//   kUnauthenticated    no or bad credentials
//   kNotSupported       the operation or format is not supported by this build or version
//   kInternal           a broken invariant reported instead of crashing
//   kFailedPrecondition the call is valid but the callee is not in the state it needs, e.g. a namespace
//                       that was never registered there (or was forgotten by a restart): register it
//                       and retry
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace tw {

enum class StatusCode : int {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kResourceExhausted = 3,
  kUnavailable = 4,
  kDeadlineExceeded = 5,
  kIOError = 6,
  kCorruption = 7,
  kPermissionDenied = 8,
  kUnauthenticated = 9,
  kNotSupported = 10,
  kInternal = 11,
  kFailedPrecondition = 12,
};

// The stable lower-case name of a code, e.g. "not_found". Used in logs, metrics and the C API.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() noexcept = default;  // OK
  Status(StatusCode code, std::string_view message);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view msg = {}) { return {StatusCode::kNotFound, msg}; }
  static Status InvalidArgument(std::string_view msg) { return {StatusCode::kInvalidArgument, msg}; }
  static Status ResourceExhausted(std::string_view msg) { return {StatusCode::kResourceExhausted, msg}; }
  static Status Unavailable(std::string_view msg) { return {StatusCode::kUnavailable, msg}; }
  static Status DeadlineExceeded(std::string_view msg) { return {StatusCode::kDeadlineExceeded, msg}; }
  static Status IOError(std::string_view msg) { return {StatusCode::kIOError, msg}; }
  static Status Corruption(std::string_view msg) { return {StatusCode::kCorruption, msg}; }
  static Status PermissionDenied(std::string_view msg) { return {StatusCode::kPermissionDenied, msg}; }
  static Status Unauthenticated(std::string_view msg) { return {StatusCode::kUnauthenticated, msg}; }
  static Status NotSupported(std::string_view msg) { return {StatusCode::kNotSupported, msg}; }
  static Status Internal(std::string_view msg) { return {StatusCode::kInternal, msg}; }
  static Status FailedPrecondition(std::string_view msg) { return {StatusCode::kFailedPrecondition, msg}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : std::string_view(); }

  bool IsNotFound() const { return code() == StatusCode::kNotFound; }
  bool IsInvalidArgument() const { return code() == StatusCode::kInvalidArgument; }
  bool IsResourceExhausted() const { return code() == StatusCode::kResourceExhausted; }
  bool IsCorruption() const { return code() == StatusCode::kCorruption; }
  bool IsFailedPrecondition() const { return code() == StatusCode::kFailedPrecondition; }

  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

inline bool operator==(const Status& a, const Status& b) {
  return a.code() == b.code() && a.message() == b.message();
}

}  // namespace tw

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define TW_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::tw::Status tw_status_tmp_ = (expr);         \
    if (!tw_status_tmp_.ok()) return tw_status_tmp_; \
  } while (0)
