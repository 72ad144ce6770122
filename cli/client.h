// What every client command shares: the global options, the channel to the
// server, and reporting of results and failures.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/console.h"
#include "cli/exit_codes.h"
#include "cli/output.h"

namespace sluice::cli {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";
// kServerEnv names the environment variable that sets the server address.
inline constexpr char kServerEnv[] = "SLUICE_SERVER";

// ClientConfig holds the global options of client commands.
struct ClientConfig {
  // host:port of the sluice gRPC API.
  std::string server = kDefaultServer;
  OutputFormat format = OutputFormat::kText;
  // How many times a call refused because a queue is full (RESOURCE_EXHAUSTED
  // carrying a google.rpc.RetryInfo) is retried after the delay the server
  // asked for. 0 disables retrying.
  int queue_full_retries = 5;
  // Waits `delay` before a retry; null sleeps. Tests inject a fake.
  std::function<void(absl::Duration)> wait_before_retry;
};

// kMaxQueueFullRetryDelay bounds the delay the client honours, whatever the
// server asks for.
inline constexpr absl::Duration kMaxQueueFullRetryDelay = absl::Seconds(60);

// QueueFullRetryDelay returns the delay after which a call that failed with
// `status` may be retried: set only for RESOURCE_EXHAUSTED whose details hold
// a google.rpc.RetryInfo, and clamped to [0, kMaxQueueFullRetryDelay].
std::optional<absl::Duration> QueueFullRetryDelay(const grpc::Status& status);

// WaitBeforeRetry prints "queue full; retrying in 1.2s" on console.err and
// waits `delay` (through config.wait_before_retry when set).
void WaitBeforeRetry(absl::Duration delay, const ClientConfig& config, Console& console);

// CallRetryingWhenQueueFull makes `call(context)` (returning grpc::Status)
// with a fresh context per attempt; `call` sets the context up (deadline,
// metadata) and may be called several times. While the call fails with a
// full queue (see QueueFullRetryDelay) it waits and tries again, at most
// config.queue_full_retries times. Returns the last attempt's status; on
// return `*context` is that attempt's finished context (for
// ReportRpcFailure).
template <typename Call>
grpc::Status CallRetryingWhenQueueFull(Call call, const ClientConfig& config, Console& console,
                                       std::unique_ptr<grpc::ClientContext>* context) {
  for (int retries = 0;; ++retries) {
    *context = std::make_unique<grpc::ClientContext>();
    grpc::Status status = call(context->get());
    if (status.ok() || retries >= config.queue_full_retries) return status;
    const std::optional<absl::Duration> delay = QueueFullRetryDelay(status);
    if (!delay.has_value()) return status;
    WaitBeforeRetry(*delay, config, console);
  }
}

// OpenChannel returns an insecure channel to `server` that accepts messages
// of any size (outputs may exceed gRPC's 4 MiB default). Connects lazily.
std::shared_ptr<grpc::Channel> OpenChannel(const std::string& server);

// ReportRpcFailure prints "error: <message>" for a failed call on
// console.err and returns the exit code (see exit_codes.h). `context` must be
// the finished call's context; its trailing metadata tells a function's own
// error apart. A non-empty `action` prefixes the message: "error: <action>:
// <message>".
int ReportRpcFailure(const grpc::Status& status, const grpc::ClientContext& context,
                     const ClientConfig& config, Console& console, absl::string_view action = "");

// ReportError prints "error: <message>" on console.err and returns
// `exit_code`.
int ReportError(absl::string_view message, int exit_code, Console& console);

// PrintJson writes `message` as one line of protobuf JSON on console.out.
// Returns kExitOk, or kExitFailed after reporting when it cannot render.
int PrintJson(const google::protobuf::Message& message, Console& console);

// RunUnary makes one unary call through `call(context, response)`, retried
// while the server's queue is full (see CallRetryingWhenQueueFull). On
// failure it reports and returns the exit code; on success it prints the
// response as JSON, or in text with `print_text(response)`, and returns
// kExitOk.
template <typename Response, typename Call, typename PrintText>
int RunUnary(Call call, const ClientConfig& config, Console& console, PrintText print_text) {
  std::unique_ptr<grpc::ClientContext> context;
  Response response;
  const grpc::Status status = CallRetryingWhenQueueFull(
      [&](grpc::ClientContext* attempt) {
        response.Clear();
        return call(attempt, &response);
      },
      config, console, &context);
  if (!status.ok()) return ReportRpcFailure(status, *context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(response, console);
  print_text(response);
  return kExitOk;
}

}  // namespace sluice::cli
