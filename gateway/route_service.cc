#include "gateway/route_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/invoke_status.h"
#include "gateway/status.h"
#include "gateway/trace_propagation.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"

namespace sluice {
namespace {

absl::string_view ViewOf(const grpc::string_ref& s) {
  return absl::string_view(s.data(), s.size());
}

// MethodName returns "package.Service/Method" of a method path.
std::string_view MethodName(const std::string& path) {
  absl::string_view name = absl::StripPrefix(path, "/");
  return std::string_view(name.data(), name.size());
}

// Passed is whether client metadata `key` becomes invocation metadata.
bool Passed(absl::string_view key) {
  return !absl::StartsWith(key, "grpc-") && !absl::StartsWith(key, ":") &&
         !absl::EndsWith(key, "-bin") && key != "traceparent" && key != "tracestate" &&
         key != kAsyncKey && key != kIdempotencyKey;
}

// BytesOf returns the bytes of a received message.
std::string BytesOf(const grpc::ByteBuffer& buffer) {
  std::string bytes;
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// BufferOf makes a message of `bytes` without copying them.
grpc::ByteBuffer BufferOf(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

// RouteReactor serves one routed call: it reads the request message, waits
// for the half-close, then invokes the function and answers.
//
// It finishes exactly once: in the constructor (no route, bad control
// metadata), in OnReadDone (no message, a second message, cancelled), or in
// the engine's answer (sent through the ReplyBatcher when it comes off
// gRPC's threads), and these exclude each other. It frees itself in
// OnDone. The engine is called from OnReadDone (or, with an idempotency key,
// from the pool, touching nothing of the reactor after the call), and gRPC
// calls OnDone only after every reaction has returned, so an answer that
// comes before InvokeSync returns cannot free the reactor under it.
class RouteReactor final : public grpc::ServerGenericBidiReactor {
 public:
  RouteReactor(grpc::GenericCallbackServerContext* context, InvocationService* invocations,
               const RouteTable& routes, WorkPool* pool, const Tracer* tracer,
               ReplyBatcher* replies)
      : context_(context),
        invocations_(invocations),
        pool_(pool),
        replies_(replies),
        function_(routes.FunctionFor(context->method())),
        span_(StartServerSpan(tracer, *context, MethodName(context->method()))) {
    if (function_.empty()) {
      Reply(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                         absl::StrCat("method ", context->method(), " is not implemented")));
      return;
    }
    if (absl::Status control = ReadControl(); !control.ok()) {
      Reply(ToGrpcStatus(control));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!have_request_) {
      if (!ok) {
        Reply(context_->IsCancelled()
                  ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")
                  : grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat(context_->method(),
                                              ": expected one request message, got none")));
        return;
      }
      have_request_ = true;
      StartRead(&extra_);  // ends with the client's half-close
      return;
    }
    if (ok) {
      Reply(grpc::Status(
          grpc::StatusCode::UNIMPLEMENTED,
          absl::StrCat(context_->method(), ": streaming requests are not supported by routes")));
      return;
    }
    Invoke();
  }

  void OnCancel() override {
    std::shared_ptr<SyncCall> call;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      call = call_;
    }
    if (call) call->Cancel();
  }

  void OnDone() override { delete this; }

 private:
  // ReadControl reads the control metadata (kAsyncKey, kIdempotencyKey).
  absl::Status ReadControl() {
    const auto& metadata = context_->client_metadata();
    if (auto it = metadata.find(kAsyncKey); it != metadata.end()) {
      const absl::string_view value = ViewOf(it->second);
      if (value == "true" || value == "1") {
        async_ = true;
      } else if (value != "false" && value != "0") {
        return absl::InvalidArgumentError(
            absl::StrCat(kAsyncKey, ": \"", value, "\" is not one of true, 1, false, 0"));
      }
    }
    if (auto it = metadata.find(kIdempotencyKey); it != metadata.end()) {
      idempotency_key_ = std::string(ViewOf(it->second));
      if (!idempotency_key_.empty() && !async_) {
        return absl::InvalidArgumentError(absl::StrCat(kIdempotencyKey, ": only background calls (",
                                                       kAsyncKey, ": true) take it"));
      }
    }
    return absl::OkStatus();
  }

  // Invoke runs the function once the request is complete.
  void Invoke() {
    if (context_->IsCancelled()) {
      Reply(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    const absl::Time deadline = context_->deadline() == std::chrono::system_clock::time_point::max()
                                    ? absl::InfiniteFuture()
                                    : absl::FromChrono(context_->deadline());
    if (deadline <= absl::Now()) {
      Reply(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                         "the caller's deadline passed before the function started"));
      return;
    }
    InvokeArgs args;
    args.function = function_;
    args.payload = BytesOf(request_);
    for (const auto& [key, value] : context_->client_metadata()) {
      if (Passed(ViewOf(key))) args.metadata.emplace_back(ViewOf(key), ViewOf(value));
    }
    args.trace = span_.context();
    if (async_) {
      InvokeAsync(std::move(args));
    } else {
      InvokeSync(std::move(args), deadline);
    }
  }

  void InvokeSync(InvokeArgs args, absl::Time deadline) {
    std::shared_ptr<SyncCall> call;
    {
      ReplyBatcher::HandlerScope scope;  // an answer made inline is sent inline
      call = invocations_->InvokeSync(
          std::move(args), deadline,
          [this](absl::StatusOr<SyncResult> result) { AnswerSync(std::move(result)); });
    }
    bool cancelled;
    {
      absl::MutexLock lock(&mu_);
      call_ = call;
      cancelled = cancelled_;
    }
    // OnCancel ran before call_ was set.
    if (cancelled) call->Cancel();
  }

  void InvokeAsync(InvokeArgs args) {
    args.idempotency_key = idempotency_key_;
    auto invoke = [this, args = std::move(args)]() mutable {
      invocations_->InvokeAsync(std::move(args), [this](absl::StatusOr<AsyncAccepted> accepted) {
        AnswerAsync(std::move(accepted));
      });
    };
    if (idempotency_key_.empty()) {
      ReplyBatcher::HandlerScope scope;
      invoke();  // never blocks
      return;
    }
    // Looking the key up may block on the store.
    if (absl::Status scheduled = pool_->Schedule(std::move(invoke)); !scheduled.ok()) {
      Reply(ToGrpcStatus(scheduled));
    }
  }

  void AnswerSync(absl::StatusOr<SyncResult> result) {
    if (!result.ok()) {
      AnswerWith(ToGrpcStatus(result.status()));
      return;
    }
    span_.SetAttribute("faas.invocation_id", result->invocation_id);
    context_->AddInitialMetadata(kInvocationIdKey, result->invocation_id);
    if (!result->result.ok) {
      AnswerWith(FunctionErrorStatus(result->result, *context_));
      return;
    }
    response_ = BufferOf(std::move(result->result.output));
    AnswerWithResponse();
  }

  void AnswerAsync(absl::StatusOr<AsyncAccepted> accepted) {
    if (!accepted.ok()) {
      AnswerWith(ToGrpcStatus(accepted.status()));
      return;
    }
    span_.SetAttribute("faas.invocation_id", accepted->invocation_id);
    context_->AddInitialMetadata(kInvocationIdKey, accepted->invocation_id);
    if (accepted->deduplicated) context_->AddInitialMetadata(kDeduplicatedKey, "true");
    response_ = BufferOf("");
    AnswerWithResponse();
  }

  // AnswerWith and AnswerWithResponse are Reply and ReplyWithResponse for
  // the engine's answer, which may come on a thread that is not gRPC's.
  void AnswerWith(const grpc::Status& status) {
    replies_->Reply([this, status] { Reply(status); });
  }
  void AnswerWithResponse() {
    replies_->Reply([this] { ReplyWithResponse(); });
  }

  // Reply ends the server span and finishes the call with `status`.
  void Reply(const grpc::Status& status) {
    EndServerSpan(span_, status);
    Finish(status);
  }

  // ReplyWithResponse ends the server span and sends response_, then OK.
  void ReplyWithResponse() {
    EndServerSpan(span_, grpc::Status::OK);
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }

  grpc::GenericCallbackServerContext* const context_;
  InvocationService* const invocations_;
  WorkPool* const pool_;
  ReplyBatcher* const replies_;
  const std::string function_;  // "" when no route names the method
  // Set by the constructor.
  bool async_ = false;
  std::string idempotency_key_;
  // Used by the reads, then by the answer.
  Span span_;
  bool have_request_ = false;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer extra_;
  grpc::ByteBuffer response_;

  absl::Mutex mu_;
  std::shared_ptr<SyncCall> call_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerGenericBidiReactor* RouteService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  return new RouteReactor(context, invocations_, *routes_, pool_, tracer_, &replies_);
}

}  // namespace sluice
