#include "gateway/events_service.h"

#include <memory>
#include <utility>

#include "gateway/status.h"
#include "gateway/trace_propagation.h"

namespace sluice {

grpc::ServerUnaryReactor* EventsService::Publish(grpc::CallbackServerContext* context,
                                                 const v1::PublishRequest* request,
                                                 v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto span =
      std::make_shared<Span>(StartServerSpan(tracer_, *context, "sluice.v1.Events/Publish"));
  const absl::Status scheduled = pool_->Schedule([this, request, response, reactor, span] {
    publisher_->Publish(request->topic(), request->event(), span->context(),
                        [response, reactor, span](absl::StatusOr<v1::PublishResponse> result) {
                          if (result.ok()) *response = *std::move(result);
                          const grpc::Status status = ToGrpcStatus(result.status());
                          EndServerSpan(*span, status);
                          reactor->Finish(status);
                        });
  });
  if (!scheduled.ok()) {
    const grpc::Status status = ToGrpcStatus(scheduled);
    EndServerSpan(*span, status);
    reactor->Finish(status);
  }
  return reactor;
}

grpc::ServerUnaryReactor* EventsService::CreateTrigger(grpc::CallbackServerContext* context,
                                                       const v1::CreateTriggerRequest* request,
                                                       v1::Trigger* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOnPool(*pool_, reactor, [this, request, response] {
    absl::StatusOr<v1::Trigger> trigger = triggers_->Create(request->trigger(), request->replace());
    if (trigger.ok()) {
      *response = *std::move(trigger);
      if (scheduler_ != nullptr) scheduler_->Describe(*response);
    }
    return trigger.status();
  });
  return reactor;
}

grpc::ServerUnaryReactor* EventsService::GetTrigger(grpc::CallbackServerContext* context,
                                                    const v1::GetTriggerRequest* request,
                                                    v1::Trigger* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Trigger> trigger = triggers_->Get(request->name());
  if (trigger.ok()) {
    *response = *std::move(trigger);
    if (scheduler_ != nullptr) scheduler_->Describe(*response);
  }
  reactor->Finish(ToGrpcStatus(trigger.status()));
  return reactor;
}

grpc::ServerUnaryReactor* EventsService::ListTriggers(grpc::CallbackServerContext* context,
                                                      const v1::ListTriggersRequest* /*request*/,
                                                      v1::ListTriggersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  for (v1::Trigger& trigger : triggers_->List()) {
    if (scheduler_ != nullptr) scheduler_->Describe(trigger);
    *response->add_triggers() = std::move(trigger);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* EventsService::DeleteTrigger(grpc::CallbackServerContext* context,
                                                       const v1::DeleteTriggerRequest* request,
                                                       v1::DeleteTriggerResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishOnPool(*pool_, reactor, [this, request] { return triggers_->Delete(request->name()); });
  return reactor;
}

}  // namespace sluice
