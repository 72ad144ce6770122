// EventsService: the sluice.v1.Events gRPC service.
#pragma once

#include "gateway/work_pool.h"
#include "monitoring/tracer.h"
#include "runtime/event_publisher.h"
#include "runtime/scheduler.h"
#include "runtime/triggers.h"
#include "sluice/v1/events.grpc.pb.h"

namespace sluice {

// EventsService translates RPCs to EventPublisher and TriggerRegistry
// calls; work that may block runs on `pool`. Thread-safe; its collaborators
// must outlive it. `tracer` may be null; `scheduler`, when not null, adds
// the last and next fire times of schedules to the triggers described.
class EventsService final : public v1::Events::CallbackService {
 public:
  EventsService(EventPublisher* publisher, TriggerRegistry* triggers, WorkPool* pool,
                const Tracer* tracer = nullptr, const Scheduler* scheduler = nullptr)
      : publisher_(publisher),
        triggers_(triggers),
        pool_(pool),
        tracer_(tracer),
        scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const v1::PublishRequest* request,
                                    v1::PublishResponse* response) override;
  grpc::ServerUnaryReactor* CreateTrigger(grpc::CallbackServerContext* context,
                                          const v1::CreateTriggerRequest* request,
                                          v1::Trigger* response) override;
  grpc::ServerUnaryReactor* GetTrigger(grpc::CallbackServerContext* context,
                                       const v1::GetTriggerRequest* request,
                                       v1::Trigger* response) override;
  grpc::ServerUnaryReactor* ListTriggers(grpc::CallbackServerContext* context,
                                         const v1::ListTriggersRequest* request,
                                         v1::ListTriggersResponse* response) override;
  grpc::ServerUnaryReactor* DeleteTrigger(grpc::CallbackServerContext* context,
                                          const v1::DeleteTriggerRequest* request,
                                          v1::DeleteTriggerResponse* response) override;

 private:
  EventPublisher* const publisher_;
  TriggerRegistry* const triggers_;
  WorkPool* const pool_;
  const Tracer* const tracer_;
  const Scheduler* const scheduler_;
};

}  // namespace sluice
