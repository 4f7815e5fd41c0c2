// Status and Result<T>: how errors cross module boundaries in ringmaster.
//
// A Status is either ok or an error code plus a message that says what was expected and what was
// found. Result<T> holds a T or an error Status. Both are cheap value types; they are not
// thread-safe to mutate concurrently but may be copied across threads freely.
// Exceptions are reserved for programming errors (e.g. calling value() on an error Result).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace ringmaster {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad input from a user: a file, a flag, a request
  kNotFound,          // a file, key or job that does not exist
  kAlreadyExists,
  kFailedPrecondition,
  kDeadlineExceeded,  // a wait ran past its timeout
  kUnavailable,       // a peer or service that cannot be reached (retryable)
  kAborted,           // stopped on request
  kDataLoss,          // corrupt or truncated data
  kPermissionDenied,  // a wrong or missing job token, an unknown caller
  kOutOfRange,        // an input larger than a limit (a file past read_file's max_bytes)
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>", or "OK".
  std::string to_string() const;

  // Prepends context: Status(kNotFound, "no such file").with_context("reading x.yaml")
  // gives "reading x.yaml: no such file".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
inline Status not_found(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
inline Status data_loss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
inline Status internal_error(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).is_ok()) throw std::logic_error("Result constructed from an ok Status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  // REQUIRES: is_ok()
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() { return checked(); }

  // The error; an ok Status when is_ok().
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

 private:
  T& checked() {
    if (!is_ok()) throw std::logic_error("Result::value() on error: " + std::get<Status>(v_).to_string());
    return std::get<T>(v_);
  }
  std::variant<T, Status> v_;
};

}  // namespace ringmaster
