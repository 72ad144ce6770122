// Channel creation and result reporting shared by client commands.
#include "cli/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/exit_codes.h"
#include "runtime/retry_info.h"

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

std::optional<absl::Duration> QueueFullRetryDelay(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) return std::nullopt;
  std::optional<absl::Duration> delay = RetryDelayOfDetails(status.error_details());
  if (!delay.has_value()) return std::nullopt;
  return std::clamp(*delay, absl::ZeroDuration(), kMaxQueueFullRetryDelay);
}

void WaitBeforeRetry(absl::Duration delay, const ClientConfig& config, Console& console) {
  const int64_t tenths = std::llround(absl::ToDoubleSeconds(delay) * 10);
  console.err << "queue full; retrying in " << tenths / 10 << "." << tenths % 10 << "s"
              << std::endl;
  if (config.wait_before_retry) {
    config.wait_before_retry(delay);
  } else {
    absl::SleepFor(delay);
  }
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
