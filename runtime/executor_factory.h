// ExecutorFactory: turns a function version into the executor that runs it,
// according to its runtime and isolation, and checks artifacts at deploy.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/executor.h"
#include "runtime/log_sink.h"
#include "runtime/worker_pool.h"
#include "sluice/v1/functions.pb.h"

namespace sluice {

// ExecutorFactory is thread-safe.
class ExecutorFactory {
 public:
  virtual ~ExecutorFactory() = default;

  // Validate checks the artifact at `path` (an upload not yet accepted)
  // for `spec`: INVALID_ARGUMENT saying what is wrong with it.
  virtual absl::Status Validate(const v1::FunctionSpec& spec, const std::string& path) = 0;

  // Create returns the executor of a deployed version whose artifact is at
  // `artifact_path`.
  virtual absl::StatusOr<std::shared_ptr<Executor>> Create(const v1::Function& function,
                                                           const std::string& artifact_path) = 0;
};

struct RuntimeExecutorOptions {
  // The `sluice` executable, started in worker mode for isolated native
  // functions.
  std::string worker_binary;
  // Each function version gets a working directory below this one.
  std::string functions_dir;
  // cgroup v2 directory for per-worker memory limits; empty: rlimits only.
  std::string cgroup_root;
  size_t max_payload_bytes = 6 * 1024 * 1024;
  // Receives what functions print; may be null.
  LogSink* logs = nullptr;
  // Returns the pool events (metrics) of a function; may be empty.
  std::function<WorkerPoolEvents*(const std::string& function)> pool_events;
};

// NewRuntimeExecutorFactory returns the factory for every runtime Sluice
// supports: native in-process or in worker processes, lambda, exec.
std::unique_ptr<ExecutorFactory> NewRuntimeExecutorFactory(RuntimeExecutorOptions options);

}  // namespace sluice
