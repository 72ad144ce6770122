// LogLine and LogSink: what functions print, tagged with who printed it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace sluice {

// LogLine is one line a function's process wrote, without its newline.
struct LogLine {
  absl::Time time;
  std::string function;
  uint64_t version = 0;
  // The invocation the worker was running, empty between invocations.
  std::string invocation_id;
  // That invocation's trace id (32 hex digits), empty when unknown.
  std::string trace_id;
  std::string stream;  // "stdout" or "stderr"
  std::string text;
};

// LogSink receives log lines. Implementations are thread-safe and do not
// block for long (they are called from the threads that drain pipes).
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Append(LogLine line) = 0;
};

}  // namespace sluice
