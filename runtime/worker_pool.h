// Worker and WorkerPool: warm processes that run attempts of one function
// version, started on demand (a cold start) and kept for reuse.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/executor.h"

namespace sluice {

// Worker is one warm process. Not thread-safe: a pool hands it to one
// attempt at a time.
class Worker {
 public:
  virtual ~Worker() = default;
  // Run runs one attempt and returns its result. It enforces the request's
  // deadline and cancel flag by killing the process (results: error type
  // "Timeout" or "Cancelled"); a process that dies gives error type "Crash"
  // with the signal or exit status in the message.
  virtual ExecutionResult Run(const ExecutionRequest& request) = 0;
  // Reusable is false once the process died or was killed; the pool then
  // discards the worker.
  virtual bool Reusable() const = 0;
};

// WorkerFactory starts a worker (a cold start). Called without locks held.
using WorkerFactory = absl::AnyInvocable<absl::StatusOr<std::unique_ptr<Worker>>()>;

// WorkerPoolEvents receives the pool's events, for metrics. Thread-safe.
class WorkerPoolEvents {
 public:
  virtual ~WorkerPoolEvents() = default;
  virtual void OnColdStart(absl::Duration took) = 0;
  virtual void OnWorkerCrashed() = 0;
  // The number of idle and busy workers changed.
  virtual void OnWorkers(int idle, int busy) = 0;
};

struct WorkerPoolOptions {
  // Workers kept started even when idle.
  uint32_t min_warm = 0;
  // Workers at most (the function's concurrency).
  uint32_t max_workers = 1;
  // Idle workers above min_warm are stopped after this long unused.
  absl::Duration idle_timeout = absl::Minutes(5);
};

// WorkerPool runs attempts on warm workers of one function version, starting
// workers on demand up to max_workers (the dispatcher's concurrency limit
// keeps callers within it) and stopping idle ones. Thread-safe.
class WorkerPool final : public Executor {
 public:
  // `events` may be null; otherwise it must outlive the pool.
  WorkerPool(WorkerPoolOptions options, WorkerFactory factory, WorkerPoolEvents* events);
  // Stops every idle worker. Must not race with Execute (owners hold the
  // pool through a shared_ptr while executing).
  ~WorkerPool() override;

  // Execute runs on an idle worker, or cold-starts one. A worker that failed
  // to start gives error type "WorkerStartFailed"; a worker that died is
  // discarded (the next attempt starts a fresh one).
  ExecutionResult Execute(const ExecutionRequest& request) override;
  // Warm: an idle worker is waiting.
  bool Warm() override;

  // Maintain stops workers idle for longer than idle_timeout beyond
  // min_warm, then starts workers until min_warm are up. Call it
  // periodically; it blocks while starting workers.
  void Maintain(absl::Time now) override;

  // Drain retires the pool: idle workers stop now, busy ones when their
  // attempt returns, and Maintain starts no more. Execute still works (a
  // late attempt cold-starts a worker that is stopped after it).
  void Drain();
  void Retire() override { Drain(); }

  int idle_workers();
  int busy_workers();

 private:
  struct Idle {
    std::unique_ptr<Worker> worker;
    absl::Time since;
  };
  void ReportLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::unique_ptr<Worker>> StartWorker();

  const WorkerPoolOptions options_;
  WorkerFactory factory_;
  WorkerPoolEvents* const events_;

  absl::Mutex factory_mu_ ABSL_ACQUIRED_AFTER(mu_);  // the factory is not thread-safe
  absl::Mutex mu_;
  // Most recently used last: reuse takes from the back, reaping from the front.
  std::deque<Idle> idle_ ABSL_GUARDED_BY(mu_);
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  // Idle workers found unusable, stopped by the next Execute outside the lock.
  std::vector<std::unique_ptr<Worker>> retired_ ABSL_GUARDED_BY(mu_);
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sluice
