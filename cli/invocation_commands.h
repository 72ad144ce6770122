// `sluice get`, `watch`, `cancel` and `invocations`: following background
// invocations through the Invocations API.
#pragma once

#include <cstdint>
#include <string>

#include "cli/client.h"
#include "cli/console.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice::cli {

// RunGetInvocation prints invocation `id` with its timeline, error and
// output. Exits 0 whenever the invocation is found, whatever its state.
int RunGetInvocation(const std::string& id, const ClientConfig& config, Console& console);

// RunWatchInvocation prints each state change of `id` as the server streams
// it, until the invocation is terminal; then the output (SUCCEEDED) or an
// error on console.err (FAILED, CANCELLED). Exits 0 for SUCCEEDED, 1 for
// FAILED or CANCELLED, 4 when the stream ends before a terminal state.
int RunWatchInvocation(const std::string& id, const ClientConfig& config, Console& console);

// RunCancelInvocation cancels `id` and prints "cancelled ID".
int RunCancelInvocation(const std::string& id, const ClientConfig& config, Console& console);

// InvocationListFlags are the flags of `sluice invocations`.
struct InvocationListFlags {
  std::string function;  // empty: every function
  std::string state;     // empty: every state; else pending|running|...
  uint32_t limit = 100;  // at most this many, following pages
};

// RunListInvocations prints up to `limit` invocations, newest first, as a
// table (JSON: one ListInvocationsResponse holding them all).
int RunListInvocations(const InvocationListFlags& flags, const ClientConfig& config,
                       Console& console);

// WatchPrinter turns the snapshots that Watch streams into timeline lines,
// printing each state change once. Not thread-safe.
class WatchPrinter {
 public:
  // Lines returns the timeline lines of `update` not returned before. When
  // the state changed without a new timeline entry it returns one line made
  // from the state and update time.
  std::string Lines(const v1::Invocation& update);

 private:
  int printed_ = 0;  // timeline entries already returned
  v1::InvocationState last_state_ = v1::INVOCATION_STATE_UNSPECIFIED;
};

}  // namespace sluice::cli
