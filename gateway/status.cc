#include "gateway/status.h"

#include <optional>
#include <string>

#include "runtime/retry_info.h"

namespace sluice {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl::StatusCode and grpc::StatusCode share their numbering.
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  if (!RetryDelayOf(status).has_value()) return grpc::Status(code, std::move(message));
  // gRPC sends the serialized google.rpc.Status as grpc-status-details-bin.
  std::string details = RpcStatusOf(status).SerializeAsString();
  return grpc::Status(code, std::move(message), std::move(details));
}

}  // namespace sluice
