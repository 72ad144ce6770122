#include "gateway/functions_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/status.h"
#include "runtime/function_spec.h"

namespace sluice {
namespace {

// DeployReactor receives a spec, then artifact chunks, and deploys once the
// client half-closes. A stream that is cancelled or ends short deploys
// nothing.
class DeployReactor final : public grpc::ServerReadReactor<v1::DeployRequest> {
 public:
  DeployReactor(grpc::CallbackServerContext* context, v1::DeployResponse* response,
                FunctionRegistry* registry, WorkPool* pool, size_t max_artifact_bytes)
      : context_(context),
        response_(response),
        registry_(registry),
        pool_(pool),
        max_artifact_bytes_(max_artifact_bytes) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndOfStream();
      return;
    }
    if (!have_spec_) {
      if (!request_.has_spec()) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "spec: the first message of a deploy must carry the spec"));
        return;
      }
      spec_ = std::move(*request_.mutable_spec());
      have_spec_ = true;
      if (spec_.artifact_size() > max_artifact_bytes_) {
        Finish(TooLarge(spec_.artifact_size()));
        return;
      }
    } else if (request_.has_spec()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec: sent more than once"));
      return;
    } else {
      if (artifact_.size() + request_.chunk().size() > max_artifact_bytes_) {
        Finish(TooLarge(artifact_.size() + request_.chunk().size()));
        return;
      }
      artifact_.append(request_.chunk());
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  grpc::Status TooLarge(uint64_t size) const {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("artifact: ", size, " bytes is over the limit of ",
                                     max_artifact_bytes_, " bytes"));
  }

  void EndOfStream() {
    if (context_->IsCancelled()) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the upload was cancelled"));
      return;
    }
    if (!have_spec_) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec: the deploy stream was empty"));
      return;
    }
    if (spec_.artifact_size() != 0 && spec_.artifact_size() != artifact_.size()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("artifact: received ", artifact_.size(), " of ",
                                       spec_.artifact_size(), " bytes; the upload is incomplete")));
      return;
    }
    absl::Status scheduled = pool_->Schedule([this] {
      absl::StatusOr<v1::Function> f =
          registry_->Deploy(std::move(*spec_.mutable_spec()), artifact_, spec_.sha256());
      if (f.ok()) *response_->mutable_function() = *std::move(f);
      Finish(ToGrpcStatus(f.status()));
    });
    if (!scheduled.ok()) Finish(ToGrpcStatus(scheduled));
  }

  grpc::CallbackServerContext* const context_;
  v1::DeployResponse* const response_;
  FunctionRegistry* const registry_;
  WorkPool* const pool_;
  const size_t max_artifact_bytes_;
  v1::DeployRequest request_;
  v1::DeploySpec spec_;
  bool have_spec_ = false;
  std::string artifact_;
};

}  // namespace

grpc::ServerReadReactor<v1::DeployRequest>* FunctionsService::Deploy(
    grpc::CallbackServerContext* context, v1::DeployResponse* response) {
  return new DeployReactor(context, response, registry_, pool_, max_artifact_bytes_);
}

grpc::ServerUnaryReactor* FunctionsService::Get(grpc::CallbackServerContext* context,
                                                const v1::GetFunctionRequest* request,
                                                v1::Function* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateFunctionName(request->name()); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<v1::Function> f = registry_->Get(request->name(), request->version());
    if (f.ok()) *response = *std::move(f);
    return f.status();
  });
  return reactor;
}

grpc::ServerUnaryReactor* FunctionsService::List(grpc::CallbackServerContext* context,
                                                 const v1::ListFunctionsRequest*,
                                                 v1::ListFunctionsResponse* response) {
  for (v1::Function& f : registry_->List()) *response->add_functions() = std::move(f);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* FunctionsService::Delete(grpc::CallbackServerContext* context,
                                                   const v1::DeleteFunctionRequest* request,
                                                   v1::DeleteFunctionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateFunctionName(request->name()); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  if (triggers_ != nullptr) {
    for (const v1::Trigger& trigger : triggers_->List()) {
      if (trigger.function() != request->name()) continue;
      reactor->Finish(ToGrpcStatus(absl::FailedPreconditionError(
          absl::StrCat("function ", request->name(), " is invoked by trigger ", trigger.name(),
                       "; delete the trigger first (sluice triggers rm ", trigger.name(), ")"))));
      return reactor;
    }
  }
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<uint64_t> n = registry_->Delete(request->name());
    if (n.ok()) response->set_versions_deleted(*n);
    return n.status();
  });
  return reactor;
}

}  // namespace sluice
