#include "gateway/invocations_service.h"

#include <atomic>
#include <deque>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/status.h"
#include "gateway/trace_propagation.h"
#include "google/protobuf/util/time_util.h"

namespace sluice {
namespace {

constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

// TakeArgs moves a call's arguments out of its request, the payload (the
// bulk of a call) without a copy. Sound because gRPC deserializes the
// request into an object of its own that is not const (grpcpp's
// DefaultMessageHolder; these services set no message allocator) and reads
// it no more; the handler must not read the payload afterwards either.
InvokeArgs TakeArgs(const v1::InvokeRequest& given) {
  auto& request = const_cast<v1::InvokeRequest&>(given);
  InvokeArgs args;
  args.function = request.function();
  args.version = request.version();
  args.payload = std::move(*request.mutable_payload());
  for (const auto& [key, value] : request.metadata()) args.metadata.emplace_back(key, value);
  args.priority =
      request.priority() == v1::PRIORITY_UNSPECIFIED ? v1::PRIORITY_NORMAL : request.priority();
  args.idempotency_key = request.idempotency_key();
  if (request.has_retry()) args.retry = request.retry();
  return args;
}

bool IsTerminal(v1::InvocationState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

// InvokeReactor answers a synchronous invocation, and cancels it when the
// client goes away. It frees itself after both its constructor and OnDone
// have run, whichever is last, since the answer may come before the
// constructor returns.
class InvokeReactor final : public grpc::ServerUnaryReactor {
 public:
  InvokeReactor(grpc::CallbackServerContext* context, const v1::InvokeRequest& request,
                v1::InvokeResponse* response, InvocationService* invocations, const Tracer* tracer,
                ReplyBatcher* replies)
      : context_(context),
        response_(response),
        replies_(replies),
        span_(StartServerSpan(tracer, *context, "sluice.v1.Invocations/Invoke")) {
    const absl::Time deadline = context->deadline() == std::chrono::system_clock::time_point::max()
                                    ? absl::InfiniteFuture()
                                    : absl::FromChrono(context->deadline());
    InvokeArgs args = TakeArgs(request);
    args.trace = span_.context();
    std::shared_ptr<SyncCall> call;
    {
      ReplyBatcher::HandlerScope scope;  // an answer made inline is sent inline
      call = invocations->InvokeSync(
          std::move(args), deadline,
          [this](absl::StatusOr<SyncResult> result) { Answer(std::move(result)); });
    }
    {
      absl::MutexLock lock(&mu_);
      call_ = std::move(call);
    }
    Unref();
  }

  void OnCancel() override {
    std::shared_ptr<SyncCall> call;
    {
      absl::MutexLock lock(&mu_);
      call = call_;
    }
    if (call) call->Cancel();
  }

  void OnDone() override { Unref(); }

  // OnCancel only sets a flag and answers, and OnDone only drops a
  // reference: neither blocks, so gRPC may run them on the thread that
  // completes the call instead of handing them to its executor thread (a
  // wake-up and a cross-thread free per call). The hook is gRPC's own
  // (grpcpp/support/server_callback.h), meant for reactors as trivial as this.
  bool InternalInlineable() override { return true; }

 private:
  void Answer(absl::StatusOr<SyncResult> result) {
    if (!result.ok()) {
      Reply(ToGrpcStatus(result.status()));
      return;
    }
    span_.SetAttribute("faas.invocation_id", result->invocation_id);
    response_->set_invocation_id(result->invocation_id);
    response_->set_version(result->version);
    *response_->mutable_duration() = google::protobuf::util::TimeUtil::NanosecondsToDuration(
        absl::ToInt64Nanoseconds(result->duration));
    if (!result->result.ok) {
      Reply(FunctionErrorStatus(result->result, *context_));
      return;
    }
    response_->set_output(std::move(result->result.output));
    Reply(grpc::Status::OK);
  }

  // Reply ends the server span and answers; called once (by Answer).
  void Reply(const grpc::Status& status) {
    EndServerSpan(span_, status);
    replies_->Reply([this, status] { Finish(status); });
  }

  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  grpc::CallbackServerContext* const context_;
  v1::InvokeResponse* const response_;
  ReplyBatcher* const replies_;
  std::atomic<int> refs_{2};  // the constructor and OnDone
  Span span_;                 // used by the constructor, then by Answer only
  absl::Mutex mu_;
  std::shared_ptr<SyncCall> call_ ABSL_GUARDED_BY(mu_);
};

// Revision orders the snapshots of one invocation: a state change lengthens
// the timeline, a progress report renews the progress time.
std::pair<int, int64_t> Revision(const v1::Invocation& inv) {
  return {inv.timeline_size(),
          google::protobuf::util::TimeUtil::TimestampToNanoseconds(inv.progress().time())};
}

// WatchReactor streams an invocation: its state now, then every change and
// progress report, and finishes after a terminal state. Updates are sent in
// order, each once: one whose Revision is not past the last sent is skipped.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Invocation> {
 public:
  WatchReactor(const std::string& id, InvocationService* invocations, WatchHub* watchers,
               WorkPool* pool)
      : id_(id), watchers_(watchers) {
    subscription_ = watchers_->Subscribe(id_, [this](const v1::Invocation& inv) { Push(inv); });
    // The first read may outlive an early OnDone (a client that cancels at
    // once), so it holds a reference of its own.
    refs_.fetch_add(1);
    absl::Status scheduled = pool->Schedule([this, invocations] {
      absl::StatusOr<v1::Invocation> now = invocations->Get(id_);
      if (now.ok()) {
        Push(*now);
      } else {
        FinishOnce(ToGrpcStatus(now.status()));
      }
      Unref();
    });
    if (!scheduled.ok()) {
      FinishOnce(ToGrpcStatus(scheduled));
      Unref();
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override { FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    watchers_->Unsubscribe(id_, subscription_);
    Unref();
  }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void Push(const v1::Invocation& inv) {
    absl::MutexLock lock(&mu_);
    pending_.push_back(inv);
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    while (!pending_.empty()) {
      v1::Invocation next = std::move(pending_.front());
      pending_.pop_front();
      if (Revision(next) <= sent_revision_) continue;
      sent_revision_ = Revision(next);
      sent_terminal_ = IsTerminal(next.state());
      current_ = std::move(next);
      writing_ = true;
      StartWrite(&current_);
      return;
    }
    if (sent_terminal_) FinishLocked(grpc::Status::OK);
  }

  void FinishOnce(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  const std::string id_;
  WatchHub* const watchers_;
  uint64_t subscription_ = 0;
  std::atomic<int> refs_{1};  // OnDone's, plus the first read's while it runs
  absl::Mutex mu_;
  std::deque<v1::Invocation> pending_ ABSL_GUARDED_BY(mu_);
  v1::Invocation current_ ABSL_GUARDED_BY(mu_);
  std::pair<int, int64_t> sent_revision_ ABSL_GUARDED_BY(mu_) = {0, 0};
  bool sent_terminal_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* InvocationsService::Invoke(grpc::CallbackServerContext* context,
                                                     const v1::InvokeRequest* request,
                                                     v1::InvokeResponse* response) {
  return new InvokeReactor(context, *request, response, invocations_, tracer_, &replies_);
}

grpc::ServerUnaryReactor* InvocationsService::InvokeAsync(grpc::CallbackServerContext* context,
                                                          const v1::InvokeRequest* request,
                                                          v1::InvokeAsyncResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto span = std::make_shared<Span>(
      StartServerSpan(tracer_, *context, "sluice.v1.Invocations/InvokeAsync"));
  auto invoke = [this, reactor, request, response, span] {
    InvokeArgs args = TakeArgs(*request);
    args.trace = span->context();
    invocations_->InvokeAsync(
        std::move(args), [this, reactor, response, span](absl::StatusOr<AsyncAccepted> accepted) {
          if (accepted.ok()) {
            response->set_invocation_id(accepted->invocation_id);
            response->set_deduplicated(accepted->deduplicated);
            span->SetAttribute("faas.invocation_id", accepted->invocation_id);
          }
          const grpc::Status status = ToGrpcStatus(accepted.status());
          EndServerSpan(*span, status);
          replies_.Reply([reactor, status] { reactor->Finish(status); });
        });
  };
  if (request->idempotency_key().empty()) {
    ReplyBatcher::HandlerScope scope;
    invoke();  // never blocks
    return reactor;
  }
  // Looking up the key may block on the store.
  if (absl::Status s = pool_->Schedule(std::move(invoke)); !s.ok()) {
    const grpc::Status status = ToGrpcStatus(s);
    EndServerSpan(*span, status);
    reactor->Finish(status);
  }
  return reactor;
}

grpc::ServerUnaryReactor* InvocationsService::Get(grpc::CallbackServerContext* context,
                                                  const v1::GetInvocationRequest* request,
                                                  v1::Invocation* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<v1::Invocation> inv = invocations_->Get(request->id());
    if (inv.ok()) *response = *std::move(inv);
    return inv.status();
  });
  return reactor;
}

grpc::ServerUnaryReactor* InvocationsService::List(grpc::CallbackServerContext* context,
                                                   const v1::ListInvocationsRequest* request,
                                                   v1::ListInvocationsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  InvocationFilter filter;
  filter.function = request->function();
  filter.state = request->state();
  filter.before_id = request->page_token();
  filter.dead_lettered = request->dead_lettered();
  const uint32_t page = request->page_size() == 0 ? kDefaultPageSize : request->page_size();
  if (page > kMaxPageSize) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("page_size: ", page, " is over the limit of ", kMaxPageSize)));
    return reactor;
  }
  // One more than asked tells whether there is a next page.
  filter.limit = page + 1;
  FinishOnPool(*pool_, reactor, [this, response, filter, page] {
    absl::StatusOr<std::vector<v1::Invocation>> list = invocations_->List(filter);
    if (list.ok()) {
      const bool more = list->size() > page;
      if (more) list->resize(page);
      for (v1::Invocation& inv : *list) *response->add_invocations() = std::move(inv);
      if (more) response->set_next_page_token(response->invocations(page - 1).id());
    }
    return list.status();
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::Invocation>* InvocationsService::Watch(
    grpc::CallbackServerContext*, const v1::WatchInvocationRequest* request) {
  return new WatchReactor(request->id(), invocations_, watchers_, pool_);
}

grpc::ServerUnaryReactor* InvocationsService::Cancel(grpc::CallbackServerContext* context,
                                                     const v1::CancelInvocationRequest* request,
                                                     v1::Invocation* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<v1::Invocation> inv = invocations_->Cancel(request->id());
    if (inv.ok()) *response = *std::move(inv);
    return inv.status();
  });
  return reactor;
}

grpc::ServerUnaryReactor* InvocationsService::Redrive(grpc::CallbackServerContext* context,
                                                      const v1::RedriveRequest* request,
                                                      v1::RedriveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<std::vector<std::string>> ids = invocations_->Redrive(*request);
    if (ids.ok()) {
      for (std::string& id : *ids) response->add_invocation_ids(std::move(id));
    }
    return ids.status();
  });
  return reactor;
}

}  // namespace sluice
