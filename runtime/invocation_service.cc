#include "runtime/invocation_service.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/time_util.h"
#include "monitoring/log.h"
#include "runtime/destination.h"
#include "runtime/function_spec.h"
#include "runtime/ids.h"
#include "runtime/proto_time.h"
#include "runtime/retry_policy.h"

namespace sluice {
namespace {

// WholeMillis rounds an attempt's deadline up to a whole millisecond, the
// resolution functions are told it in: a function that stops at the
// deadline it was given then stops at or after the real one, and its
// attempt counts as timed out, never as finishing just before.
absl::Time WholeMillis(absl::Time t) {
  if (t == absl::InfiniteFuture()) return t;
  return absl::UnixEpoch() + absl::Ceil(t - absl::UnixEpoch(), absl::Milliseconds(1));
}

// AppendChange adds a timeline entry for the record's current attempt.
void AppendChange(v1::Invocation& record, v1::InvocationState state, absl::Time now,
                  const std::string& reason) {
  v1::StateChange* change = record.add_timeline();
  change->set_state(state);
  *change->mutable_time() = ToProtoTime(now);
  change->set_reason(reason);
  change->set_attempt(record.attempt());
}

// QueuedAt is when `record` was last queued (max_event_age counts from
// there); records written before queued_at existed use their creation.
absl::Time QueuedAt(const v1::Invocation& record) {
  return FromProtoTime(record.has_queued_at() ? record.queued_at() : record.created_at());
}

// PolicyOf returns the retry policy in force for `record`; records written
// before retry policies existed get the defaults.
v1::RetryPolicy PolicyOf(const v1::Invocation& record) {
  v1::RetryPolicy policy = record.retry();
  if (!NormalizeRetryPolicy(policy, "retry").ok()) {
    policy.Clear();
    (void)NormalizeRetryPolicy(policy, "retry");
  }
  return policy;
}

std::string KeyOf(const std::string& function, const std::string& idempotency_key) {
  return absl::StrCat(function, std::string(1, '\0'), idempotency_key);
}

bool IsTerminal(v1::InvocationState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

std::string OutcomeLabel(const ExecutionResult& result, bool timed_out) {
  if (timed_out) return "timeout";
  return result.ok ? "success" : "error";
}

// UnrecordedTracer makes trace contexts and records no span.
const Tracer* UnrecordedTracer() {
  static const Tracer* const tracer = new Tracer();
  return tracer;
}

// AttemptTrace is what the spans of one attempt say about it.
struct AttemptTrace {
  TraceContext parent;      // the invocation's span
  absl::Time queued_since;  // when the attempt's wait in the queue began
  std::string invocation_id;
  std::string function;
  uint64_t version = 0;
  uint32_t attempt = 1;
};

void Describe(Span& span, const AttemptTrace& trace) {
  if (!span.recording()) return;
  span.SetAttribute("faas.name", trace.function);
  span.SetAttribute("faas.version", absl::StrCat(trace.version));
  span.SetAttribute("faas.invocation_id", trace.invocation_id);
  span.SetAttribute("sluice.attempt", static_cast<int64_t>(trace.attempt));
}

// StartAttemptSpan records the attempt's wait in the queue (a
// "sluice.queue" span up to `now`) and starts its "sluice.attempt" span,
// both children of the invocation's span.
Span StartAttemptSpan(const Tracer* tracer, const AttemptTrace& trace, absl::Time now) {
  Span queue(tracer, "sluice.queue", SpanKind::kInternal, trace.parent, trace.queued_since);
  Describe(queue, trace);
  queue.End(now);
  Span attempt(tracer, "sluice.attempt", SpanKind::kInternal, trace.parent, now);
  Describe(attempt, trace);
  return attempt;
}

// EndAttemptSpan records how the attempt went.
void EndAttemptSpan(Span& span, const ExecutionResult& result, bool timed_out, absl::Time end) {
  if (span.recording()) {
    span.SetAttribute("sluice.outcome", OutcomeLabel(result, timed_out));
    span.SetAttribute("faas.coldstart", result.cold_start);
    if (!result.ok) span.SetError(absl::StrCat(result.error_type, ": ", result.error_message));
  }
  span.End(end);
}

// TraceOfRecord returns the span a stored invocation belongs to; records
// written before traces existed belong to none.
TraceContext TraceOfRecord(const v1::Invocation& record) {
  return ParseTraceparent(record.traceparent(), record.tracestate()).value_or(TraceContext{});
}

}  // namespace

// SyncState is one synchronous call from admission to its answer.
struct InvocationService::SyncState final : public SyncCall {
  InvokeArgs args;
  std::shared_ptr<const v1::Function> function;
  std::string id;
  absl::Time caller_deadline;
  absl::Time queued_since;
  std::shared_ptr<CancelFlag> cancel = std::make_shared<CancelFlag>();
  std::atomic<bool> answered{false};
  absl::AnyInvocable<void(absl::StatusOr<SyncResult>)> done;

  // Answer calls `done` unless the call was answered already.
  void Answer(absl::StatusOr<SyncResult> result) {
    if (answered.exchange(true)) return;
    auto callback = std::move(done);
    callback(std::move(result));
  }

  void Cancel() override {
    cancel->Cancel();
    Answer(absl::CancelledError("the caller cancelled the invocation"));
  }
};

InvocationService::InvocationService(InvocationServiceOptions options, Store* store,
                                     GroupCommitter* committer, FunctionRegistry* registry,
                                     Dispatcher* dispatcher, WatchHub* watchers, TimerQueue* timers,
                                     InvocationProbe* probe, Clock* clock)
    : options_(options),
      store_(store),
      committer_(committer),
      registry_(registry),
      dispatcher_(dispatcher),
      watchers_(watchers),
      timers_(timers),
      probe_(probe),
      clock_(clock),
      tracer_(options.tracer != nullptr ? options.tracer : UnrecordedTracer()) {}

TraceContext InvocationService::TraceOf(const TraceContext& given, const std::string& function) {
  if (given.valid()) return given;
  const absl::Time now = clock_->Now();
  Span root(tracer_, "sluice.invoke", SpanKind::kProducer, TraceContext{}, now);
  root.SetAttribute("faas.name", function);
  root.End(now);
  return root.context();
}

absl::StatusOr<std::shared_ptr<const v1::Function>> InvocationService::Admit(const InvokeArgs& args,
                                                                             QueueLimits& limits) {
  if (absl::Status s = ValidateFunctionName(args.function, "function"); !s.ok()) return s;
  if (args.payload.size() > options_.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("payload: ", args.payload.size(),
                                                   " bytes is over the limit of ",
                                                   options_.max_payload_bytes, " bytes"));
  }
  if (!v1::Priority_IsValid(args.priority)) {
    return absl::InvalidArgumentError(absl::StrCat("priority: unknown priority ", args.priority));
  }
  absl::StatusOr<std::shared_ptr<const v1::Function>> function =
      registry_->GetShared(args.function, args.version);
  if (!function.ok()) return function.status();
  limits.concurrency = (*function)->spec().concurrency();
  limits.max_queue = (*function)->spec().max_queue();
  return function;
}

std::shared_ptr<SyncCall> InvocationService::InvokeSync(
    InvokeArgs args, absl::Time caller_deadline,
    absl::AnyInvocable<void(absl::StatusOr<SyncResult>)> done) {
  auto state = std::make_shared<SyncState>();
  state->done = std::move(done);
  if (!args.idempotency_key.empty() || args.retry.has_value()) {
    state->Answer(absl::InvalidArgumentError(
        absl::StrCat(args.retry.has_value() ? "retry" : "idempotency_key",
                     ": only background invocations (InvokeAsync) take it")));
    return state;
  }
  QueueLimits limits;
  absl::StatusOr<std::shared_ptr<const v1::Function>> function = Admit(args, limits);
  if (!function.ok()) {
    state->Answer(function.status());
    return state;
  }
  state->id = NewInvocationId(clock_->Now());
  state->function = *std::move(function);
  state->caller_deadline = caller_deadline;
  state->queued_since = clock_->Now();
  args.trace = TraceOf(args.trace, args.function);
  state->args = std::move(args);
  const std::string name = state->args.function;
  const v1::Priority priority = state->args.priority;
  Task task{[this, state] { RunSync(state); },
            [state] { state->Answer(absl::UnavailableError("the server is shutting down")); },
            priority};
  // A function known to be quick runs on the caller's thread when it has
  // a free slot and a warm worker (a cold start would hold the caller's
  // thread for the length of a process start): no hand-off to a dispatcher
  // thread and back. One on a worker process runs there only when it is
  // the function's only attempt running: the caller's thread (one of the
  // few that serve the network) would wait idle for the worker, and under
  // load the hand-off costs less than the stalled connection.
  if (absl::StatusOr<std::shared_ptr<Executor>> executor = registry_->ExecutorFor(*state->function);
      executor.ok() && (*executor)->Warm() &&
      dispatcher_->RunInline(name, limits, task, !(*executor)->InProcess())) {
    return state;
  }
  absl::Status submitted = dispatcher_->Submit(name, limits, std::move(task));
  if (!submitted.ok()) state->Answer(submitted);
  return state;
}

void InvocationService::RunSync(const std::shared_ptr<SyncState>& state) {
  const std::string& name = state->function->spec().name();
  if (state->answered.load()) {
    probe_->OnFinished(name, "cancelled", absl::ZeroDuration());
    return;
  }
  const absl::Time now = clock_->Now();
  if (now >= state->caller_deadline) {
    probe_->OnFinished(name, "timeout", absl::ZeroDuration());
    state->Answer(absl::DeadlineExceededError("the caller's deadline passed while queued"));
    return;
  }
  const absl::Time timeout_at = now + TimeoutOf(state->function->spec());
  ExecutionRequest request;
  request.invocation_id = state->id;
  request.function_name = name;
  request.function_version = state->function->version();
  request.attempt = 1;
  request.deadline = WholeMillis(std::min(timeout_at, state->caller_deadline));
  request.payload = std::move(state->args.payload);
  request.metadata = std::move(state->args.metadata);
  request.cancel = state->cancel;
  Span span = StartAttemptSpan(tracer_,
                               {.parent = state->args.trace,
                                .queued_since = state->queued_since,
                                .invocation_id = state->id,
                                .function = name,
                                .version = state->function->version()},
                               now);
  request.traceparent = span.context().Traceparent();
  request.tracestate = span.context().tracestate;
  const bool caller_first = state->caller_deadline < timeout_at;
  // The message is made only if the timeout happens.
  AttemptOutcome outcome =
      RunAttempt(*state->function, request, state->cancel, [state, caller_first] {
        const v1::FunctionSpec& spec = state->function->spec();
        state->Answer(absl::DeadlineExceededError(
            caller_first ? "the caller's deadline passed while the function ran"
                         : absl::StrCat("function \"", spec.name(), "\" timed out after ",
                                        absl::FormatDuration(TimeoutOf(spec)))));
      });
  probe_->OnFinished(name, OutcomeLabel(outcome.result, outcome.timed_out), outcome.duration);
  EndAttemptSpan(span, outcome.result, outcome.timed_out, clock_->Now());
  state->Answer(SyncResult{state->id, state->function->version(), std::move(outcome.result),
                           outcome.duration});
}

InvocationService::AttemptOutcome InvocationService::RunAttempt(
    const v1::Function& function, const ExecutionRequest& request,
    const std::shared_ptr<CancelFlag>& cancel, absl::AnyInvocable<void()> on_timeout) {
  AttemptOutcome outcome;
  absl::StatusOr<std::shared_ptr<Executor>> executor = registry_->ExecutorFor(function);
  if (!executor.ok()) {
    outcome.result = ExecutionResult::Error(
        "FunctionLoadError",
        absl::StrCat("could not load the function: ", executor.status().message()));
    return outcome;
  }
  // The timeout is answered exactly once: by the timer when it fires, or
  // here when the attempt returned after its deadline but before the timer
  // ran (a function that watches its deadline returns right at it).
  auto answer_timeout = std::make_shared<absl::AnyInvocable<void()>>(std::move(on_timeout));
  const uint64_t timer = timers_->Schedule(request.deadline, [cancel, answer_timeout] {
    cancel->Cancel();
    (*answer_timeout)();
  });
  const absl::Time start = clock_->Now();
  outcome.result = (*executor)->Execute(request);
  const absl::Time end = clock_->Now();
  outcome.duration = end - start;
  if (!timers_->Cancel(timer)) {
    outcome.timed_out = true;  // the timer ran, or runs now
  } else if (end >= request.deadline) {
    outcome.timed_out = true;
    cancel->Cancel();
    (*answer_timeout)();
  }
  if (outcome.timed_out) {
    const bool cold_start = outcome.result.cold_start;
    outcome.result = ExecutionResult::Error("Timeout", "the attempt ran past its deadline");
    outcome.result.cold_start = cold_start;
  }
  return outcome;
}

absl::StatusOr<v1::Invocation> InvocationService::NewRecord(InvokeArgs& args, QueueLimits& limits) {
  absl::StatusOr<std::shared_ptr<const v1::Function>> function = Admit(args, limits);
  if (!function.ok()) return function.status();
  v1::RetryPolicy policy = (*function)->spec().retry();
  if (absl::Status s = NormalizeRetryPolicy(policy, "spec.retry"); !s.ok()) return s;
  if (args.retry.has_value()) {
    absl::StatusOr<v1::RetryPolicy> merged = MergeRetryPolicy(policy, *args.retry, "retry");
    if (!merged.ok()) return merged.status();
    policy = *std::move(merged);
  }
  if (args.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key: ", args.idempotency_key.size(),
                                                   " bytes is over the limit of ",
                                                   kMaxIdempotencyKeyBytes, " bytes"));
  }
  const absl::Time now = clock_->Now();
  v1::Invocation record;
  record.set_id(NewInvocationId(now));
  record.set_function(args.function);
  record.set_version(args.version);
  record.set_state(v1::PENDING);
  record.set_priority(args.priority);
  record.set_idempotency_key(args.idempotency_key);
  *record.mutable_retry() = std::move(policy);
  record.set_payload(std::move(args.payload));
  for (auto& [key, value] : args.metadata) (*record.mutable_metadata())[key] = std::move(value);
  *record.mutable_created_at() = ToProtoTime(now);
  *record.mutable_updated_at() = ToProtoTime(now);
  *record.mutable_queued_at() = ToProtoTime(now);
  const TraceContext trace = TraceOf(args.trace, args.function);
  record.set_traceparent(trace.Traceparent());
  record.set_tracestate(trace.tracestate);
  AppendChange(record, v1::PENDING, now, "queued");
  return record;
}

void InvocationService::InvokeAsync(InvokeArgs args,
                                    absl::AnyInvocable<void(absl::StatusOr<AsyncAccepted>)> done) {
  QueueLimits limits;
  absl::StatusOr<v1::Invocation> record = NewRecord(args, limits);
  if (!record.ok()) {
    done(record.status());
    return;
  }
  const std::string key =
      args.idempotency_key.empty() ? std::string() : KeyOf(args.function, args.idempotency_key);
  if (!key.empty()) {
    absl::MutexLock lock(&keys_mu_);
    if (auto it = pending_keys_.find(key); it != pending_keys_.end()) {
      it->second.waiters.push_back(std::move(done));
      return;
    }
    absl::StatusOr<std::string> existing =
        store_->GetIdempotencyKey(args.function, args.idempotency_key);
    if (existing.ok()) {
      done(AsyncAccepted{*std::move(existing), true});
      return;
    }
    if (!absl::IsNotFound(existing.status())) {
      done(absl::UnavailableError(
          absl::StrCat("could not look up the idempotency key: ", existing.status().message())));
      return;
    }
    pending_keys_[key].invocation_id = record->id();
  }
  if (absl::Status s = dispatcher_->Reserve(args.function, limits); !s.ok()) {
    if (!key.empty()) AnswerKey(key, s, "");
    done(s);
    return;
  }
  WriteBatch batch;
  if (!key.empty()) batch.PutIdempotencyKey(args.function, args.idempotency_key, record->id());
  const std::string id = record->id();
  std::vector<v1::Invocation> records;
  records.push_back(*std::move(record));
  Record(std::move(records), std::move(batch),
         [this, id, key, done = std::move(done)](absl::Status s) mutable {
           if (!s.ok()) {
             if (!key.empty()) AnswerKey(key, s, "");
             done(s);
             return;
           }
           if (!key.empty()) AnswerKey(key, absl::OkStatus(), id);
           done(AsyncAccepted{id, false});
         });
}

void InvocationService::AnswerKey(const std::string& key, const absl::Status& status,
                                  const std::string& id) {
  PendingKey pending;
  {
    absl::MutexLock lock(&keys_mu_);
    auto it = pending_keys_.find(key);
    if (it == pending_keys_.end()) return;
    pending = std::move(it->second);
    pending_keys_.erase(it);
  }
  for (auto& waiter : pending.waiters) {
    if (status.ok()) {
      waiter(AsyncAccepted{id, true});
    } else {
      waiter(status);
    }
  }
}

void InvocationService::InvokeAll(
    std::vector<InvokeArgs> requests, WriteBatch extra,
    absl::AnyInvocable<void(absl::StatusOr<std::vector<std::string>>)> done) {
  std::vector<v1::Invocation> records;
  records.reserve(requests.size());
  const auto refuse = [&](const absl::Status& status) {
    for (const v1::Invocation& record : records) dispatcher_->Unreserve(record.function());
    done(status);
  };
  for (InvokeArgs& args : requests) {
    if (!args.idempotency_key.empty()) {
      refuse(absl::InvalidArgumentError("idempotency_key: not taken here"));
      return;
    }
    QueueLimits limits;
    absl::StatusOr<v1::Invocation> record = NewRecord(args, limits);
    if (!record.ok()) {
      refuse(record.status());
      return;
    }
    if (absl::Status s = dispatcher_->Reserve(args.function, limits); !s.ok()) {
      refuse(s);
      return;
    }
    records.push_back(*std::move(record));
  }
  std::vector<std::string> ids;
  ids.reserve(records.size());
  for (const v1::Invocation& record : records) ids.push_back(record.id());
  Record(std::move(records), std::move(extra),
         [ids = std::move(ids), done = std::move(done)](absl::Status s) mutable {
           if (!s.ok()) {
             done(s);
             return;
           }
           done(std::move(ids));
         });
}

std::shared_ptr<const v1::Invocation> InvocationService::Hold(Active& active,
                                                              v1::Invocation record) {
  std::string payload = std::move(*record.mutable_payload());
  record.clear_payload();
  active.record = record;  // everything but the payload
  record.set_payload(std::move(payload));
  active.whole = std::make_shared<const v1::Invocation>(std::move(record));
  return active.whole;
}

v1::Invocation InvocationService::Whole(const Active& active) {
  v1::Invocation whole = active.record;
  if (active.whole != nullptr) whole.set_payload(active.whole->payload());
  return whole;
}

void InvocationService::Record(std::vector<v1::Invocation> records, WriteBatch batch,
                               absl::AnyInvocable<void(absl::Status)> done) {
  std::vector<std::shared_ptr<const v1::Invocation>> snapshots;
  snapshots.reserve(records.size());
  {
    absl::MutexLock lock(&mu_);
    for (v1::Invocation& record : records) {
      const std::string id = record.id();
      snapshots.push_back(Hold(active_[id], std::move(record)));
    }
  }
  for (const auto& snapshot : snapshots) batch.PutInvocation(snapshot);
  batch.set_sync(true);
  committer_->Submit(std::move(batch), [this, snapshots = std::move(snapshots),
                                        done = std::move(done)](absl::Status s) mutable {
    if (!s.ok()) {
      for (const auto& snapshot : snapshots) {
        dispatcher_->Unreserve(snapshot->function());
        absl::MutexLock lock(&mu_);
        active_.erase(snapshot->id());
      }
      done(absl::UnavailableError(absl::StrCat("could not record the invocation: ", s.message())));
      return;
    }
    for (const auto& snapshot : snapshots) {
      MarkDurable(snapshot);
      watchers_->Publish(*snapshot);
      const std::string& id = snapshot->id();
      const std::string& name = snapshot->function();
      dispatcher_->SubmitReserved(
          name, Task{[this, id, name] { RunAsync(id, name); }, nullptr, snapshot->priority()});
    }
    done(absl::OkStatus());
  });
}

void InvocationService::Enqueue(const std::string& id, const std::string& name,
                                v1::Priority priority, absl::Time at) {
  if (at > clock_->Now()) {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;  // it stays PENDING in the store
    auto handle = std::make_shared<uint64_t>(0);
    // Scheduled under mu_, which the callback takes first: it cannot look at
    // *handle before it is set.
    *handle = timers_->Schedule(at, [this, id, name, priority, handle] {
      {
        absl::MutexLock lock(&mu_);
        retry_timers_.erase(*handle);
        if (stopped_) return;
        ++retry_callbacks_running_;
      }
      Enqueue(id, name, priority);
      absl::MutexLock lock(&mu_);
      --retry_callbacks_running_;
    });
    retry_timers_.insert(*handle);
    return;
  }
  QueueLimits limits{kDefaultConcurrency, kDefaultMaxQueue};
  if (absl::StatusOr<v1::Function> f = registry_->Get(name, 0); f.ok()) {
    limits = {f->spec().concurrency(), f->spec().max_queue()};
  }
  dispatcher_->SubmitUnbounded(name, limits,
                               Task{[this, id, name] { RunAsync(id, name); }, nullptr, priority});
}

void InvocationService::RunAsync(const std::string& id, const std::string& name) {
  uint64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it == active_.end() || it->second.record.state() != v1::PENDING) {
      probe_->OnFinished(name, "cancelled", absl::ZeroDuration());
      return;
    }
    version = it->second.record.version();
  }
  absl::StatusOr<std::shared_ptr<const v1::Function>> resolved =
      registry_->GetShared(name, version);

  std::shared_ptr<const v1::Function> function;  // set once resolved
  ExecutionRequest request;
  AttemptTrace trace;
  auto cancel = std::make_shared<CancelFlag>();
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it == active_.end() || it->second.record.state() != v1::PENDING) {
      probe_->OnFinished(name, "cancelled", absl::ZeroDuration());
      return;
    }
    Active& active = it->second;
    const absl::Time now = clock_->Now();
    if (!resolved.ok()) {
      v1::FunctionError* error = active.record.mutable_error();
      error->set_type("FunctionNotFound");
      error->set_message(std::string(resolved.status().message()));
      active.record.set_dead_lettered(true);
      probe_->OnDeadLettered(name);
      End(id, active, v1::FAILED, "function not found; dead-lettered");
      probe_->OnFinished(name, "error", absl::ZeroDuration());
      return;
    }
    function = *resolved;
    active.function = function;
    const absl::Duration max_age = MaxEventAgeOf(function->spec());
    if (now - QueuedAt(active.record) > max_age) {
      v1::FunctionError* error = active.record.mutable_error();
      error->set_type("EventTooOld");
      error->set_message(
          absl::StrCat("the invocation is older than the function's max_event_age of ",
                       absl::FormatDuration(max_age)));
      active.record.set_dead_lettered(true);
      probe_->OnDeadLettered(name);
      End(id, active, v1::FAILED,
          absl::StrCat("older than max_event_age (", absl::FormatDuration(max_age),
                       "); dead-lettered"));
      probe_->OnFinished(name, "expired", absl::ZeroDuration());
      return;
    }
    const uint32_t attempt = active.record.attempt() + 1;
    const absl::Time deadline = WholeMillis(now + TimeoutOf(function->spec()));
    trace = {.parent = TraceOfRecord(active.record),
             .queued_since = active.record.has_next_attempt_at()
                                 ? FromProtoTime(active.record.next_attempt_at())
                                 : QueuedAt(active.record),
             .invocation_id = id,
             .function = name,
             .version = function->version(),
             .attempt = attempt};
    active.record.set_attempt(attempt);
    active.record.set_version(function->version());
    active.record.clear_next_attempt_at();
    *active.record.mutable_lease_expires_at() = ToProtoTime(deadline + options_.lease_grace);
    active.cancel = cancel;
    Transition(id, active, v1::RUNNING,
               absl::StrCat("attempt ", attempt, " of ", PolicyOf(active.record).max_attempts(),
                            " started"));
    request.invocation_id = id;
    request.function_name = name;
    request.function_version = function->version();
    request.attempt = attempt;
    request.deadline = deadline;
    request.payload = active.whole != nullptr ? active.whole->payload() : std::string();
    for (const auto& [key, value] : active.record.metadata())
      request.metadata.emplace_back(key, value);
    request.cancel = cancel;
    request.on_progress = [this, id, attempt](uint32_t percent, const std::string& message) {
      OnProgress(id, attempt, percent, message);
    };
  }
  Span span = StartAttemptSpan(tracer_, trace, clock_->Now());
  request.traceparent = span.context().Traceparent();
  request.tracestate = span.context().tracestate;
  const uint32_t attempt = request.attempt;
  // The reason is made only if the timeout happens.
  AttemptOutcome outcome = RunAttempt(*function, request, cancel, [this, id, attempt, function] {
    const std::string reason = absl::StrCat("attempt ", attempt, " timed out after ",
                                            absl::FormatDuration(TimeoutOf(function->spec())));
    Finish(id, attempt, ExecutionResult::Error("Timeout", reason), reason);
  });
  probe_->OnFinished(name, OutcomeLabel(outcome.result, outcome.timed_out), outcome.duration);
  EndAttemptSpan(span, outcome.result, outcome.timed_out, clock_->Now());
  if (!outcome.timed_out) {
    Finish(id, attempt, outcome.result,
           outcome.result.ok
               ? absl::StrCat("attempt ", attempt, " succeeded")
               : absl::StrCat("attempt ", attempt, " failed: ", outcome.result.error_type, ": ",
                              outcome.result.error_message));
  }
}

void InvocationService::OnProgress(const std::string& id, uint32_t attempt, uint32_t percent,
                                   const std::string& message) {
  v1::Invocation snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it == active_.end()) return;
    v1::Invocation& record = it->second.record;
    if (record.state() != v1::RUNNING || record.attempt() != attempt) return;
    v1::Progress* progress = record.mutable_progress();
    progress->set_percent(std::min<uint32_t>(percent, 100));
    progress->set_message(message);
    *progress->mutable_time() = ToProtoTime(clock_->Now());
    progress->set_attempt(attempt);
    // Watchers see the durable state with the new progress; before the
    // attempt's start is durable there is nothing to show yet.
    const std::shared_ptr<const v1::Invocation>& committed = it->second.committed;
    if (committed == nullptr || committed->state() != v1::RUNNING ||
        committed->attempt() != attempt) {
      return;
    }
    snapshot = *committed;
    *snapshot.mutable_progress() = record.progress();
  }
  // Progress is not committed on its own: it is published at once and
  // stored with the invocation's next state change.
  watchers_->Publish(snapshot);
}

void InvocationService::Finish(const std::string& id, uint32_t attempt,
                               const ExecutionResult& result, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& active = it->second;
  if (active.record.state() != v1::RUNNING || active.record.attempt() != attempt) return;
  active.cancel.reset();
  active.record.clear_lease_expires_at();
  if (result.ok) {
    active.record.set_output(result.output);
    active.record.clear_error();
    End(id, active, v1::SUCCEEDED, reason);
    return;
  }
  v1::FunctionError* error = active.record.mutable_error();
  error->set_type(result.error_type);
  error->set_message(result.error_message);
  Fail(id, active, reason);
}

void InvocationService::Fail(const std::string& id, Active& active, const std::string& reason) {
  const std::string& name = active.record.function();
  const v1::RetryPolicy policy = PolicyOf(active.record);
  const uint32_t attempt = active.record.attempt();
  const v1::RetryOn outcome = RetryOnOf(active.record.error().type());
  const absl::Time now = clock_->Now();
  std::string why;
  if (!Retries(policy, outcome)) {
    why = absl::StrCat(v1::RetryOn_Name(outcome), " is not retried");
  } else if (attempt >= policy.max_attempts()) {
    why = absl::StrCat("attempts spent (", attempt, " of ", policy.max_attempts(), ")");
  } else {
    const absl::Duration backoff = DrawBackoff(policy, attempt, random_);
    const absl::Time next = now + backoff;
    const absl::Duration max_age =
        active.function != nullptr ? MaxEventAgeOf(active.function->spec()) : kDefaultMaxEventAge;
    if (next - QueuedAt(active.record) > max_age) {
      why = absl::StrCat("a retry would pass max_event_age (", absl::FormatDuration(max_age), ")");
    } else {
      *active.record.mutable_next_attempt_at() = ToProtoTime(next);
      probe_->OnRetry(name);
      const v1::Priority priority = active.record.priority();
      Transition(
          id, active, v1::PENDING,
          absl::StrCat(reason, "; attempt ", attempt + 1, " of ", policy.max_attempts(), " in ",
                       absl::FormatDuration(absl::Trunc(backoff, absl::Milliseconds(1)))),
          [this, id, name, priority, next](absl::Status s) {
            if (s.ok()) Enqueue(id, name, priority, next);
          });
      return;
    }
  }
  active.record.set_dead_lettered(true);
  probe_->OnDeadLettered(name);
  End(id, active, v1::FAILED, absl::StrCat(reason, "; dead-lettered: ", why));
}

void InvocationService::End(const std::string& id, Active& active, v1::InvocationState state,
                            const std::string& reason) {
  active.record.clear_next_attempt_at();
  active.record.clear_lease_expires_at();
  WriteBatch extra;
  std::optional<v1::Invocation> child;
  if (active.function != nullptr) {
    // The state is set here so that DestinationOf sees it; Transition sets
    // it again with the timeline entry.
    active.record.set_state(state);
    const std::string& destination = DestinationOf(active.function->spec(), active.record);
    if (!destination.empty() && DestinationKindOf(destination) != Destination::Kind::kFunction) {
      // Delivered from the outbox, written in the same commit as the end.
      internal::CallbackDelivery delivery;
      delivery.set_destination(destination);
      *delivery.mutable_record() = DestinationRecordOf(Whole(active), clock_->Now());
      delivery.set_traceparent(active.record.traceparent());
      delivery.set_tracestate(active.record.tracestate());
      *delivery.mutable_created_at() = delivery.record().finished_at();
      extra.PutEntry(Table::kCallbacks, id, delivery.SerializeAsString());
      Transition(
          id, active, state, reason,
          [this, id, delivery = std::move(delivery)](absl::Status s) mutable {
            CallbackOutbox* outbox = outbox_.load();
            if (s.ok() && outbox != nullptr) outbox->Added(id, std::move(delivery));
          },
          std::move(extra));
      return;
    }
    if (!destination.empty()) {
      const absl::Time now = clock_->Now();
      child = NewDestinationInvocation(Whole(active), destination, NewInvocationId(now), now);
      // The chained invocation's span: in the parent's trace, linked to it.
      const TraceContext parent = TraceOfRecord(active.record);
      Span link(tracer_, "sluice.destination", SpanKind::kProducer, parent, now);
      link.SetAttribute("faas.name", destination);
      link.SetAttribute("faas.invocation_id", child->id());
      link.SetAttribute("sluice.parent_id", id);
      if (parent.valid()) link.AddLink(parent);
      link.End(now);
      child->set_traceparent(link.context().Traceparent());
      child->set_tracestate(link.context().tracestate);
      v1::RetryPolicy policy;
      if (absl::StatusOr<v1::Function> f = registry_->Get(destination, 0); f.ok()) {
        policy = f->spec().retry();
      }
      (void)NormalizeRetryPolicy(policy, "spec.retry");
      *child->mutable_retry() = std::move(policy);
    }
  }
  absl::AnyInvocable<void(absl::Status)> then;
  if (child.has_value()) {
    const std::string child_id = child->id();
    std::shared_ptr<const v1::Invocation> snapshot = Hold(active_[child_id], *std::move(child));
    extra.PutInvocation(snapshot);
    then = [this, child = std::move(snapshot)](absl::Status s) {
      if (s.ok()) {
        MarkDurable(child);
        watchers_->Publish(*child);
        Enqueue(child->id(), child->function(), child->priority());
      } else {
        absl::MutexLock lock(&mu_);
        active_.erase(child->id());
      }
    };
  }
  Transition(id, active, state, reason, std::move(then), std::move(extra));
}

void InvocationService::Transition(const std::string& id, Active& active, v1::InvocationState state,
                                   const std::string& reason,
                                   absl::AnyInvocable<void(absl::Status)> then, WriteBatch extra,
                                   bool sync) {
  const absl::Time now = clock_->Now();
  active.record.set_state(state);
  *active.record.mutable_updated_at() = ToProtoTime(now);
  AppendChange(active.record, state, now, reason);
  // One copy of the record, shared by the write, the callback and Get,
  // with the payload, which watchers see in every state. It becomes the
  // one `whole` copy of the payload. A state change leaves the payload as
  // stored.
  auto snapshot = std::make_shared<const v1::Invocation>(Whole(active));
  active.whole = snapshot;
  WriteBatch batch;
  batch.UpdateInvocation(snapshot);
  batch.Append(std::move(extra));
  batch.set_sync(sync);
  const bool terminal = IsTerminal(state);
  // Commits are applied and their callbacks run in submission order, so
  // watchers see the states of one invocation in order.
  committer_->Submit(std::move(batch), [this, id, terminal, snapshot = std::move(snapshot),
                                        then = std::move(then)](absl::Status s) mutable {
    if (s.ok()) {
      MarkDurable(snapshot);
      watchers_->Publish(*snapshot);
    } else {
      LogError("invocation",
               absl::StrCat("could not record invocation ", id, " as ",
                            v1::InvocationState_Name(snapshot->state()), ": ", s.message()),
               {{"invocation_id", id},
                {"function", snapshot->function()},
                {"trace_id", TraceOfRecord(*snapshot).TraceIdHex()}});
      if (terminal) {
        // The store keeps the last durable state; Get reads it from there.
        absl::MutexLock lock(&mu_);
        active_.erase(id);
      }
    }
    if (then) then(s);
  });
}

absl::Status InvocationService::Recover() {
  std::vector<v1::Invocation> unfinished;
  absl::Status s = store_->ForEachUnfinished(
      [&unfinished](const v1::Invocation& inv) { unfinished.push_back(inv); });
  if (!s.ok()) return s;
  struct Queued {
    std::string id;
    std::string function;
    v1::Priority priority;
    absl::Time at;
  };
  std::vector<Queued> queued;  // queued once mu_ is released (Enqueue takes it)
  for (v1::Invocation& inv : unfinished) {
    const std::string id = inv.id();
    absl::MutexLock lock(&mu_);
    Active& active = active_[id];
    active.committed = Hold(active, std::move(inv));  // as stored
    if (absl::StatusOr<std::shared_ptr<const v1::Function>> f =
            registry_->GetShared(active.record.function(), active.record.version());
        f.ok()) {
      active.function = *std::move(f);
    }
    if (active.record.state() == v1::PENDING) {
      queued.push_back({id, active.record.function(), active.record.priority(),
                        active.record.has_next_attempt_at()
                            ? FromProtoTime(active.record.next_attempt_at())
                            : absl::InfinitePast()});
      continue;
    }
    // RUNNING: the process that held the lease is gone, so the lease ended
    // with it and the attempt counts as failed.
    const uint32_t attempt = active.record.attempt();
    active.record.clear_lease_expires_at();
    v1::FunctionError* error = active.record.mutable_error();
    error->set_type("LeaseLost");
    error->set_message(
        absl::StrCat("the server stopped during attempt ", attempt, " and its lease ended"));
    Fail(id, active, absl::StrCat("attempt ", attempt, " lost its lease: the server stopped"));
  }
  for (const Queued& q : queued) Enqueue(q.id, q.function, q.priority, q.at);
  // Commits land in submission order: once this empty one has, every
  // recovered state above is durable.
  if (s = committer_->CommitAndWait(WriteBatch()); !s.ok()) return s;
  return absl::OkStatus();
}

void InvocationService::MarkDurable(std::shared_ptr<const v1::Invocation> snapshot) {
  std::optional<Active> ended;  // destroyed outside the lock
  absl::MutexLock lock(&mu_);
  auto it = active_.find(snapshot->id());
  if (it == active_.end()) return;
  // Every stored change adds to the timeline, so a snapshot whose timeline
  // is no longer than the committed one's is older: the callback of an end
  // that a redrive took over (see Requeue).
  const std::shared_ptr<const v1::Invocation>& committed = it->second.committed;
  if (committed != nullptr && snapshot->timeline_size() <= committed->timeline_size()) return;
  if (IsTerminal(snapshot->state())) {
    ended = std::move(it->second);
    active_.erase(it);
  } else {
    it->second.committed = std::move(snapshot);
  }
}

absl::StatusOr<v1::Invocation> InvocationService::Get(const std::string& id) {
  if (!IsWellFormedInvocationId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("id: \"", id, "\" is not an invocation id"));
  }
  // The store is read, not the active invocation's last committed
  // snapshot: a state is in the store (where List finds it) before the
  // commit's callback makes it the snapshot, so the snapshot could show a
  // state older than List just did.
  absl::StatusOr<v1::Invocation> inv = store_->GetInvocation(id);
  if (absl::IsNotFound(inv.status())) {
    return absl::NotFoundError(absl::StrCat("invocation \"", id, "\" not found"));
  }
  if (!inv.ok()) return inv;
  absl::MutexLock lock(&mu_);
  if (auto it = active_.find(id); it != active_.end()) {
    // Progress is shown as reported, without waiting for a commit.
    const v1::Invocation& live = it->second.record;
    if (live.has_progress() && live.attempt() == inv->attempt() && live.state() == inv->state()) {
      *inv->mutable_progress() = live.progress();
    }
  }
  return inv;
}

absl::StatusOr<std::vector<v1::Invocation>> InvocationService::List(
    const InvocationFilter& filter) {
  if (!filter.function.empty()) {
    if (absl::Status s = ValidateFunctionName(filter.function, "function"); !s.ok()) return s;
  }
  InvocationFilter without_payloads = filter;
  without_payloads.with_payloads = false;
  absl::StatusOr<std::vector<v1::Invocation>> list = store_->ListInvocations(without_payloads);
  if (!list.ok()) return list.status();
  for (v1::Invocation& inv : *list) inv.clear_output();
  return list;
}

absl::StatusOr<v1::Invocation> InvocationService::Cancel(const std::string& id) {
  if (!IsWellFormedInvocationId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("id: \"", id, "\" is not an invocation id"));
  }
  absl::Notification durable;
  absl::Status commit_status;
  v1::Invocation snapshot;
  v1::InvocationState finished_as = v1::INVOCATION_STATE_UNSPECIFIED;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it != active_.end() && IsTerminal(it->second.record.state())) {
      finished_as = it->second.record.state();  // its commit is under way
    } else if (it != active_.end()) {
      Active& active = it->second;
      if (active.cancel) active.cancel->Cancel();
      Transition(
          id, active, v1::CANCELLED, "cancelled by request",
          [&durable, &commit_status](absl::Status s) {
            commit_status = s;
            durable.Notify();
          },
          WriteBatch(), /*sync=*/true);
      snapshot = *active.whole;
    }
  }
  if (snapshot.id().empty()) {
    if (finished_as == v1::INVOCATION_STATE_UNSPECIFIED) {
      absl::StatusOr<v1::Invocation> inv = Get(id);
      if (!inv.ok()) return inv.status();
      finished_as = inv->state();
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "invocation \"", id, "\" already finished as ", v1::InvocationState_Name(finished_as)));
  }
  durable.WaitForNotification();
  if (!commit_status.ok()) return commit_status;
  return snapshot;
}

absl::StatusOr<std::vector<std::string>> InvocationService::Redrive(
    const v1::RedriveRequest& request) {
  std::vector<v1::Invocation> records;
  if (!request.id().empty()) {
    if (!request.function().empty() || !request.error_type().empty() ||
        request.has_created_after() || request.has_created_before() || request.limit() != 0) {
      return absl::InvalidArgumentError("id: give either an id or a filter, not both");
    }
    absl::StatusOr<v1::Invocation> inv = Get(request.id());
    if (!inv.ok()) return inv.status();
    if (!inv->dead_lettered() || inv->state() != v1::FAILED) {
      return absl::FailedPreconditionError(
          absl::StrCat("invocation \"", request.id(), "\" is not dead-lettered (it is ",
                       v1::InvocationState_Name(inv->state()), ")"));
    }
    records.push_back(*std::move(inv));
  } else {
    if (absl::Status s = ValidateFunctionName(request.function(), "function"); !s.ok()) return s;
    if (request.limit() > kMaxRedrive) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit: ", request.limit(), " is over the limit of ", kMaxRedrive));
    }
    const size_t limit = request.limit() == 0 ? kMaxRedrive : request.limit();
    const absl::Time after =
        request.has_created_after() ? FromProtoTime(request.created_after()) : absl::InfinitePast();
    const absl::Time before = request.has_created_before() ? FromProtoTime(request.created_before())
                                                           : absl::InfiniteFuture();
    // Newest first from the store; the matches are kept oldest first.
    InvocationFilter filter;
    filter.function = request.function();
    filter.state = v1::FAILED;
    filter.dead_lettered = true;
    filter.limit = 1000;
    std::vector<v1::Invocation> matches;
    while (true) {
      absl::StatusOr<std::vector<v1::Invocation>> page = store_->ListInvocations(filter);
      if (!page.ok()) return page.status();
      for (v1::Invocation& inv : *page) {
        const absl::Time created = FromProtoTime(inv.created_at());
        if (created < after || created >= before) continue;
        if (!request.error_type().empty() && inv.error().type() != request.error_type()) continue;
        matches.push_back(std::move(inv));
      }
      if (page->size() < filter.limit) break;
      filter.before_id = page->back().id();
    }
    std::reverse(matches.begin(), matches.end());
    if (matches.size() > limit) matches.resize(limit);
    records = std::move(matches);
  }
  return Requeue(std::move(records));
}

absl::StatusOr<std::vector<std::string>> InvocationService::Requeue(
    std::vector<v1::Invocation> records) {
  const absl::Time now = clock_->Now();
  std::vector<std::shared_ptr<const v1::Invocation>> queued;
  absl::Notification durable;
  absl::Status commit_status;
  std::vector<Active> taken_over;  // destroyed outside the lock
  {
    absl::MutexLock lock(&mu_);
    WriteBatch batch;
    for (v1::Invocation& inv : records) {
      if (auto it = active_.find(inv.id()); it != active_.end()) {
        // One that is already back in flight (a concurrent redrive) is
        // left to that redrive. One whose stored end is `inv` but whose
        // commit callback has not let go of it yet is taken over: that
        // callback's MarkDurable then finds a newer committed snapshot and
        // leaves the entry alone.
        const v1::Invocation& live = it->second.record;
        if (live.state() != inv.state() || live.timeline_size() != inv.timeline_size()) continue;
        taken_over.push_back(std::move(it->second));
        it->second = Active{};
        it->second.committed = std::make_shared<const v1::Invocation>(inv);  // as stored
      }
      const uint32_t attempts = inv.attempt();
      inv.set_state(v1::PENDING);
      inv.set_attempt(0);
      inv.set_dead_lettered(false);
      inv.clear_next_attempt_at();
      inv.clear_lease_expires_at();
      inv.clear_progress();
      *inv.mutable_updated_at() = ToProtoTime(now);
      *inv.mutable_queued_at() = ToProtoTime(now);
      AppendChange(inv, v1::PENDING, now,
                   absl::StrCat("redriven after ", attempts,
                                " attempts; queued again with a fresh attempt budget"));
      const std::string id = inv.id();
      queued.push_back(Hold(active_[id], std::move(inv)));
      batch.PutInvocation(queued.back());
    }
    if (queued.empty()) {
      if (records.size() == 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("invocation \"", records[0].id(), "\" is already queued again"));
      }
      return std::vector<std::string>();
    }
    committer_->Submit(std::move(batch), [&durable, &commit_status](absl::Status s) {
      commit_status = s;
      durable.Notify();
    });
  }
  durable.WaitForNotification();
  if (!commit_status.ok()) {
    absl::MutexLock lock(&mu_);
    for (const auto& inv : queued) active_.erase(inv->id());
    return commit_status;
  }
  std::vector<std::string> ids;
  ids.reserve(queued.size());
  for (const std::shared_ptr<const v1::Invocation>& inv : queued) {
    MarkDurable(inv);
    watchers_->Publish(*inv);
    Enqueue(inv->id(), inv->function(), inv->priority());
    ids.push_back(inv->id());
  }
  return ids;
}

bool InvocationService::Drain(absl::Time deadline) {
  dispatcher_->Close();
  return dispatcher_->AwaitIdle(deadline);
}

void InvocationService::Shutdown() {
  dispatcher_->Shutdown();
  std::vector<uint64_t> timers;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    timers.assign(retry_timers_.begin(), retry_timers_.end());
  }
  for (uint64_t handle : timers) {
    if (timers_->Cancel(handle)) {
      absl::MutexLock lock(&mu_);
      retry_timers_.erase(handle);
    }
  }
  {
    // A callback that had started when it was cancelled removes its own
    // handle, then sees stopped_ or finishes its Enqueue.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](InvocationService* s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return s->retry_timers_.empty() && s->retry_callbacks_running_ == 0;
        },
        this));
  }
  // Commits land and run their callbacks in order: once this one has, no
  // callback of ours is left.
  (void)committer_->CommitAndWait(WriteBatch());
}

}  // namespace sluice
