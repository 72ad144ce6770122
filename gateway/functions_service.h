// FunctionsService: the sluice.v1.Functions gRPC service.
#pragma once

#include <cstddef>

#include "gateway/work_pool.h"
#include "runtime/function_registry.h"
#include "runtime/triggers.h"
#include "sluice/v1/functions.grpc.pb.h"

namespace sluice {

// FunctionsService translates RPCs to FunctionRegistry calls; blocking work
// runs on `pool`. Delete refuses, with FAILED_PRECONDITION, a function that a
// trigger of `triggers` names (null: no such check). Thread-safe; registry,
// pool and triggers must outlive it.
class FunctionsService final : public v1::Functions::CallbackService {
 public:
  FunctionsService(FunctionRegistry* registry, WorkPool* pool, size_t max_artifact_bytes,
                   const TriggerRegistry* triggers = nullptr)
      : registry_(registry),
        pool_(pool),
        max_artifact_bytes_(max_artifact_bytes),
        triggers_(triggers) {}

  grpc::ServerReadReactor<v1::DeployRequest>* Deploy(grpc::CallbackServerContext* context,
                                                     v1::DeployResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetFunctionRequest* request,
                                v1::Function* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListFunctionsRequest* request,
                                 v1::ListFunctionsResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const v1::DeleteFunctionRequest* request,
                                   v1::DeleteFunctionResponse* response) override;

 private:
  FunctionRegistry* const registry_;
  WorkPool* const pool_;
  const size_t max_artifact_bytes_;
  const TriggerRegistry* const triggers_;
};

}  // namespace sluice
