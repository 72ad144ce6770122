// RetryPolicy: how failed background attempts are retried — bounds and
// defaults, the caller's per-invocation overrides, which outcomes retry, and
// the backoff between attempts (exponential with full jitter).
#pragma once

#include <cstdint>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sluice/v1/functions.pb.h"

namespace sluice {

inline constexpr uint32_t kDefaultMaxAttempts = 3;
inline constexpr uint32_t kMaxMaxAttempts = 100;
inline constexpr absl::Duration kDefaultInitialBackoff = absl::Seconds(1);
inline constexpr absl::Duration kMinBackoff = absl::Milliseconds(1);
inline constexpr absl::Duration kMaxInitialBackoff = absl::Hours(1);
inline constexpr absl::Duration kDefaultMaxBackoff = absl::Minutes(5);
inline constexpr absl::Duration kMaxMaxBackoff = absl::Hours(24);
inline constexpr double kDefaultMultiplier = 2.0;
inline constexpr double kMaxMultiplier = 10.0;
inline constexpr absl::Duration kDefaultMaxEventAge = absl::Hours(6);
inline constexpr absl::Duration kMaxMaxEventAge = absl::Hours(24 * 7);

// NormalizeRetryPolicy fills in the defaults of unset fields and checks the
// bounds (see RetryPolicy in functions.proto). INVALID_ARGUMENT naming the
// first bad field under `field`, e.g. "spec.retry.max_attempts: 0 ...".
absl::Status NormalizeRetryPolicy(v1::RetryPolicy& policy, const std::string& field);

// MergeRetryPolicy returns `base` with every field that `override` sets
// replacing base's, normalized. `base` must be normalized. INVALID_ARGUMENT
// (under `field`) when the result is out of bounds.
absl::StatusOr<v1::RetryPolicy> MergeRetryPolicy(const v1::RetryPolicy& base,
                                                 const v1::RetryPolicy& override,
                                                 const std::string& field);

// RetryOnOf classifies a failed attempt by its error type: "Timeout",
// "Crash" / "WorkerUnavailable" / "FunctionLoadError" (the worker could not
// run it), "LeaseLost", else a function error.
v1::RetryOn RetryOnOf(const std::string& error_type);

// Retries tells whether `policy` retries an attempt that failed with
// `outcome` (an empty retry_on list retries every outcome).
bool Retries(const v1::RetryPolicy& policy, v1::RetryOn outcome);

// BackoffCeiling is the longest wait before attempt `failed_attempt` + 1:
// min(max_backoff, initial_backoff * multiplier^(failed_attempt - 1)).
absl::Duration BackoffCeiling(const v1::RetryPolicy& policy, uint32_t failed_attempt);

// DrawBackoff draws the wait before the next attempt uniformly from
// [0, BackoffCeiling] ("full jitter", so that retries of many invocations
// that failed together spread out).
absl::Duration DrawBackoff(const v1::RetryPolicy& policy, uint32_t failed_attempt,
                           absl::BitGenRef random);

// MaxEventAgeOf returns a function's max_event_age (the default when unset).
absl::Duration MaxEventAgeOf(const v1::FunctionSpec& spec);

// DurationOf and ToProtoDuration convert between protobuf and absl.
absl::Duration DurationOf(const google::protobuf::Duration& d);
google::protobuf::Duration ToProtoDuration(absl::Duration d);

}  // namespace sluice
