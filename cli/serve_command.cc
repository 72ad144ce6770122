// `sluice serve`: hands the flags to the server and reports how it ended.
#include "cli/serve_command.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/exit_codes.h"
#include "cli/payload.h"
#include "monitoring/log.h"

namespace sluice::cli {

absl::Status ApplyServeDurations(const ServeDurationFlags& flags, ServerOptions& options) {
  absl::Duration shutdown_grace = options.shutdown_grace;
  if (!flags.shutdown_grace.empty()) {
    // Zero is allowed: stop at once, leaving interrupted attempts to a restart.
    if (!absl::ParseDuration(flags.shutdown_grace, &shutdown_grace) ||
        shutdown_grace < absl::ZeroDuration() || shutdown_grace == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shutdown-grace \"", flags.shutdown_grace,
                       "\" is not a finite, non-negative duration (use 0s, 10s, 1m30s)"));
    }
  }
  absl::Duration retention = options.retention;
  if (!flags.retention.empty()) {
    absl::StatusOr<absl::Duration> parsed = ParsePositiveDuration(flags.retention, "--retention");
    if (!parsed.ok()) return parsed.status();
    retention = *parsed;
  }
  absl::Duration dedupe_window = options.event_dedupe_window;
  if (!flags.event_dedupe_window.empty()) {
    absl::StatusOr<absl::Duration> parsed =
        ParsePositiveDuration(flags.event_dedupe_window, "--event-dedupe-window");
    if (!parsed.ok()) return parsed.status();
    dedupe_window = *parsed;
  }
  options.shutdown_grace = shutdown_grace;
  options.retention = retention;
  options.event_dedupe_window = dedupe_window;
  return absl::OkStatus();
}

absl::Status ApplyServeLogFlags(const ServeLogFlags& flags, ServerOptions& options) {
  LogFormat format = options.log_format;
  if (!flags.format.empty()) {
    absl::StatusOr<LogFormat> parsed = ParseLogFormat(flags.format);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log-format: ", parsed.status().message()));
    }
    format = *parsed;
  }
  LogLevel level = options.log_level;
  if (!flags.level.empty()) {
    absl::StatusOr<LogLevel> parsed = ParseLogLevel(flags.level);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log-level: ", parsed.status().message()));
    }
    level = *parsed;
  }
  options.log_format = format;
  options.log_level = level;
  return absl::OkStatus();
}

int RunServe(const ServerOptions& options, const ServeFunction& serve, Console& console) {
  const absl::Status status = serve(options);
  if (!status.ok()) return ReportError(status.message(), kExitFailed, console);
  return kExitOk;
}

}  // namespace sluice::cli
