// Local inputs of client commands: the invocation payload (--data) and
// KEY=VALUE flags (--meta, --env).
#pragma once

#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sluice::cli {

// ResolvePayload returns the payload that `--data` names:
//   - "@PATH": the bytes of the file PATH;
//   - "-": everything on `in`;
//   - anything else: the text itself;
//   - no --data (nullopt): everything on `in` when it is not a terminal,
//     otherwise the empty payload.
// INVALID_ARGUMENT when "@" has no path; NOT_FOUND or PERMISSION_DENIED when
// the file cannot be read. Reads `in` to its end when it reads it at all.
absl::StatusOr<std::string> ResolvePayload(const std::optional<std::string>& data, std::istream& in,
                                           bool in_is_tty);

// ReadFileBytes returns the whole content of the file at `path`. NOT_FOUND
// when it does not exist, INVALID_ARGUMENT when it is a directory,
// PERMISSION_DENIED when it cannot be opened.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path);

// ParseKeyValues turns flag values "KEY=VALUE" into a map. The value may be
// empty and may contain '='. INVALID_ARGUMENT naming `flag` when a pair has
// no '=', an empty key, or a key that appeared before.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& pairs, absl::string_view flag);

// ParsePositiveDuration parses a Go-style duration such as 500ms, 10s or
// 1m30s. INVALID_ARGUMENT naming `flag` unless it is finite and positive.
absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view text,
                                                     absl::string_view flag);

}  // namespace sluice::cli
