// Conversions between absl::Status (used everywhere else) and grpc::Status.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "gateway/work_pool.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace sluice {

// ToGrpcStatus keeps the code and the message. When `status` carries a
// retry delay (see runtime/retry_info.h), the result's error_details() is a
// serialized google.rpc.Status {code, message, details: [RetryInfo]}, which
// gRPC sends to the client in the `grpc-status-details-bin` trailer.
grpc::Status ToGrpcStatus(const absl::Status& status);

// FinishOnPool runs `job` (returning absl::Status) on `pool` and finishes
// `reactor` with its result; when the pool refuses the job, it finishes with
// that refusal at once. For unary handlers whose work may block.
template <typename Job>
void FinishOnPool(WorkPool& pool, grpc::ServerUnaryReactor* reactor, Job job) {
  absl::Status scheduled = pool.Schedule(
      [reactor, job = std::move(job)]() mutable { reactor->Finish(ToGrpcStatus(job())); });
  if (!scheduled.ok()) reactor->Finish(ToGrpcStatus(scheduled));
}

}  // namespace sluice
