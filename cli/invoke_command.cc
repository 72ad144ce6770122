// Invocations.Invoke and InvokeAsync behind `sluice invoke`.
#include "cli/invoke_command.h"

#include <chrono>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "cli/payload.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice::cli {

absl::StatusOr<v1::InvokeRequest> BuildInvokeRequest(const InvokeFlags& flags, Console& console) {
  v1::InvokeRequest request;
  request.set_function(flags.function);
  request.set_version(flags.version);
  if (!flags.priority.empty()) {
    const std::optional<v1::Priority> priority = ParsePriorityName(flags.priority);
    if (!priority.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--priority \"", flags.priority, "\" is not one of low, normal, high, critical"));
    }
    request.set_priority(*priority);
  }
  if (!flags.async && !flags.idempotency_key.empty()) {
    return absl::InvalidArgumentError(
        "--idempotency-key needs --async (a synchronous invoke is never deduplicated)");
  }
  if (!flags.async && flags.max_attempts != 0) {
    return absl::InvalidArgumentError(
        "--max-attempts needs --async (a synchronous invoke runs once)");
  }
  request.set_idempotency_key(flags.idempotency_key);
  if (flags.max_attempts != 0) request.mutable_retry()->set_max_attempts(flags.max_attempts);
  absl::StatusOr<std::map<std::string, std::string>> meta = ParseKeyValues(flags.meta, "--meta");
  if (!meta.ok()) return meta.status();
  request.mutable_metadata()->insert(meta->begin(), meta->end());
  absl::StatusOr<std::string> payload =
      ResolvePayload(flags.data, console.in, console.stdin_is_tty);
  if (!payload.ok()) return payload.status();
  request.set_payload(*std::move(payload));
  return request;
}

int RunInvoke(const InvokeFlags& flags, const ClientConfig& config, Console& console) {
  std::optional<absl::Duration> deadline;
  if (!flags.timeout.empty()) {
    absl::StatusOr<absl::Duration> timeout = ParsePositiveDuration(flags.timeout, "--timeout");
    if (!timeout.ok()) return ReportError(timeout.status().message(), kExitUsage, console);
    deadline = *timeout;
  }
  absl::StatusOr<v1::InvokeRequest> request = BuildInvokeRequest(flags, console);
  if (!request.ok()) return ReportError(request.status().message(), kExitUsage, console);

  v1::Invocations::Stub stub(OpenChannel(config.server));
  // Each attempt gets a fresh context (and deadline); a full queue is
  // waited out and retried (see CallRetryingWhenQueueFull).
  const auto prepare = [&](grpc::ClientContext* context) {
    if (deadline.has_value()) {
      context->set_deadline(std::chrono::system_clock::now() +
                            absl::ToChronoNanoseconds(*deadline));
    }
  };
  std::unique_ptr<grpc::ClientContext> context;
  if (flags.async) {
    v1::InvokeAsyncResponse response;
    const grpc::Status status = CallRetryingWhenQueueFull(
        [&](grpc::ClientContext* attempt) {
          prepare(attempt);
          response.Clear();
          return stub.InvokeAsync(attempt, *request, &response);
        },
        config, console, &context);
    if (!status.ok()) return ReportRpcFailure(status, *context, config, console);
    if (response.deduplicated()) {
      console.err << "idempotency key matched invocation " << response.invocation_id()
                  << "; nothing new was queued" << std::endl;
    }
    if (config.format == OutputFormat::kJson) return PrintJson(response, console);
    console.out << response.invocation_id() << std::endl;
    return kExitOk;
  }
  v1::InvokeResponse response;
  const grpc::Status status = CallRetryingWhenQueueFull(
      [&](grpc::ClientContext* attempt) {
        prepare(attempt);
        response.Clear();
        return stub.Invoke(attempt, *request, &response);
      },
      config, console, &context);
  if (!status.ok()) return ReportRpcFailure(status, *context, config, console);
  if (config.format == OutputFormat::kJson) return PrintJson(response, console);
  console.out.write(response.output().data(),
                    static_cast<std::streamsize>(response.output().size()));
  console.out.flush();
  return kExitOk;
}

}  // namespace sluice::cli
