#include "runtime/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace sluice {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

std::string Range(absl::Duration lo, absl::Duration hi) {
  return absl::StrCat("[", absl::FormatDuration(lo), ", ", absl::FormatDuration(hi), "]");
}

}  // namespace

absl::Duration DurationOf(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

absl::Status NormalizeRetryPolicy(v1::RetryPolicy& policy, const std::string& field) {
  if (policy.max_attempts() == 0) policy.set_max_attempts(kDefaultMaxAttempts);
  if (policy.max_attempts() > kMaxMaxAttempts) {
    return Invalid(absl::StrCat(field, ".max_attempts"),
                   absl::StrCat(policy.max_attempts(), " is above the limit of ", kMaxMaxAttempts));
  }
  if (!policy.has_initial_backoff()) {
    *policy.mutable_initial_backoff() = ToProtoDuration(kDefaultInitialBackoff);
  }
  const absl::Duration initial = DurationOf(policy.initial_backoff());
  if (initial < kMinBackoff || initial > kMaxInitialBackoff) {
    return Invalid(absl::StrCat(field, ".initial_backoff"),
                   absl::StrCat(absl::FormatDuration(initial), " is outside ",
                                Range(kMinBackoff, kMaxInitialBackoff)));
  }
  if (!policy.has_max_backoff()) {
    *policy.mutable_max_backoff() = ToProtoDuration(std::max(kDefaultMaxBackoff, initial));
  }
  const absl::Duration max = DurationOf(policy.max_backoff());
  if (max < initial || max > kMaxMaxBackoff) {
    return Invalid(
        absl::StrCat(field, ".max_backoff"),
        absl::StrCat(absl::FormatDuration(max), " is outside ", Range(initial, kMaxMaxBackoff)));
  }
  if (policy.multiplier() == 0) policy.set_multiplier(kDefaultMultiplier);
  if (!(policy.multiplier() >= 1.0 && policy.multiplier() <= kMaxMultiplier)) {
    return Invalid(absl::StrCat(field, ".multiplier"),
                   absl::StrCat(policy.multiplier(), " is outside [1, ", kMaxMultiplier, "]"));
  }
  for (int i = 0; i < policy.retry_on_size(); ++i) {
    const int value = policy.retry_on(i);
    if (value == v1::RETRY_ON_UNSPECIFIED || !v1::RetryOn_IsValid(value)) {
      return Invalid(absl::StrCat(field, ".retry_on[", i, "]"),
                     absl::StrCat("unknown outcome ", value));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RetryPolicy> MergeRetryPolicy(const v1::RetryPolicy& base,
                                                 const v1::RetryPolicy& override,
                                                 const std::string& field) {
  v1::RetryPolicy merged = base;
  if (override.max_attempts() != 0) merged.set_max_attempts(override.max_attempts());
  if (override.has_initial_backoff())
    *merged.mutable_initial_backoff() = override.initial_backoff();
  if (override.has_max_backoff()) *merged.mutable_max_backoff() = override.max_backoff();
  if (override.multiplier() != 0) merged.set_multiplier(override.multiplier());
  if (override.retry_on_size() > 0) *merged.mutable_retry_on() = override.retry_on();
  if (absl::Status s = NormalizeRetryPolicy(merged, field); !s.ok()) return s;
  return merged;
}

v1::RetryOn RetryOnOf(const std::string& error_type) {
  if (error_type == "Timeout") return v1::RETRY_ON_TIMEOUT;
  if (error_type == "Crash" || error_type == "WorkerUnavailable" ||
      error_type == "FunctionLoadError") {
    return v1::RETRY_ON_CRASH;
  }
  if (error_type == "LeaseLost") return v1::RETRY_ON_LEASE_LOST;
  return v1::RETRY_ON_FUNCTION_ERROR;
}

bool Retries(const v1::RetryPolicy& policy, v1::RetryOn outcome) {
  if (policy.retry_on_size() == 0) return true;
  return std::find(policy.retry_on().begin(), policy.retry_on().end(), outcome) !=
         policy.retry_on().end();
}

absl::Duration BackoffCeiling(const v1::RetryPolicy& policy, uint32_t failed_attempt) {
  const absl::Duration initial = DurationOf(policy.initial_backoff());
  const absl::Duration max = DurationOf(policy.max_backoff());
  const double multiplier = std::max(1.0, policy.multiplier());
  const double exponent = failed_attempt > 0 ? failed_attempt - 1.0 : 0.0;
  // Computed in floating point so that large exponents saturate at max
  // instead of overflowing.
  const double seconds = absl::ToDoubleSeconds(initial) * std::pow(multiplier, exponent);
  if (!(seconds < absl::ToDoubleSeconds(max))) return max;
  return absl::Seconds(seconds);
}

absl::Duration DrawBackoff(const v1::RetryPolicy& policy, uint32_t failed_attempt,
                           absl::BitGenRef random) {
  const int64_t ceiling = absl::ToInt64Microseconds(BackoffCeiling(policy, failed_attempt));
  if (ceiling <= 0) return absl::ZeroDuration();
  return absl::Microseconds(absl::Uniform<int64_t>(absl::IntervalClosed, random, 0, ceiling));
}

absl::Duration MaxEventAgeOf(const v1::FunctionSpec& spec) {
  return spec.has_max_event_age() ? DurationOf(spec.max_event_age()) : kDefaultMaxEventAge;
}

}  // namespace sluice
