#include "runtime/function_spec.h"

#include "runtime/destination.h"

#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/retry_policy.h"

namespace sluice {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

}  // namespace

absl::Status ValidateFunctionName(const std::string& name, const std::string& field) {
  if (name.empty()) return Invalid(field, "missing");
  if (name.size() > 63)
    return Invalid(field, absl::StrCat("\"", name, "\" is longer than 63 characters"));
  if (!(name[0] >= 'a' && name[0] <= 'z')) {
    return Invalid(field, absl::StrCat("\"", name, "\" must start with a lower-case letter"));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Invalid(
          field, absl::StrCat("\"", name, "\" may hold only lower-case letters, digits and '-'"));
    }
  }
  if (name.back() == '-')
    return Invalid(field, absl::StrCat("\"", name, "\" must not end with '-'"));
  return absl::OkStatus();
}

absl::Status NormalizeFunctionSpec(v1::FunctionSpec& spec) {
  if (absl::Status s = ValidateFunctionName(spec.name(), "spec.name"); !s.ok()) return s;
  if (spec.runtime() == v1::RUNTIME_UNSPECIFIED) spec.set_runtime(v1::RUNTIME_NATIVE);
  if (!v1::Runtime_IsValid(spec.runtime())) {
    return Invalid("spec.runtime", absl::StrCat("unknown runtime ", spec.runtime()));
  }
  if (spec.entry_point().empty() && spec.runtime() == v1::RUNTIME_NATIVE) {
    spec.set_entry_point(kDefaultEntryPoint);
  }
  for (char c : spec.entry_point()) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) {
      return Invalid("spec.entry_point",
                     absl::StrCat("\"", spec.entry_point(), "\" is not a C identifier"));
    }
  }
  if (spec.concurrency() == 0) spec.set_concurrency(kDefaultConcurrency);
  if (spec.concurrency() > kMaxConcurrency) {
    return Invalid("spec.concurrency",
                   absl::StrCat(spec.concurrency(), " is above the limit of ", kMaxConcurrency));
  }
  if (spec.max_queue() == 0) spec.set_max_queue(kDefaultMaxQueue);
  if (spec.max_queue() > kMaxMaxQueue) {
    return Invalid("spec.max_queue",
                   absl::StrCat(spec.max_queue(), " is above the limit of ", kMaxMaxQueue));
  }
  if (!spec.has_timeout()) {
    *spec.mutable_timeout() =
        TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(kDefaultTimeout));
  }
  const absl::Duration timeout = TimeoutOf(spec);
  if (timeout <= absl::ZeroDuration() || timeout > kMaxTimeout) {
    return Invalid("spec.timeout", absl::StrCat(absl::FormatDuration(timeout), " is outside (0, ",
                                                absl::FormatDuration(kMaxTimeout), "]"));
  }
  if (spec.isolation() == v1::ISOLATION_UNSPECIFIED) spec.set_isolation(v1::ISOLATION_PROCESS);
  if (!v1::Isolation_IsValid(spec.isolation())) {
    return Invalid("spec.isolation", absl::StrCat("unknown isolation ", spec.isolation()));
  }
  if (spec.isolation() == v1::ISOLATION_NONE && spec.runtime() != v1::RUNTIME_NATIVE) {
    return Invalid("spec.isolation", "only native functions can run in-process (isolation none)");
  }
  if (spec.handler().size() > 256) return Invalid("spec.handler", "longer than 256 bytes");
  if (spec.memory_mb() == 0) spec.set_memory_mb(kDefaultMemoryMb);
  if (spec.memory_mb() > kMaxMemoryMb) {
    return Invalid("spec.memory_mb",
                   absl::StrCat(spec.memory_mb(), " is above the limit of ", kMaxMemoryMb));
  }
  if (spec.min_warm() > spec.concurrency()) {
    return Invalid("spec.min_warm", absl::StrCat(spec.min_warm(), " is above the concurrency of ",
                                                 spec.concurrency()));
  }
  if (!spec.has_idle_timeout()) {
    *spec.mutable_idle_timeout() =
        TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(kDefaultIdleTimeout));
  }
  if (IdleTimeoutOf(spec) < absl::Seconds(1)) {
    return Invalid("spec.idle_timeout",
                   absl::StrCat(absl::FormatDuration(IdleTimeoutOf(spec)), " is under 1s"));
  }
  if (spec.max_open_files() == 0) spec.set_max_open_files(kDefaultMaxOpenFiles);
  if (spec.max_open_files() < 16 || spec.max_open_files() > kMaxMaxOpenFiles) {
    return Invalid("spec.max_open_files",
                   absl::StrCat(spec.max_open_files(), " is outside [16, ", kMaxMaxOpenFiles, "]"));
  }
  for (const auto& [key, value] : spec.env()) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return Invalid(absl::StrCat("spec.env[\"", key, "\"]"), "is not a valid variable name");
    }
    // The Lambda Runtime API variables are Sluice's to set.
    if (key.rfind("AWS_LAMBDA_", 0) == 0 || key == "_HANDLER" || key == "LAMBDA_TASK_ROOT") {
      return Invalid(absl::StrCat("spec.env[\"", key, "\"]"), "is reserved");
    }
  }
  if (spec.description().size() > 1024)
    return Invalid("spec.description", "longer than 1024 bytes");
  if (absl::Status s = NormalizeRetryPolicy(*spec.mutable_retry(), "spec.retry"); !s.ok()) return s;
  if (!spec.has_max_event_age())
    *spec.mutable_max_event_age() = ToProtoDuration(kDefaultMaxEventAge);
  const absl::Duration max_age = MaxEventAgeOf(spec);
  if (max_age < absl::Seconds(1) || max_age > kMaxMaxEventAge) {
    return Invalid("spec.max_event_age",
                   absl::StrCat(absl::FormatDuration(max_age), " is outside [1s, ",
                                absl::FormatDuration(kMaxMaxEventAge), "]"));
  }
  for (const auto& [field, destination] :
       {std::pair<std::string, std::string>{"spec.on_success", spec.on_success()},
        std::pair<std::string, std::string>{"spec.on_failure", spec.on_failure()}}) {
    if (destination.empty()) continue;
    absl::StatusOr<Destination> parsed = ParseDestination(destination, field);
    if (!parsed.ok()) return parsed.status();
    if (parsed->kind == Destination::Kind::kFunction && parsed->target == spec.name()) {
      return Invalid(field, "a function cannot be its own destination");
    }
  }
  return absl::OkStatus();
}

absl::Duration TimeoutOf(const v1::FunctionSpec& spec) {
  return absl::Seconds(spec.timeout().seconds()) + absl::Nanoseconds(spec.timeout().nanos());
}

absl::Duration IdleTimeoutOf(const v1::FunctionSpec& spec) {
  return absl::Seconds(spec.idle_timeout().seconds()) +
         absl::Nanoseconds(spec.idle_timeout().nanos());
}

}  // namespace sluice
