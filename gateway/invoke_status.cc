#include "gateway/invoke_status.h"

#include "absl/strings/str_cat.h"

namespace sluice {

grpc::Status FunctionErrorStatus(const ExecutionResult& error, grpc::ServerContextBase& context) {
  context.AddTrailingMetadata(kErrorTypeKey, error.error_type);
  return grpc::Status(grpc::StatusCode::UNKNOWN,
                      absl::StrCat(error.error_type, ": ", error.error_message));
}

}  // namespace sluice
