// FunctionLogs: the lines functions print, kept per function for
// `sluice logs` and copied to the server's own log (a structured Logger, or
// a plain stream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "monitoring/log.h"
#include "runtime/log_sink.h"

namespace sluice {

// SequencedLogLine is a LogLine with the number FunctionLogs gave it when it
// was appended. Numbers start at 1 and grow with every line of any function,
// so a reader holding a line's number can tell older lines from newer ones.
struct SequencedLogLine {
  uint64_t sequence = 0;
  LogLine line;
};

// FunctionLogs keeps the last lines of each function in a ring, writes every
// line to the server's log and hands new lines to subscribers.
//
// Thread-safe. Memory is bounded: at most `ring_lines` lines of at most
// kMaxLineBytes of text are kept per function, until Forget.
//
// Subscriber callbacks run on the appending thread, in sequence order, while
// an internal lock is held: they must not block and must not call back into
// this object.
class FunctionLogs final : public LogSink {
 public:
  static constexpr size_t kDefaultRingLines = 1000;
  // kMaxLineBytes is the most text kept of one line; the rest is cut off.
  static constexpr size_t kMaxLineBytes = 16 * 1024;

  using Callback = absl::AnyInvocable<void(const LogLine&)>;
  using SequencedCallback = absl::AnyInvocable<void(const SequencedLogLine&)>;

  // `server_logger`, when not null, receives each line as one event at
  // level info, component "function", message the line's text, and the
  // fields function, version, invocation_id and trace_id (when known) and
  // stream. It must outlive this object (DefaultLogger() does).
  // `ring_lines` (at least 1) is how many lines are kept per function.
  explicit FunctionLogs(Logger* server_logger = nullptr, size_t ring_lines = kDefaultRingLines);

  FunctionLogs(const FunctionLogs&) = delete;
  FunctionLogs& operator=(const FunctionLogs&) = delete;

  // Append numbers `line` and keeps it in the ring of `line.function`,
  // dropping that function's oldest line when the ring is full. The text is
  // made valid UTF-8 (each invalid byte becomes U+FFFD) and cut to
  // kMaxLineBytes at a character boundary. Subscribers of the function are
  // called before Append returns.
  void Append(LogLine line) override;

  // Tail returns up to the last `lines` lines of `function`, oldest first;
  // empty for a function without lines.
  std::vector<LogLine> Tail(const std::string& function, size_t lines);
  // TailSequenced is Tail with the lines' numbers.
  std::vector<SequencedLogLine> TailSequenced(const std::string& function, size_t lines);

  // Subscribe calls `callback` with every line of `function` appended from
  // now on, until Unsubscribe. Returns a handle (never 0) for Unsubscribe.
  uint64_t Subscribe(const std::string& function, Callback callback);
  // SubscribeSequenced is Subscribe with the lines' numbers. A reader that
  // subscribes first and then takes TailSequenced sees every line: those
  // numbered at or below the tail's last line are in the tail too.
  uint64_t SubscribeSequenced(const std::string& function, SequencedCallback callback);
  // Unsubscribe ends a subscription. When it returns, its callback is not
  // running and will not run again. Unknown handles are ignored.
  void Unsubscribe(const std::string& function, uint64_t handle);

  // Forget drops the lines kept for `function` (it was deleted).
  // Subscriptions stay until Unsubscribe, and receive the lines of a
  // function later deployed under the same name.
  void Forget(const std::string& function);

 private:
  struct FunctionState {
    std::deque<SequencedLogLine> ring;
    absl::flat_hash_map<uint64_t, SequencedCallback> subscribers;
  };

  // Constant after construction.
  Logger* const server_logger_;
  const size_t ring_lines_;

  absl::Mutex mu_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, FunctionState> functions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
