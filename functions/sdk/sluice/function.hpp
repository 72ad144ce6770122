// sluice/function.hpp: a thin C++ wrapper over the C ABI in sluice/function.h.
//
// Example:
//
//   #include <sluice/function.hpp>
//
//   sluice::Result Upper(sluice::Context& ctx, std::string_view input) {
//     std::string out(input);
//     for (char& c : out) c = std::toupper(c);
//     return sluice::Result::Ok(out);
//   }
//   SLUICE_FUNCTION(Upper)
//
// The handler may run on several threads at once. Exceptions that escape it
// are reported as error type "UnhandledException".
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "sluice/function.h"

namespace sluice {

// Context is the read-only view of one attempt. Valid during the call only.
class Context {
 public:
  explicit Context(const sluice_invocation* inv) : inv_(inv) {}

  std::string_view invocation_id() const { return inv_->invocation_id; }
  std::string_view function_name() const { return inv_->function_name; }
  uint64_t function_version() const { return inv_->function_version; }
  // 1 for the first attempt; a retry of the same invocation counts up.
  uint32_t attempt() const { return inv_->attempt; }
  // The host's SLUICE_ABI_VERSION (may be older than the header's).
  uint32_t abi_version() const { return inv_->abi_version; }
  std::chrono::system_clock::time_point deadline() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(inv_->deadline_unix_ms));
  }
  // True once the invocation was cancelled or its deadline passed.
  bool cancelled() const { return sluice_is_cancelled(inv_) != 0; }
  // ReportProgress tells callers how far the attempt got: `percent` (over
  // 100 counts as 100) and a short message (cut to
  // SLUICE_MAX_PROGRESS_MESSAGE_BYTES bytes; empty for none). Reports may be
  // coalesced when they come faster than the host passes them on; the last
  // one before the handler returns is always delivered. Does nothing on a
  // host older than ABI 2. Thread-safe during the call.
  void ReportProgress(uint32_t percent, std::string_view message = {}) const {
    const std::string text(message.substr(0, SLUICE_MAX_PROGRESS_MESSAGE_BYTES + 4));
    sluice_report_progress(inv_, percent, text.c_str());
  }
  // The W3C trace context of this attempt's span ("00-<trace id>-<span
  // id>-<flags>") and its tracestate: spans the function makes are its
  // children. Empty on a host older than ABI 3.
  std::string_view traceparent() const { return sluice_traceparent(inv_); }
  std::string_view tracestate() const { return sluice_tracestate(inv_); }
  // The caller's metadata value for `key`, or empty.
  std::string_view metadata(const char* key) const {
    const char* v = sluice_metadata(inv_, key);
    return v == nullptr ? std::string_view() : std::string_view(v);
  }

 private:
  const sluice_invocation* inv_;
};

// Result is what a handler returns: output bytes, or an error type and message.
class Result {
 public:
  static Result Ok(std::string output) { return Result(true, std::move(output), {}); }
  static Result Error(std::string type, std::string message) {
    return Result(false, std::move(message), std::move(type));
  }

  bool ok() const { return ok_; }
  const std::string& output() const { return body_; }
  const std::string& error_type() const { return type_; }
  const std::string& error_message() const { return body_; }

 private:
  Result(bool ok, std::string body, std::string type)
      : ok_(ok), body_(std::move(body)), type_(std::move(type)) {}
  bool ok_;
  std::string body_;
  std::string type_;
};

// Invoke adapts a C++ handler to the C ABI. Used by SLUICE_FUNCTION.
template <typename Handler>
int Invoke(const sluice_invocation* inv, Handler&& handler) {
  try {
    Context ctx(inv);
    Result r =
        handler(ctx, std::string_view(reinterpret_cast<const char*>(inv->input), inv->input_len));
    if (r.ok()) {
      sluice_set_output(inv, r.output().data(), r.output().size());
    } else {
      sluice_set_error(inv, r.error_type().c_str(), r.error_message().c_str());
    }
  } catch (const std::exception& e) {
    sluice_set_error(inv, "UnhandledException", e.what());
  } catch (...) {
    sluice_set_error(inv, "UnhandledException", "unknown exception");
  }
  return 0;
}

}  // namespace sluice

// SLUICE_FUNCTION(handler) exports `handler` as the function's entry point.
#define SLUICE_FUNCTION(handler)                                                      \
  extern "C" SLUICE_EXPORT int sluice_function_invoke(const sluice_invocation* inv) { \
    return ::sluice::Invoke(inv, handler);                                            \
  }
