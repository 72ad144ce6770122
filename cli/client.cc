// Channel creation and result reporting shared by client commands.
#include "cli/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"

namespace sluice::cli {

// Trailing metadata key the server sets on a function's own error.
constexpr char kErrorTypeKey[] = "sluice-error-type";

std::shared_ptr<grpc::Channel> OpenChannel(const std::string& server) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), arguments);
}

int ReportRpcFailure(const grpc::Status& status, const grpc::ClientContext& context,
                     const ClientConfig& config, Console& console, absl::string_view action) {
  const bool function_error = context.GetServerTrailingMetadata().find(kErrorTypeKey) !=
                              context.GetServerTrailingMetadata().end();
  const RpcFailure failure = DescribeRpcFailure(status, function_error, config.server);
  if (action.empty()) return ReportError(failure.message, failure.exit_code, console);
  return ReportError(absl::StrCat(action, ": ", failure.message), failure.exit_code, console);
}

int ReportError(absl::string_view message, int exit_code, Console& console) {
  console.err << "error: " << message << std::endl;
  return exit_code;
}

int PrintJson(const google::protobuf::Message& message, Console& console) {
  absl::StatusOr<std::string> json = JsonLine(message);
  if (!json.ok()) return ReportError(json.status().message(), kExitFailed, console);
  console.out << *json << std::flush;
  return kExitOk;
}

}  // namespace sluice::cli
