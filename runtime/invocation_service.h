// InvocationService: the invocation engine. Turns invoke requests into work
// for the dispatcher, records background invocations durably, tracks their
// state machine, and recovers unfinished work after a restart.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "monitoring/invocation_probe.h"
#include "runtime/clock.h"
#include "runtime/dispatcher.h"
#include "runtime/executor.h"
#include "runtime/function_registry.h"
#include "runtime/group_committer.h"
#include "runtime/store.h"
#include "runtime/timer_queue.h"
#include "runtime/watch_hub.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// InvokeArgs is what a caller asks for.
struct InvokeArgs {
  std::string function;
  uint64_t version = 0;  // 0: latest
  std::string payload;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// SyncResult is the answer to a synchronous invocation that ran.
struct SyncResult {
  std::string invocation_id;
  uint64_t version = 0;
  ExecutionResult result;  // !result.ok: the function's own error
  absl::Duration duration;
};

// SyncCall lets the caller of InvokeSync give up (e.g. the client went away).
// Thread-safe.
class SyncCall {
 public:
  virtual ~SyncCall() = default;
  // Cancel answers the call with CANCELLED at once (unless it was answered
  // already), stops the attempt if it runs and drops it if it waits.
  virtual void Cancel() = 0;
};

struct InvocationServiceOptions {
  size_t max_payload_bytes = 6 * 1024 * 1024;
};

// InvocationService is thread-safe. Its collaborators are not owned and must
// outlive it; Shutdown must be called before they are destroyed.
class InvocationService {
 public:
  InvocationService(InvocationServiceOptions options, Store* store, GroupCommitter* committer,
                    FunctionRegistry* registry, Dispatcher* dispatcher, WatchHub* watchers,
                    TimerQueue* timers, InvocationProbe* probe, Clock* clock);

  // Recover queues every background invocation left PENDING or RUNNING by a
  // previous process; RUNNING ones run again as a new attempt. Call once,
  // before serving.
  absl::Status Recover();

  // InvokeSync runs `args` without persisting it and calls `done` exactly
  // once, on some thread: with the result, or NOT_FOUND, INVALID_ARGUMENT,
  // RESOURCE_EXHAUSTED (queue full), DEADLINE_EXCEEDED (function timeout or
  // `caller_deadline`), CANCELLED (SyncCall::Cancel), UNAVAILABLE
  // (shutting down). Never blocks on I/O.
  std::shared_ptr<SyncCall> InvokeSync(InvokeArgs args, absl::Time caller_deadline,
                                       absl::AnyInvocable<void(absl::StatusOr<SyncResult>)> done);

  // InvokeAsync records `args` as a PENDING invocation and calls `done` with
  // its id once the record is durable, then runs it in the background.
  // Errors as InvokeSync's admission errors; nothing is recorded then.
  // Never blocks on I/O.
  void InvokeAsync(InvokeArgs args, absl::AnyInvocable<void(absl::StatusOr<std::string>)> done);

  // Get returns a background invocation. NOT_FOUND for unknown ids,
  // INVALID_ARGUMENT for malformed ones. May block on the store.
  absl::StatusOr<v1::Invocation> Get(const std::string& id);

  // List returns background invocations, newest first (see InvocationFilter).
  absl::StatusOr<std::vector<v1::Invocation>> List(const InvocationFilter& filter);

  // Cancel moves a PENDING or RUNNING invocation to CANCELLED and returns it.
  // FAILED_PRECONDITION when it already finished. Blocks until durable.
  absl::StatusOr<v1::Invocation> Cancel(const std::string& id);

  // Shutdown stops the dispatcher: running attempts finish, queued ones
  // stay PENDING in the store for the next start. Idempotent.
  void Shutdown();

 private:
  // Active is an in-flight background invocation: its latest record (ahead
  // of the store until the commit lands) and its running attempt.
  struct Active {
    v1::Invocation record;
    std::shared_ptr<CancelFlag> cancel;  // set while an attempt runs
  };

  struct SyncState;
  struct AttemptOutcome {
    ExecutionResult result;
    bool timed_out = false;
    absl::Duration duration;
  };

  // Admit checks the payload and resolves the function and its limits.
  absl::StatusOr<v1::Function> Admit(const InvokeArgs& args, QueueLimits& limits);
  void RunSync(const std::shared_ptr<SyncState>& state);
  void RunAsync(const std::string& id, const std::string& name);
  // RunAttempt runs `request` on the function's executor. At the request's
  // deadline it sets `cancel` and calls `on_timeout` on the timer thread.
  AttemptOutcome RunAttempt(const v1::Function& function, const ExecutionRequest& request,
                            const std::shared_ptr<CancelFlag>& cancel,
                            absl::AnyInvocable<void()> on_timeout);
  // Transition moves `active` to `state`, appends to its timeline, and
  // commits it; subscribers see it once durable.
  void Transition(const std::string& id, Active& active, v1::InvocationState state,
                  const std::string& reason, absl::AnyInvocable<void(absl::Status)> then = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finish records the end of attempt `attempt` of `id`; ignored when that
  // attempt is no longer the current one (a late completion).
  void Finish(const std::string& id, uint32_t attempt, const ExecutionResult& result,
              const std::string& reason);

  // Constant after construction.
  const InvocationServiceOptions options_;
  Store* const store_;
  GroupCommitter* const committer_;
  FunctionRegistry* const registry_;
  Dispatcher* const dispatcher_;
  WatchHub* const watchers_;
  TimerQueue* const timers_;
  InvocationProbe* const probe_;
  Clock* const clock_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Active> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
