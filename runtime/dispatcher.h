// Dispatcher: per-function priority queues served by one pool of threads,
// with a concurrency limit and a queue bound per function, a bound on all
// waiting work, and round-robin fairness across functions so that no
// function can starve another.
#pragma once

#include <array>
#include <cstddef>
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
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// QueueLimits are a function's limits, taken from its latest spec at each
// submission.
struct QueueLimits {
  uint32_t concurrency = 1;  // tasks of the function running at once
  uint32_t max_queue = 1;    // tasks of the function waiting (incl. reservations)
};

// A Task is queued work. `run` is called on a dispatcher thread and may
// block; `drop` (may be null) is called instead when the dispatcher is closed
// or shut down first. Neither is called with the dispatcher's lock held.
struct Task {
  absl::AnyInvocable<void()> run;
  absl::AnyInvocable<void()> drop;
  // Orders the waiting tasks of one function (higher first, with aging).
  // PRIORITY_UNSPECIFIED counts as PRIORITY_NORMAL.
  v1::Priority priority = v1::PRIORITY_NORMAL;
};

// DispatcherOptions configure a Dispatcher.
struct DispatcherOptions {
  // Threads that run tasks (at least 1).
  int threads = 1;
  // Tasks waiting across all functions (reservations included) beyond which
  // Reserve refuses, whatever the functions' own bounds.
  size_t max_queued_total = 100000;
  // A waiting task's effective priority rises by one level per aging_step
  // waited, so low-priority work is never starved. Must be positive;
  // absl::InfiniteDuration() turns aging off.
  absl::Duration aging_step = absl::Seconds(10);
};

// Dispatcher is thread-safe.
//
// Ordering within one function: the waiting task with the highest effective
// priority starts first, where effective priority = base level (LOW 1,
// NORMAL 2, HIGH 3, CRITICAL 4) + whole aging_steps waited; ties go to the
// task submitted first. Tasks of one priority therefore start in submission
// order. Across functions: a free thread serves the functions that have work
// and a free concurrency slot in turn, one task each.
//
// Refusals from Reserve/Submit: RESOURCE_EXHAUSTED when the function's queue
// or the total bound is full, carrying a retry delay (see retry_info.h and
// RetryDelayEstimate below); UNAVAILABLE after Close or Shutdown.
class Dispatcher {
 public:
  // Starts options.threads threads. `probe` and `clock` must outlive the
  // dispatcher. `clock` times waiting (aging) and task run times (the retry
  // delay estimate).
  Dispatcher(const DispatcherOptions& options, InvocationProbe* probe, Clock* clock);
  // Same as DispatcherOptions{.threads = threads} with the other defaults.
  Dispatcher(int threads, InvocationProbe* probe, Clock* clock);
  // Shuts down (see Shutdown).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Reserve holds a place in `function`'s queue for a task that will be
  // submitted with SubmitReserved (or released with Unreserve).
  // RESOURCE_EXHAUSTED (with a retry delay payload) when the function's queue
  // or the total bound is full; the message names the bound. UNAVAILABLE
  // after Close or Shutdown.
  absl::Status Reserve(const std::string& function, const QueueLimits& limits);
  // SubmitReserved queues `task` in a place taken by Reserve. After Close or
  // Shutdown the task is dropped (its `drop` is called) instead.
  void SubmitReserved(const std::string& function, Task task);
  // Unreserve gives back a place taken by Reserve.
  void Unreserve(const std::string& function);

  // Submit is Reserve followed by SubmitReserved. On refusal `task` is
  // destroyed without calling `drop`.
  absl::Status Submit(const std::string& function, const QueueLimits& limits, Task task);
  // RunInline runs `task.run` on the calling thread, before returning true,
  // when `function` has a free concurrency slot, nothing waiting or
  // reserved (so that no waiting task is passed over), and its tasks are
  // known to be quick: their average run time (see RetryDelayEstimate) is
  // under kInlineRunTime. The run counts against the function's
  // concurrency and in its metrics like a queued task that waited for no
  // time. Returns false, leaving `task` intact (the caller then submits it),
  // otherwise, and after Close or Shutdown. It saves the hand-off to a
  // dispatcher thread and back; a function's first task always goes
  // through the queue, which measures it. With `alone`, it runs inline only
  // while no other task of the function runs: for tasks that leave the
  // calling thread idle while they wait on another process, so that under
  // load they go to dispatcher threads and the caller's thread stays free.
  bool RunInline(const std::string& function, const QueueLimits& limits, Task& task,
                 bool alone = false);
  // SubmitUnbounded queues `task` past the function's and the total bound
  // (used to recover work that was acknowledged before a restart). After
  // Close or Shutdown the task is dropped instead.
  void SubmitUnbounded(const std::string& function, const QueueLimits& limits, Task task);

  // QueueDepth returns how many tasks of `function` wait (reservations too).
  size_t QueueDepth(const std::string& function);
  // TotalQueued returns how many tasks wait across all functions
  // (reservations too).
  size_t TotalQueued();
  // OldestWaits returns, for every function the dispatcher has seen, how
  // long its oldest waiting task has waited (zero when none waits).
  std::vector<std::pair<std::string, absl::Duration>> OldestWaits();

  // Close starts a graceful drain: from now on Reserve and Submit answer
  // UNAVAILABLE ("the server is draining"), no queued task starts any more,
  // and every queued task is dropped at once (`drop` is called, outside the
  // lock, before Close returns). Running tasks carry on; see AwaitIdle.
  // Idempotent.
  void Close();
  // AwaitIdle blocks until no task runs (true) or `deadline` passes (false).
  // Tasks may start again afterwards unless the dispatcher is closed.
  bool AwaitIdle(absl::Time deadline);

  // Shutdown stops taking work, waits for running tasks to return, and
  // calls `drop` of every queued task. Idempotent; may follow Close.
  void Shutdown();

  // RetryDelayEstimate is the delay a refused caller is told to wait:
  //   run_time * ahead / concurrency, clamped to [kMinRetryDelay,
  //   kMaxRetryDelay],
  // where run_time is an exponentially weighted moving average (weight 1/5
  // for the newest sample) of how long tasks ran, `ahead` is how many tasks
  // wait before a newcomer and `concurrency` how many run at once. It is the
  // time for the work ahead to start, after which a retry finds room. For a
  // function's full queue these are the function's figures; for the total
  // bound, the figures of all functions and the thread count. Before any
  // task has finished, run_time is kDefaultRunTime.
  static constexpr absl::Duration kMinRetryDelay = absl::Milliseconds(100);
  static constexpr absl::Duration kMaxRetryDelay = absl::Seconds(60);
  static constexpr absl::Duration kDefaultRunTime = absl::Seconds(1);
  static constexpr absl::Duration kInlineRunTime = absl::Milliseconds(1);
  static absl::Duration RetryDelayEstimate(absl::Duration run_time, size_t ahead,
                                           uint32_t concurrency);

 private:
  // Priority levels LOW..CRITICAL map to indices 0..3.
  static constexpr int kLevels = 4;

  struct Entry {
    Task task;
    absl::Time enqueued_at;
    uint64_t seq = 0;  // submission order, for ties
  };
  // RunTime is an EWMA of task run times.
  struct RunTime {
    absl::Duration average = kDefaultRunTime;
    bool sampled = false;
    void Add(absl::Duration sample);
  };
  struct Queue {
    std::array<std::deque<Entry>, kLevels> waiting;  // FIFO per level
    size_t size = 0;                                 // sum of waiting sizes
    size_t reserved = 0;
    uint32_t running = 0;
    QueueLimits limits;
    RunTime run_time;
    bool in_ready = false;  // listed in ready_
  };

  static int LevelOf(v1::Priority priority);
  void Loop();
  // MaybeReady lists `name` in ready_ if it has work and a free slot.
  void MaybeReady(const std::string& name, Queue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Enqueue queues `task`; returns false (leaving `task` intact, so that the
  // caller drops it outside the lock) after Close or Shutdown.
  bool Enqueue(const std::string& function, Task& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PopNext removes and returns the waiting task of `q` to start next.
  // Precondition: q.size > 0.
  Entry PopNext(Queue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Run runs a started task of `name` outside the lock and gives its slot
  // back.
  void Run(const std::string& name, Task& task, absl::Time enqueued_at) ABSL_LOCKS_EXCLUDED(mu_);
  // TakeQueued empties every queue and returns the tasks to drop.
  std::vector<Task> TakeQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Accepting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !closed_ && !shutdown_; }

  // Constant after construction.
  const DispatcherOptions options_;
  InvocationProbe* const probe_;
  Clock* const clock_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);
  // Functions that have a queued task and a free slot, in serving order.
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  size_t total_queued_ ABSL_GUARDED_BY(mu_) = 0;  // waiting + reserved, all functions
  uint32_t total_running_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  RunTime run_time_ ABSL_GUARDED_BY(mu_);  // across all functions
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sluice
