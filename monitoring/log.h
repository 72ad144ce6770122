// Structured logging: one line per event, as JSON or as text, with a time,
// a level, the component that logged, a message and key/value fields.
//
// Any component logs through the process-wide default logger without a
// Logger being passed to it:
//
//   LogInfo("gateway", "serving", {{"grpc_port", port}, {"data_dir", dir}});
//   LogError("retention", "cannot delete", {{"error", status.message()}});
//
// `sluice serve` picks the format and level once at start-up with
// ConfigureLogging. Logging is cross-cutting: plumbing a Logger through
// every constructor would touch every component for no gain in testability,
// since the lines are a side channel and not a result. Components that want
// their lines in a test take a `Logger&` instead (FunctionLogs does).
//
// JSON lines are objects with "time" (RFC 3339, UTC, microseconds), "level"
// ("debug", "info", "warn", "error"), "component", "msg", then the fields in
// the order given:
//
//   {"time":"2026-11-27T23:10:00.123456Z","level":"info","component":"gateway","msg":"serving","grpc_port":1234}
//
// Text lines hold the same, values with spaces or quotes quoted:
//
//   2026-11-27T23:10:00.123456Z info gateway: serving grpc_port=1234 data_dir="/my data"
//
// Well-known field keys: function, version, invocation_id, stream, trace_id,
// error. A trace id is one more field: {"trace_id", id}.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace sluice {

// LogLevel orders events by severity; a logger writes those at or above its
// minimum level.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// LogFormat is how a logger writes its lines.
enum class LogFormat { kText, kJson };

// LogLevelName is the name of `level` as written in lines and accepted by
// ParseLogLevel: "debug", "info", "warn" or "error".
std::string_view LogLevelName(LogLevel level);

// ParseLogFormat parses "json" or "text". INVALID_ARGUMENT naming the
// allowed values otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name);

// ParseLogLevel parses "debug", "info", "warn" (or "warning") or "error".
// INVALID_ARGUMENT naming the allowed values otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);

// LogFieldInteger is an integer type a LogField writes as a number: any but
// bool and char.
template <typename T>
concept LogFieldInteger = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

// LogField is one key/value pair of a line. Strings are written as strings;
// integers, finite doubles and booleans as JSON numbers and booleans. Keys
// should be short snake_case identifiers; the keys of the standard fields
// (time, level, component, msg) are written with a "field_" prefix so that
// they never shadow them. A field is a value type; it copies what it is
// given.
struct LogField {
  LogField(std::string_view key, std::string_view value) : key(key), value(value) {}
#ifndef ABSL_USES_STD_STRING_VIEW
  LogField(std::string_view key, absl::string_view value) : key(key), value(value) {}
#endif
  LogField(std::string_view key, const char* value) : key(key), value(value) {}
  LogField(std::string_view key, const std::string& value) : key(key), value(value) {}
  LogField(std::string_view key, bool value)
      : key(key), value(value ? "true" : "false"), verbatim(true) {}
  // Finite numbers are written as numbers; NaN and infinities as strings.
  LogField(std::string_view key, double value);
  template <LogFieldInteger T>
  LogField(std::string_view key, T value)
      : key(key), value(std::to_string(value)), verbatim(true) {}

  std::string key;
  std::string value;
  // True for numbers and booleans: written without quotes in JSON.
  bool verbatim = false;
};

// FormatLogLine returns one line (ending in '\n') describing an event at
// `time`. Pure; thread-safe. Text of any kind is accepted: invalid UTF-8
// bytes become U+FFFD and control characters are escaped, so the result is
// always one line of valid UTF-8 (and, for kJson, one JSON object).
std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level,
                          std::string_view component, std::string_view message,
                          absl::Span<const LogField> fields);

// Logger writes formatted lines to a stream.
//
// Thread-safe: each line is formatted first, then written and flushed whole
// under a lock, so lines of concurrent callers never interleave. The stream
// must outlive the logger and must not be written by anyone else while the
// logger lives (or lines may interleave with those writes).
class Logger {
 public:
  // NowFunction returns the time stamped on a line.
  using NowFunction = std::function<absl::Time()>;

  // Writes lines at or above `min_level` to `out` (not null) in `format`,
  // stamped with `now()` (absl::Now when empty).
  Logger(LogFormat format, LogLevel min_level, std::ostream* out, NowFunction now = {});
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Log writes one line when `level` is enabled; never fails (a stream in a
  // failed state just loses lines).
  void Log(LogLevel level, std::string_view component, std::string_view message,
           absl::Span<const LogField> fields = {});

  // Enabled says whether lines at `level` are written, so that a caller can
  // skip building costly fields.
  bool Enabled(LogLevel level) const {
    return static_cast<int>(level) >= static_cast<int>(min_level_.load(std::memory_order_relaxed));
  }

  // Configure changes the format and minimum level for the lines logged
  // from now on. Lines being written keep the format they were formatted in.
  void Configure(LogFormat format, LogLevel min_level);

  LogFormat format() const { return format_.load(std::memory_order_relaxed); }
  LogLevel min_level() const { return min_level_.load(std::memory_order_relaxed); }

 private:
  std::atomic<LogFormat> format_;
  std::atomic<LogLevel> min_level_;
  // Constant after construction.
  const NowFunction now_;

  absl::Mutex mu_;
  std::ostream* const out_ ABSL_PT_GUARDED_BY(mu_);
};

// DefaultLogger is the process-wide logger: text, level info, to standard
// error until ConfigureLogging says otherwise. It is never destroyed, so a
// reference to it stays valid for the life of the process (also during
// static destruction). Thread-safe.
Logger& DefaultLogger();

// ConfigureLogging sets the format and minimum level of DefaultLogger().
// Thread-safe; meant to be called once at start-up, before other threads log.
void ConfigureLogging(LogFormat format, LogLevel min_level);

// RouteGrpcLogsToDefaultLogger makes the gRPC library write its own
// messages through DefaultLogger() (component "grpc", fields file and line)
// instead of straight to standard error, so that every line of the log has
// the chosen format. gRPC's verbosity (GRPC_VERBOSITY) still decides which
// of its messages are made. Process-wide; thread-safe.
void RouteGrpcLogsToDefaultLogger();

// LogDebug, LogInfo, LogWarning and LogError log to DefaultLogger().
void LogDebug(std::string_view component, std::string_view message,
              absl::Span<const LogField> fields = {});
void LogInfo(std::string_view component, std::string_view message,
             absl::Span<const LogField> fields = {});
void LogWarning(std::string_view component, std::string_view message,
                absl::Span<const LogField> fields = {});
void LogError(std::string_view component, std::string_view message,
              absl::Span<const LogField> fields = {});

}  // namespace sluice
