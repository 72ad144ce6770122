// Invocations API calls behind `get`, `watch`, `cancel` and `invocations`.
#include "cli/invocation_commands.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice::cli {
namespace {

// kMaxPageSize is the largest page the server hands out.
constexpr uint32_t kMaxPageSize = 1000;

using google::protobuf::util::MessageDifferencer;

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

// ParseTimeBound reads a --created-after/--created-before value: an RFC 3339
// time, or a duration meaning that long before `now`.
absl::StatusOr<google::protobuf::Timestamp> ParseTimeBound(const std::string& text,
                                                           absl::string_view flag, absl::Time now) {
  absl::Time time;
  std::string ignored;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &ignored)) {
    absl::Duration ago;
    if (!absl::ParseDuration(text, &ago) || ago < absl::ZeroDuration() ||
        ago == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", text,
                       "\" is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor a duration "
                       "before now (24h, 90m)"));
    }
    time = now - ago;
  }
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

}  // namespace

absl::StatusOr<v1::RedriveRequest> BuildRedriveRequest(const RedriveFlags& flags, absl::Time now) {
  v1::RedriveRequest request;
  if (!flags.id.empty()) {
    if (!flags.function.empty() || !flags.error_type.empty() || !flags.created_after.empty() ||
        !flags.created_before.empty() || flags.limit != 0) {
      return absl::InvalidArgumentError(
          "redrive takes an invocation ID or --function with filters, not both");
    }
    request.set_id(flags.id);
    return request;
  }
  if (flags.function.empty()) {
    return absl::InvalidArgumentError("redrive needs an invocation ID or --function NAME");
  }
  request.set_function(flags.function);
  request.set_error_type(flags.error_type);
  if (!flags.created_after.empty()) {
    absl::StatusOr<google::protobuf::Timestamp> after =
        ParseTimeBound(flags.created_after, "--created-after", now);
    if (!after.ok()) return after.status();
    *request.mutable_created_after() = *after;
  }
  if (!flags.created_before.empty()) {
    absl::StatusOr<google::protobuf::Timestamp> before =
        ParseTimeBound(flags.created_before, "--created-before", now);
    if (!before.ok()) return before.status();
    *request.mutable_created_before() = *before;
  }
  request.set_limit(flags.limit);
  return request;
}

int RunRedrive(const RedriveFlags& flags, const ClientConfig& config, Console& console) {
  absl::StatusOr<v1::RedriveRequest> request = BuildRedriveRequest(flags, absl::Now());
  if (!request.ok()) return ReportError(request.status().message(), kExitUsage, console);
  v1::Invocations::Stub stub(OpenChannel(config.server));
  return RunUnary<v1::RedriveResponse>(
      [&](grpc::ClientContext* context, v1::RedriveResponse* response) {
        return stub.Redrive(context, *request, response);
      },
      config, console,
      [&](const v1::RedriveResponse& response) {
        const int count = response.invocation_ids_size();
        if (count == 0) {
          console.out << "no dead-lettered invocations matched; nothing queued" << std::endl;
          return;
        }
        console.out << "queued " << count << (count == 1 ? " invocation" : " invocations")
                    << " again:\n";
        for (const std::string& id : response.invocation_ids()) console.out << "  " << id << "\n";
        console.out << std::flush;
      });
}

std::string WatchPrinter::Lines(const v1::Invocation& update) {
  // New timeline entries and a new progress report, merged by time.
  std::vector<std::pair<absl::Time, std::string>> entries;
  const int total = update.timeline_size();
  for (int i = printed_; i < total; ++i) {
    entries.emplace_back(ToAbslTime(update.timeline(i).time()), TimelineLine(update.timeline(i)));
  }
  if (total > printed_) {
    last_state_ = update.timeline(total - 1).state();
    printed_ = total;
  }
  if (update.has_progress() && !(last_progress_.has_value() &&
                                 MessageDifferencer::Equals(*last_progress_, update.progress()))) {
    const v1::Progress& progress = update.progress();
    v1::StateChange change;
    change.set_state(v1::RUNNING);  // only a running attempt reports progress
    *change.mutable_time() = progress.has_time() ? progress.time() : update.updated_at();
    change.set_reason(absl::StrCat("attempt ", progress.attempt(), "  ", ProgressText(progress)));
    entries.emplace_back(ToAbslTime(change.time()), TimelineLine(change));
    last_progress_ = progress;
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string lines;
  for (const auto& [time, line] : entries) lines += line;
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
        console.out << DescribeInvocation(invocation, absl::Now()) << std::flush;
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
  request.set_dead_lettered(flags.dead_lettered);
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
