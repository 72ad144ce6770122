// ExecExecutor: the `runtime: exec` adapter. Every attempt starts a fresh
// process of the function's program: the payload goes on its stdin, its
// stdout is the result, and its exit status decides success.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/executor.h"
#include "runtime/log_sink.h"
#include "runtime/subprocess.h"

namespace sluice {

// ExecOptions say what to run for one function version and how.
struct ExecOptions {
  // The executable (not searched in PATH), started without arguments.
  std::string program;
  // The working directory of every process; must exist.
  std::string working_dir = "/";
  // The function's environment, "KEY=value" each. The executor adds
  // SLUICE_INVOCATION_ID, SLUICE_ATTEMPT, SLUICE_DEADLINE_MS (Unix
  // milliseconds; INT64_MAX without a deadline), SLUICE_FUNCTION_NAME and
  // SLUICE_FUNCTION_VERSION, replacing entries of the same names.
  std::vector<std::string> env;
  ProcessLimits limits;
  // A cgroup v2 directory for per-process cgroups (see ProcessSpec); empty:
  // rlimits only.
  std::string cgroup_root;
  // More stdout than this fails the attempt with "OutputTooLarge".
  size_t max_output_bytes = 6 * 1024 * 1024;
  std::string function_name;
  uint64_t function_version = 0;
  // Receives each stderr line, tagged with the invocation id. Not owned;
  // may be null; must outlive the executor.
  LogSink* logs = nullptr;
};

// NewExecExecutor returns an executor that runs one process per attempt.
// Execute is thread-safe and blocks until the process is gone; it always
// reaps the process and closes every descriptor it opened. Results:
//   exit status 0                  → Success(stdout)
//   non-zero exit                  → "NonZeroExit", "exited with status N: <stderr tail>"
//   killed by a signal             → "Crash", "killed by signal 11 (SIGSEGV): <stderr tail>"
//   past request.deadline          → "Timeout" (the process group is SIGKILLed)
//   request.cancel set             → "Cancelled" (likewise)
//   stdout over max_output_bytes   → "OutputTooLarge" (likewise)
//   the program cannot be started  → "FunctionLoadError"
// The stderr tail is its last 4 KiB.
std::unique_ptr<Executor> NewExecExecutor(ExecOptions options);

}  // namespace sluice
