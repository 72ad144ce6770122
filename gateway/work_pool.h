// WorkPool: a few threads for the gateway's blocking work (store reads,
// synced writes, artifact validation), so that no gRPC reaction blocks.
#pragma once

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace sluice {

// WorkPool is thread-safe. Work runs in submission order on any thread.
class WorkPool {
 public:
  // Starts `threads` threads; at most `max_queued` jobs may wait.
  WorkPool(int threads, size_t max_queued);
  // Runs the queued work, then joins the threads.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Schedule queues `job`; RESOURCE_EXHAUSTED when the queue is full (it
  // never waits, so a reaction may call it).
  absl::Status Schedule(absl::AnyInvocable<void()> job);

 private:
  void Loop();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sluice
