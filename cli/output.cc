// Terminal rendering of API messages.
#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/table.h"
#include "monitoring/trace_context.h"
#include "runtime/manifest.h"

namespace sluice::cli {
namespace {

bool IsUnset(const google::protobuf::Timestamp& time) {
  return time.seconds() == 0 && time.nanos() == 0;
}

bool IsPrintable(absl::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\n' && c != '\t' && c != '\r') || byte == 0x7f) return false;
  }
  return true;
}

// Field appends "label:" padded to a fixed column, then the value.
void Field(absl::string_view label, absl::string_view value, std::string& out) {
  constexpr size_t kValueColumn = 14;
  std::string line = absl::StrCat(label, ":");
  line.append(line.size() < kValueColumn ? kValueColumn - line.size() : 1, ' ');
  absl::StrAppend(&out, line, value, "\n");
}

}  // namespace

absl::Time ToAbslTime(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

std::string FormatRelative(absl::Time when, absl::Time now) {
  const absl::Duration delta = when - now;
  const absl::Duration rounded = absl::Trunc(absl::AbsDuration(delta), absl::Milliseconds(100));
  if (rounded == absl::ZeroDuration()) return "now";
  if (delta > absl::ZeroDuration()) return absl::StrCat("in ", absl::FormatDuration(rounded));
  return absl::StrCat(absl::FormatDuration(rounded), " ago");
}

std::string PriorityName(v1::Priority priority) {
  return std::string(PriorityNameOf(priority).value_or("normal"));
}

std::optional<v1::Priority> ParsePriorityName(absl::string_view name) {
  return PriorityFromName(absl::AsciiStrToLower(name));
}

std::string AttemptText(const v1::Invocation& invocation) {
  if (invocation.retry().max_attempts() == 0) return absl::StrCat(invocation.attempt());
  return absl::StrCat(invocation.attempt(), " of ", invocation.retry().max_attempts());
}

std::string ProgressText(const v1::Progress& progress) {
  std::string text = absl::StrCat(progress.percent(), "%");
  if (!progress.message().empty()) absl::StrAppend(&text, "  ", progress.message());
  return text;
}

std::string RetryPolicyText(const v1::RetryPolicy& policy) {
  if (policy.ByteSizeLong() == 0) return "-";
  std::string text;
  if (policy.max_attempts() == 0) {
    text = "default attempts";
  } else if (policy.max_attempts() == 1) {
    text = "1 attempt (no retries)";
  } else {
    text = absl::StrCat(policy.max_attempts(), " attempts");
  }
  absl::StrAppend(&text, ", backoff ", FormatDuration(policy.initial_backoff()), " to ",
                  FormatDuration(policy.max_backoff()));
  if (policy.multiplier() != 0) absl::StrAppend(&text, " (x", policy.multiplier(), ")");
  if (policy.retry_on().empty()) {
    absl::StrAppend(&text, ", retry on any failure");
  } else {
    std::vector<std::string> names;
    for (const int outcome : policy.retry_on()) {
      const std::optional<std::string_view> name = RetryOnNameOf(static_cast<v1::RetryOn>(outcome));
      names.push_back(name.has_value() ? std::string(*name) : absl::StrCat("outcome ", outcome));
    }
    absl::StrAppend(&text, ", retry on ", absl::StrJoin(names, ", "));
  }
  return text;
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (IsUnset(time)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToAbslTime(time), absl::UTCTimeZone());
}

std::string FormatTimeMillis(const google::protobuf::Timestamp& time) {
  if (IsUnset(time)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ToAbslTime(time), absl::UTCTimeZone());
}

std::string FormatDuration(const google::protobuf::Duration& duration) {
  const absl::Duration value =
      absl::Seconds(duration.seconds()) + absl::Nanoseconds(duration.nanos());
  if (value == absl::ZeroDuration()) return "-";
  return absl::FormatDuration(value);
}

std::string RuntimeName(v1::Runtime runtime) {
  const std::optional<std::string_view> name = RuntimeNameOf(runtime);
  return name.has_value() ? std::string(*name) : "-";
}

std::string IsolationName(v1::Isolation isolation) {
  const std::optional<std::string_view> name = IsolationNameOf(isolation);
  return name.has_value() ? std::string(*name) : "-";
}

std::string StateName(v1::InvocationState state) {
  if (state == v1::INVOCATION_STATE_UNSPECIFIED || !v1::InvocationState_IsValid(state)) return "-";
  return v1::InvocationState_Name(state);
}

std::optional<v1::InvocationState> ParseStateName(absl::string_view name) {
  v1::InvocationState state;
  if (!v1::InvocationState_Parse(absl::AsciiStrToUpper(name), &state) ||
      state == v1::INVOCATION_STATE_UNSPECIFIED) {
    return std::nullopt;
  }
  return state;
}

std::string FunctionTable(const google::protobuf::RepeatedPtrField<v1::Function>& functions) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Function& function : functions) {
    const v1::FunctionSpec& spec = function.spec();
    rows.push_back({spec.name(), absl::StrCat(function.version()), RuntimeName(spec.runtime()),
                    absl::StrCat(spec.concurrency()), FormatDuration(spec.timeout()),
                    function.sha256().substr(0, 12), FormatTime(function.created_at())});
  }
  return RenderTable({"NAME", "VERSION", "RUNTIME", "CONCURRENCY", "TIMEOUT", "SHA256", "CREATED"},
                     rows);
}

std::string InvocationTable(const google::protobuf::RepeatedPtrField<v1::Invocation>& invocations) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Invocation& invocation : invocations) {
    std::string error = invocation.has_error() ? invocation.error().type() : "-";
    if (error.empty()) error = "-";
    if (invocation.dead_lettered()) error += " (dead-lettered)";
    rows.push_back({invocation.id(), invocation.function(),
                    invocation.version() == 0 ? "-" : absl::StrCat(invocation.version()),
                    StateName(invocation.state()), absl::StrCat(invocation.attempt()),
                    FormatTime(invocation.created_at()), error});
  }
  return RenderTable({"ID", "FUNCTION", "VERSION", "STATE", "ATTEMPT", "CREATED", "ERROR"}, rows);
}

std::string DescribeFunction(const v1::Function& function) {
  const v1::FunctionSpec& spec = function.spec();
  std::string out;
  Field("name", spec.name(), out);
  Field("version", absl::StrCat(function.version()), out);
  Field("runtime", RuntimeName(spec.runtime()), out);
  Field("entry point", spec.entry_point().empty() ? "-" : spec.entry_point(), out);
  if (!spec.handler().empty()) Field("handler", spec.handler(), out);
  Field("concurrency", absl::StrCat(spec.concurrency()), out);
  Field("max queue", absl::StrCat(spec.max_queue()), out);
  Field("timeout", FormatDuration(spec.timeout()), out);
  Field("isolation", IsolationName(spec.isolation()), out);
  // Versions deployed before these fields existed hold zeros.
  Field("memory limit", spec.memory_mb() == 0 ? "-" : absl::StrCat(spec.memory_mb(), " MiB"), out);
  Field("min warm", absl::StrCat(spec.min_warm()), out);
  Field("idle timeout", FormatDuration(spec.idle_timeout()), out);
  Field("file limit", spec.max_open_files() == 0 ? "-" : absl::StrCat(spec.max_open_files()), out);
  Field("retry", RetryPolicyText(spec.retry()), out);
  Field("max event age", FormatDuration(spec.max_event_age()), out);
  Field("on success", spec.on_success().empty() ? "-" : spec.on_success(), out);
  Field("on failure", spec.on_failure().empty() ? "-" : spec.on_failure(), out);
  Field("sha256", function.sha256(), out);
  Field("size", absl::StrCat(function.artifact_size(), " bytes"), out);
  Field("created", FormatTime(function.created_at()), out);
  Field("description", spec.description().empty() ? "-" : spec.description(), out);
  if (spec.env().empty()) {
    Field("env", "-", out);
  } else {
    // The proto map has no order; print it sorted.
    std::map<std::string, std::string> env(spec.env().begin(), spec.env().end());
    out += "env:\n";
    for (const auto& [key, value] : env) absl::StrAppend(&out, "  ", key, "=", value, "\n");
  }
  return out;
}

std::string TimelineLine(const v1::StateChange& change) {
  std::string state = StateName(change.state());
  state.resize(std::max<size_t>(state.size(), 9), ' ');  // as wide as "SUCCEEDED"
  std::string line = absl::StrCat(FormatTimeMillis(change.time()), "  ", state);
  if (!change.reason().empty()) absl::StrAppend(&line, "  ", change.reason());
  line.erase(line.find_last_not_of(' ') + 1);
  return line + "\n";
}

std::string DescribeOutput(absl::string_view output) {
  if (output.empty()) return "(empty)";
  if (!IsPrintable(output)) {
    return absl::StrCat("(", output.size(), " bytes of binary data; use -o json to see them)");
  }
  return std::string(output);
}

std::string DescribeInvocation(const v1::Invocation& invocation, absl::Time now) {
  std::string out;
  Field("id", invocation.id(), out);
  Field("function",
        absl::StrCat(invocation.function(), "@",
                     invocation.version() == 0 ? "latest" : absl::StrCat(invocation.version())),
        out);
  Field("state",
        absl::StrCat(StateName(invocation.state()),
                     invocation.dead_lettered() ? " (dead-lettered)" : ""),
        out);
  Field("priority", PriorityName(invocation.priority()), out);
  Field("attempt", AttemptText(invocation), out);
  if (invocation.state() == v1::PENDING && !IsUnset(invocation.next_attempt_at())) {
    Field("next attempt",
          absl::StrCat(FormatTimeMillis(invocation.next_attempt_at()), " (",
                       FormatRelative(ToAbslTime(invocation.next_attempt_at()), now), ")"),
          out);
  }
  if (invocation.state() == v1::RUNNING && !IsUnset(invocation.lease_expires_at())) {
    Field("lease ends",
          absl::StrCat(FormatTimeMillis(invocation.lease_expires_at()), " (",
                       FormatRelative(ToAbslTime(invocation.lease_expires_at()), now), ")"),
          out);
  }
  if (invocation.has_progress()) Field("progress", ProgressText(invocation.progress()), out);
  if (!invocation.parent_id().empty()) Field("parent", invocation.parent_id(), out);
  if (const std::string trace = TraceIdOf(invocation.traceparent()); !trace.empty()) {
    Field("trace", trace, out);
  }
  if (!invocation.idempotency_key().empty()) {
    Field("idempotency key", invocation.idempotency_key(), out);
  }
  Field("created", FormatTimeMillis(invocation.created_at()), out);
  Field("updated", FormatTimeMillis(invocation.updated_at()), out);
  if (!invocation.timeline().empty()) {
    out += "timeline:\n";
    for (const v1::StateChange& change : invocation.timeline()) {
      absl::StrAppend(&out, "  ", TimelineLine(change));
    }
  }
  if (invocation.has_error()) {
    // Before the invocation FAILED, the error is that of the attempt before.
    Field(invocation.state() == v1::FAILED ? "error" : "last error",
          absl::StrCat(invocation.error().type(), invocation.error().message().empty() ? "" : ": ",
                       invocation.error().message()),
          out);
  }
  if (invocation.state() == v1::SUCCEEDED) {
    const std::string output = DescribeOutput(invocation.output());
    if (output.find('\n') == std::string::npos) {
      Field("output", output, out);
    } else {
      absl::StrAppend(&out, "output:\n", output, output.back() == '\n' ? "" : "\n");
    }
  }
  return out;
}

absl::StatusOr<std::string> JsonLine(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot render JSON: ", status.ToString()));
  }
  json += '\n';
  return json;
}

}  // namespace sluice::cli
