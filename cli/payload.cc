// Payload and KEY=VALUE flag parsing for client commands.
#include "cli/payload.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sluice::cli {

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status file = std::filesystem::status(path, error);
  if (!std::filesystem::exists(file)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(file)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(bytes).str();
}

absl::StatusOr<std::string> ResolvePayload(const std::optional<std::string>& data, std::istream& in,
                                           bool in_is_tty) {
  const bool read_stdin = data.has_value() ? *data == "-" : !in_is_tty;
  if (read_stdin) {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!data.has_value()) return std::string();
  if (absl::StartsWith(*data, "@")) {
    const std::string path = data->substr(1);
    if (path.empty()) return absl::InvalidArgumentError("--data @: a file name must follow '@'");
    return ReadFileBytes(path);
  }
  return *data;
}

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& pairs, absl::string_view flag) {
  std::map<std::string, std::string> values;
  for (const std::string& pair : pairs) {
    const size_t equals = pair.find('=');
    if (equals == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " \"", pair, "\": expected KEY=VALUE"));
    }
    if (equals == 0) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " \"", pair, "\": the key is empty"));
    }
    std::string key = pair.substr(0, equals);
    if (!values.emplace(key, pair.substr(equals + 1)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", pair, "\": key \"", key, "\" is given twice"));
    }
  }
  return values;
}

absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view text,
                                                     absl::string_view flag) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", text, "\" is not a duration (use 500ms, 10s, 1m30s)"));
  }
  if (duration <= absl::ZeroDuration() || duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " \"", text, "\" must be a positive, finite duration"));
  }
  return duration;
}

}  // namespace sluice::cli
