// What every client command shares: the global options, the channel to the
// server, and reporting of results and failures.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
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
};

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

// RunUnary makes one unary call through `call(context, response)`. On
// failure it reports and returns the exit code; on success it prints the
// response as JSON, or in text with `print_text(response)`, and returns
// kExitOk.
template <typename Response, typename Call, typename PrintText>
int RunUnary(Call call, const ClientConfig& config, Console& console, PrintText print_text) {
  grpc::ClientContext context;
  Response response;
  const grpc::Status status = call(&context, &response);
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(response, console);
  print_text(response);
  return kExitOk;
}

}  // namespace sluice::cli
