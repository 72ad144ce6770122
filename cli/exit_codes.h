// Exit codes of the `sluice` command, and how gRPC failures map onto them
// and onto messages for the user.
//
//   0  success
//   1  the function or invocation failed: a sync invoke returned the
//      function's error, `watch` saw the invocation end FAILED or CANCELLED,
//      or `serve` failed
//   2  usage error, bad local input (flags, files, manifest), or the server
//      answered INVALID_ARGUMENT
//   3  the server answered NOT_FOUND
//   4  the server is unreachable (UNAVAILABLE), DEADLINE_EXCEEDED,
//      RESOURCE_EXHAUSTED, or any other gRPC error
#pragma once

#include <string>

#include <grpcpp/support/status.h>

namespace sluice::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitServerError = 4,
};

// kExitCodesHelp describes the exit codes for the --help footer.
extern const char kExitCodesHelp[];

// ExitCodeForRpc maps a gRPC status code to the exit code: OK 0,
// INVALID_ARGUMENT 2, NOT_FOUND 3, everything else 4.
int ExitCodeForRpc(grpc::StatusCode code);

// RpcFailure is what the command reports for a failed call.
struct RpcFailure {
  int exit_code;
  // One line without the "error: " prefix.
  std::string message;
};

// DescribeRpcFailure explains a non-OK `status` from the server at
// `server`. `function_error` says whether the server marked the status as the
// function's own error (trailing metadata "sluice-error-type"); such a
// failure exits 1 with "function failed: <message>". An unreachable server is
// described with its address and how to choose another one.
RpcFailure DescribeRpcFailure(const grpc::Status& status, bool function_error,
                              const std::string& server);

}  // namespace sluice::cli
