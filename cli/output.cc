// Terminal rendering of API messages.
#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/table.h"
#include "runtime/manifest.h"

namespace sluice::cli {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

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

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (IsUnset(time)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(time), absl::UTCTimeZone());
}

std::string FormatTimeMillis(const google::protobuf::Timestamp& time) {
  if (IsUnset(time)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ToTime(time), absl::UTCTimeZone());
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
    rows.push_back({invocation.id(), invocation.function(),
                    invocation.version() == 0 ? "-" : absl::StrCat(invocation.version()),
                    StateName(invocation.state()), absl::StrCat(invocation.attempt()),
                    FormatTime(invocation.created_at())});
  }
  return RenderTable({"ID", "FUNCTION", "VERSION", "STATE", "ATTEMPT", "CREATED"}, rows);
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

std::string DescribeInvocation(const v1::Invocation& invocation) {
  std::string out;
  Field("id", invocation.id(), out);
  Field("function",
        absl::StrCat(invocation.function(), "@",
                     invocation.version() == 0 ? "latest" : absl::StrCat(invocation.version())),
        out);
  Field("state", StateName(invocation.state()), out);
  Field("attempt", absl::StrCat(invocation.attempt()), out);
  Field("created", FormatTimeMillis(invocation.created_at()), out);
  Field("updated", FormatTimeMillis(invocation.updated_at()), out);
  if (!invocation.timeline().empty()) {
    out += "timeline:\n";
    for (const v1::StateChange& change : invocation.timeline()) {
      absl::StrAppend(&out, "  ", TimelineLine(change));
    }
  }
  if (invocation.has_error()) {
    Field("error", absl::StrCat(invocation.error().type(), ": ", invocation.error().message()),
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
