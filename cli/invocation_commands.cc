// Invocations API calls behind `get`, `watch`, `cancel` and `invocations`.
#include "cli/invocation_commands.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice::cli {
namespace {

// kMaxPageSize is the largest page the server hands out.
constexpr uint32_t kMaxPageSize = 1000;

bool IsTerminal(v1::InvocationState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

// ReportTerminal prints how a finished invocation ended and returns the exit
// code for it.
int ReportTerminal(const v1::Invocation& invocation, const ClientConfig& config, Console& console) {
  switch (invocation.state()) {
    case v1::SUCCEEDED:
      if (config.format == OutputFormat::kText) {
        const std::string output = DescribeOutput(invocation.output());
        console.out << "output:\n" << output << (output.back() == '\n' ? "" : "\n") << std::flush;
      }
      return kExitOk;
    case v1::FAILED:
      return ReportError(absl::StrCat("function failed: ", invocation.error().type(), ": ",
                                      invocation.error().message()),
                         kExitFailed, console);
    default:
      return ReportError(absl::StrCat("invocation ", invocation.id(), " was cancelled"),
                         kExitFailed, console);
  }
}

}  // namespace

std::string WatchPrinter::Lines(const v1::Invocation& update) {
  std::string lines;
  const int total = update.timeline_size();
  for (int i = printed_; i < total; ++i) lines += TimelineLine(update.timeline(i));
  if (total > printed_) {
    last_state_ = update.timeline(total - 1).state();
    printed_ = total;
  }
  if (update.state() != last_state_) {
    v1::StateChange change;
    change.set_state(update.state());
    *change.mutable_time() = update.updated_at();
    lines += TimelineLine(change);
    last_state_ = update.state();
  }
  return lines;
}

int RunGetInvocation(const std::string& id, const ClientConfig& config, Console& console) {
  v1::Invocations::Stub stub(OpenChannel(config.server));
  v1::GetInvocationRequest request;
  request.set_id(id);
  return RunUnary<v1::Invocation>(
      [&](grpc::ClientContext* context, v1::Invocation* invocation) {
        return stub.Get(context, request, invocation);
      },
      config, console,
      [&](const v1::Invocation& invocation) {
        console.out << DescribeInvocation(invocation) << std::flush;
      });
}

int RunWatchInvocation(const std::string& id, const ClientConfig& config, Console& console) {
  v1::Invocations::Stub stub(OpenChannel(config.server));
  grpc::ClientContext context;
  v1::WatchInvocationRequest request;
  request.set_id(id);
  std::unique_ptr<grpc::ClientReader<v1::Invocation>> stream = stub.Watch(&context, request);
  WatchPrinter printer;
  std::optional<v1::Invocation> last;
  v1::Invocation update;
  while (stream->Read(&update)) {
    if (config.format == OutputFormat::kJson) {
      if (const int code = PrintJson(update, console); code != kExitOk) {
        context.TryCancel();
        stream->Finish();
        return code;
      }
    } else {
      console.out << printer.Lines(update) << std::flush;
    }
    last = update;
    if (IsTerminal(update.state())) break;
  }
  if (last.has_value() && IsTerminal(last->state())) {
    // The server ends the stream itself; do not wait for it.
    context.TryCancel();
    stream->Finish();
    return ReportTerminal(*last, config, console);
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  return ReportError(
      absl::StrCat("the server ended the watch of ", id, " before the invocation finished"),
      kExitServerError, console);
}

int RunCancelInvocation(const std::string& id, const ClientConfig& config, Console& console) {
  v1::Invocations::Stub stub(OpenChannel(config.server));
  v1::CancelInvocationRequest request;
  request.set_id(id);
  return RunUnary<v1::Invocation>(
      [&](grpc::ClientContext* context, v1::Invocation* invocation) {
        return stub.Cancel(context, request, invocation);
      },
      config, console,
      [&](const v1::Invocation&) { console.out << "cancelled " << id << std::endl; });
}

int RunListInvocations(const InvocationListFlags& flags, const ClientConfig& config,
                       Console& console) {
  v1::ListInvocationsRequest request;
  request.set_function(flags.function);
  if (!flags.state.empty()) {
    const std::optional<v1::InvocationState> state = ParseStateName(flags.state);
    if (!state.has_value()) {
      return ReportError(absl::StrCat("--state \"", flags.state,
                                      "\" is not one of pending, running, succeeded, failed, "
                                      "cancelled"),
                         kExitUsage, console);
    }
    request.set_state(*state);
  }
  v1::Invocations::Stub stub(OpenChannel(config.server));
  v1::ListInvocationsResponse all;
  while (static_cast<uint32_t>(all.invocations_size()) < flags.limit) {
    request.set_page_size(
        std::min(flags.limit - static_cast<uint32_t>(all.invocations_size()), kMaxPageSize));
    grpc::ClientContext context;
    v1::ListInvocationsResponse page;
    const grpc::Status status = stub.List(&context, request, &page);
    if (!status.ok()) return ReportRpcFailure(status, context, config, console);
    for (v1::Invocation& invocation : *page.mutable_invocations()) {
      if (static_cast<uint32_t>(all.invocations_size()) == flags.limit) break;
      *all.add_invocations() = std::move(invocation);
    }
    if (page.next_page_token().empty() || page.invocations().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (config.format == OutputFormat::kJson) return PrintJson(all, console);
  console.out << InvocationTable(all.invocations()) << std::flush;
  return kExitOk;
}

}  // namespace sluice::cli
