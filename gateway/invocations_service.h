// InvocationsService: the sluice.v1.Invocations gRPC service.
#pragma once

#include "gateway/invoke_status.h"
#include "gateway/reply_batcher.h"
#include "gateway/work_pool.h"
#include "runtime/invocation_service.h"
#include "runtime/watch_hub.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice {

// InvocationsService translates RPCs to InvocationService calls; blocking
// work runs on `pool`. Thread-safe; its collaborators must outlive it.
class InvocationsService final : public v1::Invocations::CallbackService {
 public:
  // `tracer` records the server spans of Invoke and InvokeAsync; it may be
  // null (contexts are still propagated, nothing is recorded).
  InvocationsService(InvocationService* invocations, WatchHub* watchers, WorkPool* pool,
                     const Tracer* tracer = nullptr)
      : invocations_(invocations), watchers_(watchers), pool_(pool), tracer_(tracer) {}

  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const v1::InvokeRequest* request,
                                   v1::InvokeResponse* response) override;
  grpc::ServerUnaryReactor* InvokeAsync(grpc::CallbackServerContext* context,
                                        const v1::InvokeRequest* request,
                                        v1::InvokeAsyncResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetInvocationRequest* request,
                                v1::Invocation* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListInvocationsRequest* request,
                                 v1::ListInvocationsResponse* response) override;
  grpc::ServerWriteReactor<v1::Invocation>* Watch(
      grpc::CallbackServerContext* context, const v1::WatchInvocationRequest* request) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::CancelInvocationRequest* request,
                                   v1::Invocation* response) override;
  grpc::ServerUnaryReactor* Redrive(grpc::CallbackServerContext* context,
                                    const v1::RedriveRequest* request,
                                    v1::RedriveResponse* response) override;

 private:
  InvocationService* const invocations_;
  WatchHub* const watchers_;
  WorkPool* const pool_;
  const Tracer* const tracer_;
  // Sends the answers of Invoke and InvokeAsync that are made off gRPC's
  // threads. Last, so that it is destroyed (waiting for its replies) first.
  ReplyBatcher replies_;
};

}  // namespace sluice
