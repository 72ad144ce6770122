// Logger implementation: lines are built whole in a string (escaping as the
// format requires), then written under the logger's lock.
#include "monitoring/log.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/support/log.h"
#include "monitoring/utf8.h"

namespace sluice {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr char kHex[] = "0123456789abcdef";

// AppendEscaped appends `text` to `out` as valid UTF-8 with every byte that
// starts no well-formed character replaced by U+FFFD, and each ASCII
// character passed through `escape_ascii(c, out)`, which appends it (escaped
// or not).
template <typename EscapeAscii>
void AppendEscaped(std::string_view text, std::string& out, EscapeAscii escape_ascii) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8Length(text.substr(i));
    if (length == 1) {
      escape_ascii(text[i], out);
    } else if (length == 0) {
      out.append(kReplacementCharacter);
    } else {
      out.append(text.substr(i, length));
    }
    i += std::max<size_t>(length, 1);
  }
}

// AppendJsonString appends `text` as a JSON string, quotes included.
void AppendJsonString(std::string_view text, std::string& out) {
  out += '"';
  AppendEscaped(text, out, [](char c, std::string& o) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        o += "\\\"";
        return;
      case '\\':
        o += "\\\\";
        return;
      case '\n':
        o += "\\n";
        return;
      case '\r':
        o += "\\r";
        return;
      case '\t':
        o += "\\t";
        return;
      default:
        break;
    }
    if (byte < 0x20 || byte == 0x7F) {
      o += "\\u00";
      o += kHex[byte >> 4];
      o += kHex[byte & 0xF];
    } else {
      o += c;
    }
  });
  out += '"';
}

// AppendTextEscaped appends `text` with control characters and, when
// `quoted`, quotes and backslashes escaped.
void AppendTextEscaped(std::string_view text, bool quoted, std::string& out) {
  AppendEscaped(text, out, [quoted](char c, std::string& o) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      o += "\\n";
    } else if (c == '\r') {
      o += "\\r";
    } else if (c == '\t') {
      o += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      o += "\\x";
      o += kHex[byte >> 4];
      o += kHex[byte & 0xF];
    } else if (quoted && (c == '"' || c == '\\')) {
      o += '\\';
      o += c;
    } else {
      o += c;
    }
  });
}

// NeedsQuotes says whether a text value must be quoted to be read back as
// one value: empty, or holding a space, quote, '=' or a control character.
bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

// FieldKey is `key` as written: standard keys get a prefix, so that a
// field never shadows them.
std::string FieldKey(std::string_view key) {
  if (key == "time" || key == "level" || key == "component" || key == "msg") {
    return std::string("field_").append(key);
  }
  return std::string(key);
}

// AppendTextKey appends `key` with characters that would break `key=value`
// parsing (spaces, '=', quotes, control characters) replaced by '_'.
void AppendTextKey(std::string_view key, std::string& out) {
  if (key.empty()) {
    out += '_';
    return;
  }
  AppendEscaped(key, out, [](char c, std::string& o) {
    const auto byte = static_cast<unsigned char>(c);
    o += (byte <= 0x20 || byte == 0x7F || c == '=' || c == '"' || c == '\\') ? '_' : c;
  });
}

std::string Rfc3339Micros(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

}  // namespace

LogField::LogField(std::string_view key, double value) : key(key) {
  if (std::isfinite(value)) {
    this->value = absl::StrCat(value);
    verbatim = true;
  } else {
    this->value = std::isnan(value) ? "NaN" : (value > 0 ? "+Inf" : "-Inf");
  }
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "json") return LogFormat::kJson;
  if (name == "text") return LogFormat::kText;
  return absl::InvalidArgumentError(absl::StrCat("unknown log format \"",
                                                 absl::string_view(name.data(), name.size()),
                                                 "\" (use json or text)"));
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrCat("unknown log level \"",
                                                 absl::string_view(name.data(), name.size()),
                                                 "\" (use debug, info, warn or error)"));
}

std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level,
                          std::string_view component, std::string_view message,
                          absl::Span<const LogField> fields) {
  std::string line;
  line.reserve(64 + component.size() + message.size() + 32 * fields.size());
  if (format == LogFormat::kJson) {
    line += "{\"time\":\"";
    line += Rfc3339Micros(time);
    line += "\",\"level\":\"";
    line += LogLevelName(level);
    line += "\",\"component\":";
    AppendJsonString(component, line);
    line += ",\"msg\":";
    AppendJsonString(message, line);
    for (const LogField& field : fields) {
      line += ',';
      AppendJsonString(FieldKey(field.key), line);
      line += ':';
      if (field.verbatim) {
        line += field.value;
      } else {
        AppendJsonString(field.value, line);
      }
    }
    line += "}\n";
    return line;
  }
  line += Rfc3339Micros(time);
  line += ' ';
  line += LogLevelName(level);
  line += ' ';
  AppendTextEscaped(component, /*quoted=*/false, line);
  line += ": ";
  AppendTextEscaped(message, /*quoted=*/false, line);
  for (const LogField& field : fields) {
    line += ' ';
    AppendTextKey(FieldKey(field.key), line);
    line += '=';
    const bool quote = !field.verbatim && NeedsQuotes(field.value);
    if (quote) line += '"';
    AppendTextEscaped(field.value, quote, line);
    if (quote) line += '"';
  }
  line += '\n';
  return line;
}

Logger::Logger(LogFormat format, LogLevel min_level, std::ostream* out, NowFunction now)
    : format_(format),
      min_level_(min_level),
      now_(now ? std::move(now) : NowFunction([] { return absl::Now(); })),
      out_(out) {}

void Logger::Log(LogLevel level, std::string_view component, std::string_view message,
                 absl::Span<const LogField> fields) {
  if (!Enabled(level)) return;
  const std::string line = FormatLogLine(format(), now_(), level, component, message, fields);
  absl::MutexLock lock(&mu_);
  out_->write(line.data(), static_cast<std::streamsize>(line.size()));
  out_->flush();
}

void Logger::Configure(LogFormat format, LogLevel min_level) {
  format_.store(format, std::memory_order_relaxed);
  min_level_.store(min_level, std::memory_order_relaxed);
}

Logger& DefaultLogger() {
  static Logger* const logger = new Logger(LogFormat::kText, LogLevel::kInfo, &std::cerr);
  return *logger;
}

void ConfigureLogging(LogFormat format, LogLevel min_level) {
  DefaultLogger().Configure(format, min_level);
}

void RouteGrpcLogsToDefaultLogger() {
  gpr_set_log_function([](gpr_log_func_args* args) {
    LogLevel level = LogLevel::kDebug;
    if (args->severity == GPR_LOG_SEVERITY_INFO) level = LogLevel::kInfo;
    if (args->severity == GPR_LOG_SEVERITY_ERROR) level = LogLevel::kError;
    DefaultLogger().Log(level, "grpc", args->message != nullptr ? args->message : "",
                        {{"file", args->file != nullptr ? args->file : ""}, {"line", args->line}});
  });
}

void LogDebug(std::string_view component, std::string_view message,
              absl::Span<const LogField> fields) {
  DefaultLogger().Log(LogLevel::kDebug, component, message, fields);
}

void LogInfo(std::string_view component, std::string_view message,
             absl::Span<const LogField> fields) {
  DefaultLogger().Log(LogLevel::kInfo, component, message, fields);
}

void LogWarning(std::string_view component, std::string_view message,
                absl::Span<const LogField> fields) {
  DefaultLogger().Log(LogLevel::kWarning, component, message, fields);
}

void LogError(std::string_view component, std::string_view message,
              absl::Span<const LogField> fields) {
  DefaultLogger().Log(LogLevel::kError, component, message, fields);
}

}  // namespace sluice
