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

// FunctionTable: NAME VERSION RUNTIME CONCURRENCY TIMEOUT SHA256 CREATED,
// the hash cut to 12 characters.
std::string FunctionTable(const google::protobuf::RepeatedPtrField<v1::Function>& functions);
// InvocationTable: ID FUNCTION VERSION STATE ATTEMPT CREATED.
std::string InvocationTable(const google::protobuf::RepeatedPtrField<v1::Invocation>& invocations);

// DescribeFunction: one "field: value" line per spec field, then env.
std::string DescribeFunction(const v1::Function& function);
// DescribeInvocation: id, function@version, state, attempt, times, the
// timeline, and the error or output when there is one.
std::string DescribeInvocation(const v1::Invocation& invocation);
// TimelineLine: "TIME  STATE  reason\n".
std::string TimelineLine(const v1::StateChange& change);
// DescribeOutput renders result bytes: the text itself when it is printable,
// otherwise a note with its size.
std::string DescribeOutput(absl::string_view output);

// JsonLine renders `message` as protobuf JSON on one line, ending in '\n'.
absl::StatusOr<std::string> JsonLine(const google::protobuf::Message& message);

}  // namespace sluice::cli
