// NativeExecutor: runs a native function (a shared object exporting the C
// ABI of functions/sdk/sluice/function.h) inside the server process.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/executor.h"

namespace sluice {

// LoadNativeFunction dlopens `path` and resolves `entry_point`.
// INVALID_ARGUMENT when the file is not a loadable shared object for this
// machine or lacks the entry point; the message says which and why. The
// returned executor keeps the object loaded for its lifetime.
absl::StatusOr<std::unique_ptr<Executor>> LoadNativeFunction(const std::string& path,
                                                             const std::string& entry_point);

}  // namespace sluice
