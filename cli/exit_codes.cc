// Mapping of gRPC failures to exit codes and messages.
#include "cli/exit_codes.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice::cli {

const char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the function or invocation failed (watch: it ended FAILED or CANCELLED);\n"
    "     serve failed\n"
    "  2  usage error, bad local input, or the server answered INVALID_ARGUMENT\n"
    "  3  not found (NOT_FOUND)\n"
    "  4  server unreachable, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED or another gRPC error\n"
    "\n"
    "Environment:\n"
    "  SLUICE_SERVER  server address when --server is not given (default 127.0.0.1:50051)\n";

int ExitCodeForRpc(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return kExitUsage;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    default:
      return kExitServerError;
  }
}

RpcFailure DescribeRpcFailure(const grpc::Status& status, bool function_error,
                              const std::string& server) {
  const std::string& detail = status.error_message();
  if (function_error && status.error_code() == grpc::StatusCode::UNKNOWN) {
    return {kExitFailed, absl::StrCat("function failed: ", detail)};
  }
  // grpc::StatusCode and absl::StatusCode share their numbering.
  const std::string code_name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  const int exit_code = ExitCodeForRpc(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return {exit_code,
              absl::StrCat("cannot reach the sluice server at ", server,
                           " (choose another with --server or SLUICE_SERVER): ", detail)};
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return {exit_code, absl::StrCat("no answer before the deadline (DEADLINE_EXCEEDED)",
                                      detail.empty() ? "" : ": ", detail)};
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return {exit_code, absl::StrCat("the server is overloaded, retry later (RESOURCE_EXHAUSTED)",
                                      detail.empty() ? "" : ": ", detail)};
    default:
      if (detail.empty()) return {exit_code, code_name};
      return {exit_code, absl::StrCat(detail, " (", code_name, ")")};
  }
}

}  // namespace sluice::cli
