// Conversions between absl::Status (used everywhere else) and grpc::Status.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace sluice {

// ToGrpcStatus keeps the code and the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sluice
