#include "runtime/invocation_service.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/function_spec.h"
#include "runtime/ids.h"

namespace sluice {
namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

bool IsTerminal(v1::InvocationState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

std::string OutcomeLabel(const ExecutionResult& result, bool timed_out) {
  if (timed_out) return "timeout";
  return result.ok ? "success" : "error";
}

}  // namespace

// SyncState is one synchronous call from admission to its answer.
struct InvocationService::SyncState final : public SyncCall {
  InvokeArgs args;
  v1::Function function;
  std::string id;
  absl::Time caller_deadline;
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
      clock_(clock) {}

absl::StatusOr<v1::Function> InvocationService::Admit(const InvokeArgs& args, QueueLimits& limits) {
  if (absl::Status s = ValidateFunctionName(args.function, "function"); !s.ok()) return s;
  if (args.payload.size() > options_.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("payload: ", args.payload.size(),
                                                   " bytes is over the limit of ",
                                                   options_.max_payload_bytes, " bytes"));
  }
  absl::StatusOr<v1::Function> function = registry_->Get(args.function, args.version);
  if (!function.ok()) return function.status();
  limits.concurrency = function->spec().concurrency();
  limits.max_queue = function->spec().max_queue();
  return function;
}

std::shared_ptr<SyncCall> InvocationService::InvokeSync(
    InvokeArgs args, absl::Time caller_deadline,
    absl::AnyInvocable<void(absl::StatusOr<SyncResult>)> done) {
  auto state = std::make_shared<SyncState>();
  state->done = std::move(done);
  QueueLimits limits;
  absl::StatusOr<v1::Function> function = Admit(args, limits);
  if (!function.ok()) {
    state->Answer(function.status());
    return state;
  }
  state->id = NewInvocationId(clock_->Now());
  state->function = *std::move(function);
  state->caller_deadline = caller_deadline;
  state->args = std::move(args);
  const std::string name = state->args.function;
  absl::Status submitted = dispatcher_->Submit(
      name, limits,
      Task{[this, state] { RunSync(state); },
           [state] { state->Answer(absl::UnavailableError("the server is shutting down")); }});
  if (!submitted.ok()) state->Answer(submitted);
  return state;
}

void InvocationService::RunSync(const std::shared_ptr<SyncState>& state) {
  const std::string& name = state->function.spec().name();
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
  const absl::Time timeout_at = now + TimeoutOf(state->function.spec());
  ExecutionRequest request;
  request.invocation_id = state->id;
  request.function_name = name;
  request.function_version = state->function.version();
  request.attempt = 1;
  request.deadline = std::min(timeout_at, state->caller_deadline);
  request.payload = std::move(state->args.payload);
  request.metadata = std::move(state->args.metadata);
  request.cancel = state->cancel;
  const bool caller_first = state->caller_deadline < timeout_at;
  std::string timeout_message =
      caller_first ? "the caller's deadline passed while the function ran"
                   : absl::StrCat("function \"", name, "\" timed out after ",
                                  absl::FormatDuration(TimeoutOf(state->function.spec())));
  AttemptOutcome outcome = RunAttempt(state->function, request, state->cancel,
                                      [state, message = std::move(timeout_message)] {
                                        state->Answer(absl::DeadlineExceededError(message));
                                      });
  probe_->OnFinished(name, OutcomeLabel(outcome.result, outcome.timed_out), outcome.duration);
  state->Answer(SyncResult{state->id, state->function.version(), std::move(outcome.result),
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
    outcome.result = ExecutionResult::Error("Timeout", "the attempt ran past its deadline");
  }
  return outcome;
}

void InvocationService::InvokeAsync(InvokeArgs args,
                                    absl::AnyInvocable<void(absl::StatusOr<std::string>)> done) {
  QueueLimits limits;
  absl::StatusOr<v1::Function> function = Admit(args, limits);
  if (!function.ok()) {
    done(function.status());
    return;
  }
  if (absl::Status s = dispatcher_->Reserve(args.function, limits); !s.ok()) {
    done(s);
    return;
  }
  const absl::Time now = clock_->Now();
  v1::Invocation record;
  record.set_id(NewInvocationId(now));
  record.set_function(args.function);
  record.set_version(args.version);
  record.set_state(v1::PENDING);
  record.set_payload(std::move(args.payload));
  for (auto& [key, value] : args.metadata) (*record.mutable_metadata())[key] = std::move(value);
  *record.mutable_created_at() = ToProto(now);
  *record.mutable_updated_at() = ToProto(now);
  v1::StateChange* change = record.add_timeline();
  change->set_state(v1::PENDING);
  *change->mutable_time() = ToProto(now);
  change->set_reason("queued");

  const std::string id = record.id();
  const std::string name = record.function();
  WriteBatch batch;
  batch.PutInvocation(record);
  {
    absl::MutexLock lock(&mu_);
    active_[id].record = record;
  }
  committer_->Submit(std::move(batch), [this, id, name, record = std::move(record),
                                        done = std::move(done)](absl::Status s) mutable {
    if (!s.ok()) {
      dispatcher_->Unreserve(name);
      {
        absl::MutexLock lock(&mu_);
        active_.erase(id);
      }
      done(absl::UnavailableError(absl::StrCat("could not record the invocation: ", s.message())));
      return;
    }
    watchers_->Publish(record);
    dispatcher_->SubmitReserved(name, Task{[this, id, name] { RunAsync(id, name); }, nullptr});
    done(id);
  });
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
  absl::StatusOr<v1::Function> function = registry_->Get(name, version);

  ExecutionRequest request;
  auto cancel = std::make_shared<CancelFlag>();
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it == active_.end() || it->second.record.state() != v1::PENDING) {
      probe_->OnFinished(name, "cancelled", absl::ZeroDuration());
      return;
    }
    Active& active = it->second;
    if (!function.ok()) {
      v1::FunctionError* error = active.record.mutable_error();
      error->set_type("FunctionNotFound");
      error->set_message(std::string(function.status().message()));
      Transition(id, active, v1::FAILED, "function not found");
      probe_->OnFinished(name, "error", absl::ZeroDuration());
      return;
    }
    const uint32_t attempt = active.record.attempt() + 1;
    active.record.set_attempt(attempt);
    active.record.set_version(function->version());
    active.cancel = cancel;
    Transition(id, active, v1::RUNNING, absl::StrCat("attempt ", attempt, " started"));
    request.invocation_id = id;
    request.function_name = name;
    request.function_version = function->version();
    request.attempt = attempt;
    request.deadline = clock_->Now() + TimeoutOf(function->spec());
    request.payload = active.record.payload();
    for (const auto& [key, value] : active.record.metadata())
      request.metadata.emplace_back(key, value);
    request.cancel = cancel;
  }
  const uint32_t attempt = request.attempt;
  const std::string timeout_reason = absl::StrCat(
      "attempt ", attempt, " timed out after ", absl::FormatDuration(TimeoutOf(function->spec())));
  AttemptOutcome outcome =
      RunAttempt(*function, request, cancel, [this, id, attempt, timeout_reason] {
        Finish(id, attempt, ExecutionResult::Error("Timeout", timeout_reason), timeout_reason);
      });
  probe_->OnFinished(name, OutcomeLabel(outcome.result, outcome.timed_out), outcome.duration);
  if (!outcome.timed_out) {
    Finish(id, attempt, outcome.result,
           outcome.result.ok
               ? absl::StrCat("attempt ", attempt, " succeeded")
               : absl::StrCat("attempt ", attempt, " failed: ", outcome.result.error_type));
  }
}

void InvocationService::Finish(const std::string& id, uint32_t attempt,
                               const ExecutionResult& result, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  if (it == active_.end()) return;
  Active& active = it->second;
  if (active.record.state() != v1::RUNNING || active.record.attempt() != attempt) return;
  active.cancel.reset();
  if (result.ok) {
    active.record.set_output(result.output);
    Transition(id, active, v1::SUCCEEDED, reason);
  } else {
    v1::FunctionError* error = active.record.mutable_error();
    error->set_type(result.error_type);
    error->set_message(result.error_message);
    Transition(id, active, v1::FAILED, reason);
  }
}

void InvocationService::Transition(const std::string& id, Active& active, v1::InvocationState state,
                                   const std::string& reason,
                                   absl::AnyInvocable<void(absl::Status)> then) {
  const absl::Time now = clock_->Now();
  active.record.set_state(state);
  *active.record.mutable_updated_at() = ToProto(now);
  v1::StateChange* change = active.record.add_timeline();
  change->set_state(state);
  *change->mutable_time() = ToProto(now);
  change->set_reason(reason);
  change->set_attempt(active.record.attempt());
  WriteBatch batch;
  batch.PutInvocation(active.record);
  const bool terminal = IsTerminal(state);
  // Commits are applied and their callbacks run in submission order, so
  // watchers see the states of one invocation in order.
  committer_->Submit(std::move(batch), [this, id, terminal, snapshot = active.record,
                                        then = std::move(then)](absl::Status s) mutable {
    if (s.ok()) watchers_->Publish(snapshot);
    if (terminal) {
      absl::MutexLock lock(&mu_);
      active_.erase(id);
    }
    if (then) then(s);
  });
}

absl::Status InvocationService::Recover() {
  std::vector<v1::Invocation> unfinished;
  absl::Status s = store_->ForEachUnfinished(
      [&unfinished](const v1::Invocation& inv) { unfinished.push_back(inv); });
  if (!s.ok()) return s;
  const absl::Time now = clock_->Now();
  WriteBatch batch;
  for (v1::Invocation& inv : unfinished) {
    if (inv.state() != v1::RUNNING) continue;
    inv.set_state(v1::PENDING);
    *inv.mutable_updated_at() = ToProto(now);
    v1::StateChange* change = inv.add_timeline();
    change->set_state(v1::PENDING);
    *change->mutable_time() = ToProto(now);
    change->set_attempt(inv.attempt());
    change->set_reason(absl::StrCat("the server restarted during attempt ", inv.attempt(),
                                    "; queued to run again"));
    batch.PutInvocation(inv);
  }
  if (!batch.empty()) {
    if (s = committer_->CommitAndWait(std::move(batch)); !s.ok()) return s;
  }
  for (v1::Invocation& inv : unfinished) {
    QueueLimits limits{kDefaultConcurrency, kDefaultMaxQueue};
    if (absl::StatusOr<v1::Function> f = registry_->Get(inv.function(), 0); f.ok()) {
      limits = {f->spec().concurrency(), f->spec().max_queue()};
    }
    const std::string id = inv.id();
    const std::string name = inv.function();
    {
      absl::MutexLock lock(&mu_);
      active_[id].record = std::move(inv);
    }
    dispatcher_->SubmitUnbounded(name, limits,
                                 Task{[this, id, name] { RunAsync(id, name); }, nullptr});
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Invocation> InvocationService::Get(const std::string& id) {
  if (!IsWellFormedInvocationId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("id: \"", id, "\" is not an invocation id"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = active_.find(id); it != active_.end()) return it->second.record;
  }
  absl::StatusOr<v1::Invocation> inv = store_->GetInvocation(id);
  if (absl::IsNotFound(inv.status())) {
    return absl::NotFoundError(absl::StrCat("invocation \"", id, "\" not found"));
  }
  return inv;
}

absl::StatusOr<std::vector<v1::Invocation>> InvocationService::List(
    const InvocationFilter& filter) {
  if (!filter.function.empty()) {
    if (absl::Status s = ValidateFunctionName(filter.function, "function"); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<v1::Invocation>> list = store_->ListInvocations(filter);
  if (!list.ok()) return list.status();
  for (v1::Invocation& inv : *list) {
    inv.clear_payload();
    inv.clear_output();
  }
  return list;
}

absl::StatusOr<v1::Invocation> InvocationService::Cancel(const std::string& id) {
  if (!IsWellFormedInvocationId(id)) {
    return absl::InvalidArgumentError(absl::StrCat("id: \"", id, "\" is not an invocation id"));
  }
  absl::Notification durable;
  absl::Status commit_status;
  v1::Invocation snapshot;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it != active_.end() && !IsTerminal(it->second.record.state())) {
      Active& active = it->second;
      if (active.cancel) active.cancel->Cancel();
      Transition(id, active, v1::CANCELLED, "cancelled by request",
                 [&durable, &commit_status](absl::Status s) {
                   commit_status = s;
                   durable.Notify();
                 });
      snapshot = active.record;
    }
  }
  if (snapshot.id().empty()) {
    absl::StatusOr<v1::Invocation> inv = Get(id);
    if (!inv.ok()) return inv.status();
    return absl::FailedPreconditionError(absl::StrCat(
        "invocation \"", id, "\" already finished as ", v1::InvocationState_Name(inv->state())));
  }
  durable.WaitForNotification();
  if (!commit_status.ok()) return commit_status;
  return snapshot;
}

void InvocationService::Shutdown() { dispatcher_->Shutdown(); }

}  // namespace sluice
