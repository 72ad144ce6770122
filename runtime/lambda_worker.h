// LambdaWorker: one warm process of a `runtime: lambda` function, running
// the function's bootstrap against its own Runtime API server.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/executor.h"
#include "runtime/lambda_runtime_api.h"
#include "runtime/log_sink.h"
#include "runtime/output_pump.h"
#include "runtime/subprocess.h"
#include "runtime/worker_pool.h"

namespace sluice {

struct LambdaWorkerOptions {
  // The prepared directory of the function version (see PrepareTaskRoot);
  // `task_root`/bootstrap is started there.
  std::string task_root;
  // _HANDLER: what the bootstrap should run, e.g. "function.handler".
  std::string handler;
  std::string function_name;
  uint64_t function_version = 0;
  // AWS_LAMBDA_FUNCTION_MEMORY_SIZE; the limit itself is limits.memory_bytes.
  uint32_t memory_mb = 512;
  // The spec's own environment, "KEY=value" each. It may override PATH,
  // LANG and TZ; it cannot change the variables of the Runtime API contract
  // (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT,
  // AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
  // AWS_LAMBDA_FUNCTION_MEMORY_SIZE): such entries are ignored.
  std::vector<std::string> env;
  ProcessLimits limits;
  // Largest response or error body, in bytes.
  size_t max_payload_bytes = 6 * 1024 * 1024;
  // How long the bootstrap may take to call /next for the first time.
  absl::Duration init_timeout = absl::Seconds(10);
  // Receives the process's stdout and stderr lines; may be null. Not owned;
  // must outlive the worker.
  LogSink* logs = nullptr;
  // A cgroup v2 directory for the memory limit (see ProcessSpec); empty:
  // rlimits only.
  std::string cgroup_root;
};

// LambdaWorker runs a bootstrap speaking the AWS Lambda Runtime API, with
// the environment
//   AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT  _HANDLER  LAMBDA_TASK_ROOT
//   AWS_LAMBDA_FUNCTION_NAME  AWS_LAMBDA_FUNCTION_VERSION
//   AWS_LAMBDA_FUNCTION_MEMORY_SIZE  PATH=/usr/local/bin:/usr/bin:/bin
//   LANG=C.UTF-8  TZ=:UTC
// plus the spec's own variables and nothing else, in the task root as its
// working directory. Its stdout and stderr go line by line to the LogSink,
// tagged with the function, version and the invocation running.
//
// Not thread-safe (see Worker): one thread runs it at a time. Owns its
// process, the pipes and the server; the destructor kills the process group,
// reaps it and closes every descriptor.
class LambdaWorker : public Worker {
 public:
  // Start starts the Runtime API server and the bootstrap and returns once
  // the bootstrap called /next (a cold start). Errors:
  //   FAILED_PRECONDITION "init failed: exited with status N: <stderr tail>"
  //     when the bootstrap exits during init;
  //   FAILED_PRECONDITION "init failed: TYPE: MESSAGE" when it posted
  //     /init/error;
  //   DEADLINE_EXCEEDED "init timed out ..." when it did not call /next
  //     within init_timeout (it is killed);
  //   NOT_FOUND / FAILED_PRECONDITION when the bootstrap is missing or cannot
  //     be executed; UNAVAILABLE when no port can be bound.
  static absl::StatusOr<std::unique_ptr<LambdaWorker>> Start(LambdaWorkerOptions options);

  ~LambdaWorker() override;
  LambdaWorker(const LambdaWorker&) = delete;
  LambdaWorker& operator=(const LambdaWorker&) = delete;

  // Run hands `request` to the bootstrap and waits for its answer. A
  // function error is returned with the type and message the runtime
  // posted. At the deadline or on cancellation the process group is killed
  // and reaped (kTimeoutError, kCancelledError); a process that dies gives
  // kCrashError with Subprocess::DescribeExit and the tail of its stderr;
  // protocol violations give kProtocolError or kResponseTooLargeError. After
  // any of these Reusable() is false. Progress the bootstrap posts to the
  // Sluice extension endpoint /invocation/{id}/progress reaches
  // request.on_progress on the calling thread before Run returns (see
  // RuntimeApiServer).
  ExecutionResult Run(const ExecutionRequest& request) override;

  // Reusable is false once the process exited or was killed, or the runtime
  // broke the protocol (even after Run returned, e.g. a late second post).
  bool Reusable() const override;

  // pid is the bootstrap's process id (its process group id too).
  pid_t pid() const { return pid_; }

 private:
  explicit LambdaWorker(LambdaWorkerOptions options);

  absl::Status Init();
  void OnLine(const char* stream, std::string line);
  // KillAndReap kills the process group, reaps the bootstrap and waits until
  // its output is drained; returns the wait status.
  int KillAndReap();
  std::string StderrTail() const;
  std::vector<std::string> Environment(int port) const;

  // Constant after Start.
  const LambdaWorkerOptions options_;
  std::unique_ptr<RuntimeApiServer> server_;
  std::unique_ptr<Subprocess> process_;
  pid_t pid_ = -1;

  // Used only by the thread running the worker.
  std::unique_ptr<OutputPump> pump_;
  bool killed_ = false;

  mutable absl::Mutex log_mu_;
  // The invocation running, for tagging log lines.
  std::string invocation_id_ ABSL_GUARDED_BY(log_mu_);
  std::string trace_id_ ABSL_GUARDED_BY(log_mu_);  // its trace id
  // The last bytes the process wrote to stderr, for error messages.
  std::string stderr_tail_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace sluice
