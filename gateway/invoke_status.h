// How a function's own error reaches a gRPC caller: the same status and
// trailer for the sluice.v1 Invoke and for routed methods.
#pragma once

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "runtime/executor.h"

namespace sluice {

// Metadata key of the trailing metadata that carries a function's error type.
inline constexpr char kErrorTypeKey[] = "sluice-error-type";

// FunctionErrorStatus returns the status of a call whose function reported
// `error` (error.ok is false): UNKNOWN with the message "<type>: <message>".
// It adds the type to `context`'s trailing metadata (kErrorTypeKey), so call
// it before the call finishes, from the one place that finishes it.
grpc::Status FunctionErrorStatus(const ExecutionResult& error, grpc::ServerContextBase& context);

}  // namespace sluice
