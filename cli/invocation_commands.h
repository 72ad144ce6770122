// `sluice get`, `watch`, `cancel` and `invocations`: following background
// invocations through the Invocations API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "cli/client.h"
#include "cli/console.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice::cli {

// RunGetInvocation prints invocation `id` with its retry state, progress,
// timeline, error and output (see DescribeInvocation). Exits 0 whenever the
// invocation is found, whatever its state.
int RunGetInvocation(const std::string& id, const ClientConfig& config, Console& console);

// RunWatchInvocation prints each state change and progress report of `id`
// as the server streams it, until the invocation is terminal; then the output (SUCCEEDED) or an
// error on console.err (FAILED, CANCELLED). Exits 0 for SUCCEEDED, 1 for
// FAILED or CANCELLED, 4 when the stream ends before a terminal state.
int RunWatchInvocation(const std::string& id, const ClientConfig& config, Console& console);

// RunCancelInvocation cancels `id` and prints "cancelled ID".
int RunCancelInvocation(const std::string& id, const ClientConfig& config, Console& console);

// InvocationListFlags are the flags of `sluice invocations`.
struct InvocationListFlags {
  std::string function;        // empty: every function
  std::string state;           // empty: every state; else pending|running|...
  bool dead_lettered = false;  // only dead-lettered invocations
  uint32_t limit = 100;        // at most this many, following pages
};

// RunListInvocations prints up to `limit` invocations, newest first, as a
// table (JSON: one ListInvocationsResponse holding them all).
int RunListInvocations(const InvocationListFlags& flags, const ClientConfig& config,
                       Console& console);

// RedriveFlags are the flags of `sluice redrive`: either `id`, or
// `function` with optional filters.
struct RedriveFlags {
  std::string id;
  std::string function;
  std::string error_type;      // empty: any
  std::string created_after;   // RFC 3339 time or a duration before now; empty: no bound
  std::string created_before;  // likewise
  uint32_t limit = 0;          // 0: the server's default
};

// BuildRedriveRequest turns the flags into a request; `now` anchors
// durations ("24h" is 24 hours before `now`). INVALID_ARGUMENT, naming the
// flag, when neither or both of an id and --function are given, when an id
// comes with filters, or when a time is neither RFC 3339 nor a duration.
absl::StatusOr<v1::RedriveRequest> BuildRedriveRequest(const RedriveFlags& flags, absl::Time now);

// RunRedrive queues dead-lettered invocations again and prints how many and
// which: "queued N invocations again:" then one id a line (JSON: the
// RedriveResponse). Exit codes as for other calls (NOT_FOUND 3, ...).
int RunRedrive(const RedriveFlags& flags, const ClientConfig& config, Console& console);

// WatchPrinter turns the snapshots that Watch streams into timeline lines,
// printing each state change and each progress report once. Not
// thread-safe.
class WatchPrinter {
 public:
  // Lines returns the timeline lines of `update` not returned before, and a
  // line for its progress when that changed ("TIME  RUNNING    attempt 1
  // 40%  step 2 of 5"), ordered by time. When the state changed without a
  // new timeline entry it ends with one line made from the state and update
  // time.
  std::string Lines(const v1::Invocation& update);

 private:
  int printed_ = 0;  // timeline entries already returned
  v1::InvocationState last_state_ = v1::INVOCATION_STATE_UNSPECIFIED;
  std::optional<v1::Progress> last_progress_;  // the progress line last returned
};

}  // namespace sluice::cli
