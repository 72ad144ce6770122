// NativeWorker: a native function in a worker process of its own. The
// worker is the `sluice` binary in worker mode (`sluice worker`), which
// loads the shared object and serves frames (runtime/frames.h) on fd 3.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/frames.h"
#include "runtime/log_sink.h"
#include "runtime/output_pump.h"
#include "runtime/subprocess.h"
#include "runtime/worker_pool.h"

namespace sluice {

// RunWorkerProcess is the body of `sluice worker`: it loads `artifact`,
// reports WorkerReady on `fd`, then answers WorkRequests until the stream
// ends, sending the attempt's progress reports (rate-limited as in
// native_executor.h) as WorkerMessage frames before its response. Returns the
// process exit code.
int RunWorkerProcess(int fd, const std::string& artifact, const std::string& entry_point);

struct NativeWorkerOptions {
  // The `sluice` executable to start in worker mode.
  std::string worker_binary;
  std::string artifact_path;
  std::string entry_point;
  std::string function_name;
  uint64_t function_version = 0;
  // The function version's own directory.
  std::string working_dir = "/";
  // Exactly the environment the spec grants ("K=V").
  std::vector<std::string> env;
  ProcessLimits limits;
  std::string cgroup_root;
  // How long loading the shared object may take.
  absl::Duration init_timeout = absl::Seconds(10);
  // Receives the worker's stdout and stderr; may be null.
  LogSink* logs = nullptr;
};

// NativeWorker is a Worker (see worker_pool.h): one attempt at a time.
class NativeWorker final : public Worker {
 public:
  // Start starts the worker and waits until the function is loaded.
  // INVALID_ARGUMENT when the artifact does not load (the worker's reason),
  // DEADLINE_EXCEEDED when loading takes longer than init_timeout,
  // UNAVAILABLE when the worker dies first.
  static absl::StatusOr<std::unique_ptr<NativeWorker>> Start(NativeWorkerOptions options);
  ~NativeWorker() override;

  // Run runs one attempt in the worker process. Progress frames the worker
  // sends are passed to request.on_progress on the calling thread, in order,
  // before Run returns (normalised again, and coalesced should the worker
  // send more than twice the rate it is meant to). A worker that dies,
  // even after reporting progress, gives "Crash"; one killed at the deadline
  // "Timeout"; one killed on cancellation "Cancelled".
  ExecutionResult Run(const ExecutionRequest& request) override;
  bool Reusable() const override { return reusable_; }

 private:
  explicit NativeWorker(NativeWorkerOptions options) : options_(std::move(options)) {}
  // Died kills and reaps the process and describes how it ended.
  std::string Died();

  const NativeWorkerOptions options_;
  std::unique_ptr<Subprocess> process_;
  int socket_ = -1;
  std::unique_ptr<FrameReader> reader_;  // of socket_
  bool reusable_ = true;
  absl::Mutex mu_;
  // The invocation whose output the pump is tagging now.
  std::string current_invocation_ ABSL_GUARDED_BY(mu_);
  std::string current_trace_ ABSL_GUARDED_BY(mu_);  // its trace id
  std::unique_ptr<OutputPump> pump_;                // declared last: stopped first
};

}  // namespace sluice
