// Rendering of API messages for the terminal: tables, descriptions and
// protobuf JSON. Pure functions; the commands decide where text goes.
#pragma once

#include <optional>
#include <string>

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/repeated_ptr_field.h>
#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sluice/v1/functions.pb.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice::cli {

// OutputFormat is what -o/--output selects.
enum class OutputFormat { kText, kJson };

// FormatTime renders a timestamp in UTC, e.g. "2024-05-01T12:00:00Z"; "-"
// when unset (zero).
std::string FormatTime(const google::protobuf::Timestamp& time);
// FormatTimeMillis is FormatTime with milliseconds: "2024-05-01T12:00:00.123Z".
std::string FormatTimeMillis(const google::protobuf::Timestamp& time);
// FormatDuration renders e.g. "10s", "1m30s", "500ms"; "-" when zero.
std::string FormatDuration(const google::protobuf::Duration& duration);

// RuntimeName: "native", "lambda" or "exec"; "-" when unspecified.
std::string RuntimeName(v1::Runtime runtime);
// IsolationName: "none" or "process"; "-" when unspecified.
std::string IsolationName(v1::Isolation isolation);
// StateName: "PENDING", "RUNNING", ...; "-" when unspecified.
std::string StateName(v1::InvocationState state);
// ParseStateName accepts pending|running|succeeded|failed|cancelled in any
// case; nullopt for anything else.
std::optional<v1::InvocationState> ParseStateName(absl::string_view name);

// PriorityName: "low", "normal", "high" or "critical"; unspecified is
// "normal" (the server treats it so).
std::string PriorityName(v1::Priority priority);
// ParsePriorityName accepts low|normal|high|critical in any case; nullopt for
// anything else.
std::optional<v1::Priority> ParsePriorityName(absl::string_view name);

// FormatRelative renders how far `when` lies from `now`, to a tenth of a
// second: "in 1.2s", "3m0.5s ago", "now".
std::string FormatRelative(absl::Time when, absl::Time now);
// ToAbslTime converts a protobuf timestamp.
absl::Time ToAbslTime(const google::protobuf::Timestamp& time);

// AttemptText: "2 of 5" when the invocation's retry policy is known,
// otherwise "2".
std::string AttemptText(const v1::Invocation& invocation);
// ProgressText: "40%  step 2 of 5", or "40%" without a message.
std::string ProgressText(const v1::Progress& progress);
// RetryPolicyText summarizes a retry policy on one line, e.g. "5 attempts,
// backoff 500ms to 1m (x2), retry on function-error, crash"; "-" when the
// policy is empty (versions deployed before retries existed).
std::string RetryPolicyText(const v1::RetryPolicy& policy);

// FunctionTable: NAME VERSION RUNTIME CONCURRENCY TIMEOUT SHA256 CREATED,
// the hash cut to 12 characters.
std::string FunctionTable(const google::protobuf::RepeatedPtrField<v1::Function>& functions);
// InvocationTable: ID FUNCTION VERSION STATE ATTEMPT CREATED ERROR. ERROR
// is the type of the last error ("-" when none), followed by
// " (dead-lettered)" for dead-lettered invocations.
std::string InvocationTable(const google::protobuf::RepeatedPtrField<v1::Invocation>& invocations);

// DescribeFunction: one "field: value" line per spec field (retry policy,
// max event age and destinations included), then env.
std::string DescribeFunction(const v1::Function& function);
// DescribeInvocation: id, function@version, state (marked dead-lettered when
// it is), priority, attempts ("2 of 5"), the next attempt while it waits for
// a retry, the lease end while RUNNING, progress, parent, idempotency key,
// times, the timeline, and the error or output when there is one. `now`
// anchors relative times ("in 1.2s").
std::string DescribeInvocation(const v1::Invocation& invocation, absl::Time now);
// TimelineLine: "TIME  STATE  reason\n".
std::string TimelineLine(const v1::StateChange& change);
// DescribeOutput renders result bytes: the text itself when it is printable,
// otherwise a note with its size.
std::string DescribeOutput(absl::string_view output);

// JsonLine renders `message` as protobuf JSON on one line, ending in '\n'.
absl::StatusOr<std::string> JsonLine(const google::protobuf::Message& message);

}  // namespace sluice::cli
