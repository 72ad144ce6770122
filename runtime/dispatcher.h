// Dispatcher: per-function FIFO queues served by one pool of threads, with a
// concurrency limit and a queue bound per function, and round-robin
// fairness across functions so that no function can starve another.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "monitoring/invocation_probe.h"
#include "runtime/clock.h"

namespace sluice {

// QueueLimits are a function's limits, taken from its latest spec at each
// submission.
struct QueueLimits {
  uint32_t concurrency = 1;  // tasks of the function running at once
  uint32_t max_queue = 1;    // tasks of the function waiting (incl. reservations)
};

// A Task is queued work. `run` is called on a dispatcher thread and may
// block; `drop` is called instead when the dispatcher shuts down first.
struct Task {
  absl::AnyInvocable<void()> run;
  absl::AnyInvocable<void()> drop;
};

// Dispatcher is thread-safe. Tasks of one function start in submission
// order. A free thread serves the functions that have work and a free
// concurrency slot in turn, one task each.
class Dispatcher {
 public:
  // Starts `threads` threads. `probe` and `clock` must outlive the dispatcher.
  Dispatcher(int threads, InvocationProbe* probe, Clock* clock);
  // Shuts down (see Shutdown).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Reserve holds a place in `function`'s queue for a task that will be
  // submitted with SubmitReserved (or released with Unreserve).
  // RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE after Shutdown.
  absl::Status Reserve(const std::string& function, const QueueLimits& limits);
  // SubmitReserved queues `task` in a place taken by Reserve.
  void SubmitReserved(const std::string& function, Task task);
  // Unreserve gives back a place taken by Reserve.
  void Unreserve(const std::string& function);

  // Submit is Reserve followed by SubmitReserved.
  absl::Status Submit(const std::string& function, const QueueLimits& limits, Task task);
  // SubmitUnbounded queues `task` past the queue bound (used to recover work
  // that was acknowledged before a restart).
  void SubmitUnbounded(const std::string& function, const QueueLimits& limits, Task task);

  // QueueDepth returns how many tasks of `function` wait (reservations too).
  size_t QueueDepth(const std::string& function);

  // Shutdown stops taking work, waits for running tasks to return, and
  // calls `drop` of every queued task. Idempotent.
  void Shutdown();

 private:
  struct Entry {
    Task task;
    absl::Time enqueued_at;
  };
  struct Queue {
    std::deque<Entry> tasks;
    size_t reserved = 0;
    uint32_t running = 0;
    QueueLimits limits;
    bool in_ready = false;  // listed in ready_
  };

  void Loop();
  // MaybeReady lists `name` in ready_ if it has work and a free slot.
  void MaybeReady(const std::string& name, Queue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Enqueue(const std::string& function, Task task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  InvocationProbe* const probe_;
  Clock* const clock_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  // Functions that have a queued task and a free slot, in serving order.
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sluice
