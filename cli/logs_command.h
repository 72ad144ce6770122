// `sluice logs`: what a function printed, through the Logs API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/client.h"
#include "cli/console.h"
#include "sluice/v1/logs.pb.h"

namespace sluice::cli {

// LogsFlags are the arguments of `sluice logs`.
struct LogsFlags {
  std::string function;
  // Keep printing new lines until Ctrl-C.
  bool follow = false;
  // How many past lines to print first; unset: the server's default (100).
  std::optional<uint32_t> lines;
};

// RunLogs prints the last lines of a function, one per line (JSON: one
// LogEntry per line), then with follow every new line until SIGINT (Ctrl-C),
// which ends the command with exit code 0. Failures exit as ReportRpcFailure
// says.
int RunLogs(const LogsFlags& flags, const ClientConfig& config, Console& console);

// LogLineText renders one entry for the terminal:
// "TIME  INVOCATION  STREAM  TEXT\n", with the time in UTC to the millisecond
// and "-" for an empty invocation id.
std::string LogLineText(const v1::LogEntry& entry);

}  // namespace sluice::cli
