// InvocationService: the invocation engine. Turns invoke requests into work
// for the dispatcher, records background invocations durably, tracks their
// state machine — retries with backoff, dead letters, idempotency keys,
// progress, destinations — and recovers unfinished work after a restart.
//
// Tracing: each invocation belongs to a span (InvokeArgs::trace, stored in
// the record's traceparent); every attempt adds a queue-wait span and an
// attempt span as its children, in the same trace across retries, and the
// function gets its attempt span's context. A destination's invocation gets
// a span of its own, a child of its parent's with a link to it.
//
// Lifecycle of a background invocation: PENDING -> RUNNING -> SUCCEEDED; a
// failed attempt goes back to PENDING with next_attempt_at (retry policy) or
// ends FAILED and dead-lettered; PENDING|RUNNING -> CANCELLED. Every change
// is committed before it is published to watchers.
//
// Leases: each attempt holds a lease until its deadline plus a grace. In one
// process the attempt's deadline ends it (outcome Timeout) and a later
// completion of that attempt is ignored. When the process dies, the leases of
// its RUNNING invocations end with it: Recover treats them as failed attempts
// with error type "LeaseLost", which counts against the retry budget.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "monitoring/invocation_probe.h"
#include "monitoring/trace_context.h"
#include "monitoring/tracer.h"
#include "runtime/callback_outbox.h"
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
  v1::Priority priority = v1::PRIORITY_NORMAL;
  // InvokeAsync only (InvokeSync refuses them with INVALID_ARGUMENT).
  std::string idempotency_key = "";
  std::optional<v1::RetryPolicy> retry = std::nullopt;  // overrides of the function's policy
  // The span the invocation belongs to (the gateway call); its attempts are
  // child spans. Invalid: the engine starts a trace of its own.
  TraceContext trace = {};
};

// AsyncAccepted is the answer to InvokeAsync.
struct AsyncAccepted {
  std::string invocation_id;
  bool deduplicated = false;  // the idempotency key named an existing invocation
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
  // A RUNNING attempt's lease ends this long after its deadline.
  absl::Duration lease_grace = absl::Seconds(5);
  // Records the queue-wait and attempt spans; not owned. Null: spans are
  // not recorded, but trace contexts are still made and handed to
  // functions.
  const Tracer* tracer = nullptr;
};

inline constexpr size_t kMaxIdempotencyKeyBytes = 256;
inline constexpr uint32_t kMaxRedrive = 10000;

// InvocationService is thread-safe. Its collaborators are not owned and must
// outlive it; Shutdown must be called before they are destroyed.
class InvocationService {
 public:
  InvocationService(InvocationServiceOptions options, Store* store, GroupCommitter* committer,
                    FunctionRegistry* registry, Dispatcher* dispatcher, WatchHub* watchers,
                    TimerQueue* timers, InvocationProbe* probe, Clock* clock);

  // Recover queues every background invocation left PENDING or RUNNING by a
  // previous process. PENDING ones wait for their next_attempt_at; RUNNING
  // ones lost their lease: the attempt counts as failed ("LeaseLost") and
  // is retried or dead-lettered by the retry policy. Call once, before
  // serving.
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
  // Errors as InvokeSync's admission errors (plus INVALID_ARGUMENT for a bad
  // retry override or idempotency key); nothing is recorded then.
  //
  // With an idempotency key, a key already mapped for the function answers
  // with that invocation (deduplicated) and records nothing; concurrent
  // calls with one key share one invocation, and all answer once it is
  // durable. Looking the key up may block on the store; without a key
  // InvokeAsync never blocks on I/O.
  void InvokeAsync(InvokeArgs args, absl::AnyInvocable<void(absl::StatusOr<AsyncAccepted>)> done);

  // InvokeAll records one PENDING invocation per entry of `requests`, as
  // InvokeAsync would (without idempotency keys: INVALID_ARGUMENT), together
  // with the writes of `extra`, in one durable commit, then runs them in the
  // background; `done` gets their ids, in the order of `requests`. On the
  // first admission error nothing is recorded and `done` gets that error.
  // With no requests, `extra` alone is committed. Never blocks on I/O.
  void InvokeAll(std::vector<InvokeArgs> requests, WriteBatch extra,
                 absl::AnyInvocable<void(absl::StatusOr<std::vector<std::string>>)> done);

  // SetCallbackOutbox attaches what delivers topic and callback destinations
  // (not owned; null detaches). Deliveries are written either way.
  void SetCallbackOutbox(CallbackOutbox* outbox) { outbox_.store(outbox); }

  // Get returns a background invocation. NOT_FOUND for unknown ids,
  // INVALID_ARGUMENT for malformed ones. May block on the store.
  absl::StatusOr<v1::Invocation> Get(const std::string& id);

  // List returns background invocations, newest first (see InvocationFilter).
  absl::StatusOr<std::vector<v1::Invocation>> List(const InvocationFilter& filter);

  // Cancel moves a PENDING or RUNNING invocation to CANCELLED and returns it.
  // FAILED_PRECONDITION when it already finished. Blocks until durable.
  absl::StatusOr<v1::Invocation> Cancel(const std::string& id);

  // Redrive queues dead-lettered invocations again under their own ids,
  // with attempts counted from zero, and returns their ids (oldest first).
  // By id: NOT_FOUND, or FAILED_PRECONDITION unless it is dead-lettered and
  // not already queued again. By filter: `function` is required; the
  // others narrow it. Blocks until the new states are durable.
  absl::StatusOr<std::vector<std::string>> Redrive(const v1::RedriveRequest& request);

  // Drain begins a graceful shutdown: new invocations are refused with
  // UNAVAILABLE, queued synchronous calls are answered UNAVAILABLE, queued
  // background invocations stay PENDING in the store for the next start,
  // and running attempts carry on. Returns true once no attempt runs, false
  // if `deadline` passed first (the interrupted attempts stay RUNNING in the
  // store and run again after a restart).
  bool Drain(absl::Time deadline);

  // Shutdown stops the dispatcher (running attempts finish, queued ones
  // stay PENDING in the store for the next start), discards the timers of
  // invocations waiting for a retry (they too stay PENDING), and waits until
  // every commit it submitted has run its callback. After it returns the
  // service calls none of its collaborators. Idempotent.
  void Shutdown();

 private:
  // Active is an in-flight background invocation: its latest record (ahead
  // of the store until the commit lands), the latest one that is durable,
  // and its running attempt.
  //
  // The record leaves the payload out: the payload is kept once, in
  // `whole`, which is shared with the write that stored it and with the
  // committed snapshot, so that a queued invocation holds its payload once.
  // Whole(active) gives the record with its payload.
  struct Active {
    v1::Invocation record;  // without its payload
    // The last snapshot made of the invocation with its payload; null
    // only for an empty Active.
    std::shared_ptr<const v1::Invocation> whole;
    // The last state stored, as its commit's callback saw it: what progress
    // is published to watchers with. Null until the first commit of the
    // invocation lands. Shared with the write that stored it. (Get reads
    // the store itself, which has a state before this does.)
    std::shared_ptr<const v1::Invocation> committed;
    std::shared_ptr<CancelFlag> cancel;  // set while an attempt runs
    // The version that runs or ran (its spec gives max_event_age and
    // destinations); null until the first attempt resolves it.
    std::shared_ptr<const v1::Function> function;
  };

  // PendingKey is an idempotency key whose first invocation is not durable
  // yet; later callers with the key wait for it.
  struct PendingKey {
    std::string invocation_id;
    std::vector<absl::AnyInvocable<void(absl::StatusOr<AsyncAccepted>)>> waiters;
  };

  // Hold makes `active` the entry of `record`: the payload moves into a new
  // shared snapshot (set as `whole` and returned) and the record is kept
  // without it.
  static std::shared_ptr<const v1::Invocation> Hold(Active& active, v1::Invocation record);
  // Whole returns `active`'s record with its payload.
  static v1::Invocation Whole(const Active& active);

  struct SyncState;
  struct AttemptOutcome {
    ExecutionResult result;
    bool timed_out = false;
    absl::Duration duration;
  };

  // TraceOf returns the context an invocation's spans descend from:
  // `given` when valid, else a new trace whose root span ("sluice.invoke")
  // is recorded here.
  TraceContext TraceOf(const TraceContext& given, const std::string& function);
  // Admit checks the payload and priority and resolves the function and
  // its limits.
  absl::StatusOr<std::shared_ptr<const v1::Function>> Admit(const InvokeArgs& args,
                                                            QueueLimits& limits);
  void RunSync(const std::shared_ptr<SyncState>& state);
  // NewRecord admits `args` (see Admit; its payload and metadata are moved
  // out) and returns its PENDING record with the retry policy in force.
  absl::StatusOr<v1::Invocation> NewRecord(InvokeArgs& args, QueueLimits& limits);
  // Record writes new PENDING invocations with `batch` in one synced commit
  // and, once durable, queues each in a place taken by Reserve, then calls
  // `done`; on a failed commit it frees those places and calls `done` with
  // UNAVAILABLE.
  void Record(std::vector<v1::Invocation> records, WriteBatch batch,
              absl::AnyInvocable<void(absl::Status)> done);
  // AnswerKey answers every caller waiting for `key` and forgets it.
  void AnswerKey(const std::string& key, const absl::Status& status, const std::string& id)
      ABSL_LOCKS_EXCLUDED(keys_mu_);
  // Enqueue queues a recorded invocation past the queue bound (it was
  // admitted before), or at `at` when that is in the future.
  void Enqueue(const std::string& id, const std::string& name, v1::Priority priority,
               absl::Time at = absl::InfinitePast()) ABSL_LOCKS_EXCLUDED(mu_);
  void RunAsync(const std::string& id, const std::string& name);
  // RunAttempt runs `request` on the function's executor. At the request's
  // deadline it sets `cancel` and calls `on_timeout` on the timer thread.
  AttemptOutcome RunAttempt(const v1::Function& function, const ExecutionRequest& request,
                            const std::shared_ptr<CancelFlag>& cancel,
                            absl::AnyInvocable<void()> on_timeout);
  // Transition moves `active` to `state`, appends to its timeline, and
  // commits it; subscribers see it once durable.
  // `extra` is committed with it; `then` runs after the commit.
  //
  // A state change is committed without waiting for the disk (see
  // WriteBatch::set_sync): it survives a crash of the process at once and
  // of the machine within GroupCommitter::kMaxSyncDelay; a machine crash
  // before that can only make the invocation run again, which at-least-once
  // allows. `sync` makes the commit wait for the disk, for a change that is
  // answered to a caller (Cancel).
  void Transition(const std::string& id, Active& active, v1::InvocationState state,
                  const std::string& reason, absl::AnyInvocable<void(absl::Status)> then = nullptr,
                  WriteBatch extra = WriteBatch(), bool sync = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finish records the end of attempt `attempt` of `id`; ignored when that
  // attempt is no longer the current one (a late completion).
  void Finish(const std::string& id, uint32_t attempt, const ExecutionResult& result,
              const std::string& reason);
  // Fail records a failed attempt of `active` (its error already set):
  // back to PENDING with a drawn backoff when the policy retries it, else
  // FAILED and dead-lettered.
  void Fail(const std::string& id, Active& active, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // End moves `active` to a terminal state, starting its destination's
  // invocation in the same commit.
  void End(const std::string& id, Active& active, v1::InvocationState state,
           const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OnProgress publishes a progress report of attempt `attempt` of `id`.
  void OnProgress(const std::string& id, uint32_t attempt, uint32_t percent,
                  const std::string& message) ABSL_LOCKS_EXCLUDED(mu_);
  // MarkDurable records that `snapshot` of its invocation is committed: a
  // terminal one ends the invocation's Active, another becomes its
  // committed snapshot. A snapshot older than the committed one (the late
  // callback of an end that Requeue took over) is ignored.
  void MarkDurable(std::shared_ptr<const v1::Invocation> snapshot) ABSL_LOCKS_EXCLUDED(mu_);
  // Requeue moves dead-lettered `records` (as stored) back to PENDING and
  // queues them. One still in flight again (a concurrent redrive) is
  // skipped; one whose stored end's callback has not run yet is not.
  absl::StatusOr<std::vector<std::string>> Requeue(std::vector<v1::Invocation> records);

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
  const Tracer* const tracer_;  // never null
  std::atomic<CallbackOutbox*> outbox_{nullptr};

  absl::Mutex mu_;
  // A node map: references to an Active stay valid while others are
  // inserted (a destination's invocation is added while its parent's
  // transition is under way).
  absl::node_hash_map<std::string, Active> active_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  // Timers that will put an invocation back in the queue for its retry.
  absl::flat_hash_set<uint64_t> retry_timers_ ABSL_GUARDED_BY(mu_);
  // Retry timer callbacks between their check of stopped_ and their end.
  int retry_callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  // Ordered before mu_ (never taken while holding mu_).
  absl::Mutex keys_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // function + '\0' + key -> the invocation being recorded for it.
  absl::flat_hash_map<std::string, PendingKey> pending_keys_ ABSL_GUARDED_BY(keys_mu_);
};

}  // namespace sluice
