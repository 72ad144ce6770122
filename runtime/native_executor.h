// NativeExecutor: runs a native function (a shared object exporting the C
// ABI of functions/sdk/sluice/function.h) inside the server process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/executor.h"

namespace sluice {

// LoadNativeFunction dlopens `path` and resolves `entry_point`.
//
// The executor offers the function ABI SLUICE_ABI_VERSION. Progress the
// function reports (report_progress) is normalised (runtime/progress.h:
// percent clamped to 100, message valid UTF-8 of at most 1 KiB) and passed
// to ExecutionRequest::on_progress on the reporting thread, in order, under a
// per-attempt ProgressThrottle: a burst of reports is passed on as is, a
// sustained flood is coalesced to the latest report, and the last report of
// the attempt is passed on before Execute returns. Never called after
// Execute returned.
//
// INVALID_ARGUMENT when the file is not a loadable shared object for this
// machine or lacks the entry point; the message says which and why. The
// returned executor keeps the object loaded for its lifetime.
absl::StatusOr<std::unique_ptr<Executor>> LoadNativeFunction(const std::string& path,
                                                             const std::string& entry_point);

}  // namespace sluice
