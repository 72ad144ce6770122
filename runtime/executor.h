// Executor: runs attempts of one function version. The interface is what the
// dispatcher needs and no more, so that in-process code (NativeExecutor) and
// worker processes can stand behind it alike.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace sluice {

// CancelFlag is set once an attempt should stop (the caller went away, the
// invocation was cancelled, or its deadline passed). Thread-safe.
class CancelFlag {
 public:
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

// ExecutionRequest is one attempt of one invocation.
struct ExecutionRequest {
  std::string invocation_id;
  std::string function_name;
  uint64_t function_version = 0;
  uint32_t attempt = 1;
  absl::Time deadline = absl::InfiniteFuture();
  std::string payload;
  std::vector<std::pair<std::string, std::string>> metadata;
  // The W3C trace context of the attempt's span ("00-…" traceparent and its
  // tracestate), handed to the function; may be empty.
  std::string traceparent;
  std::string tracestate;
  // Never null; the executor polls it (and the deadline) and passes both on
  // to the function.
  std::shared_ptr<const CancelFlag> cancel = std::make_shared<CancelFlag>();
  // Called by the executor, on any of its threads, each time the function
  // reports progress (percent 0..100, clamped; a short message). May be
  // empty. Must not block for long.
  std::function<void(uint32_t percent, const std::string& message)> on_progress;
};

// ExecutionResult is what an attempt produced: output, or an error.
struct ExecutionResult {
  bool ok = false;
  std::string output;      // when ok
  std::string error_type;  // when !ok
  std::string error_message;
  // The attempt waited for a new worker to start (a cold start).
  bool cold_start = false;

  static ExecutionResult Success(std::string output) {
    return ExecutionResult{true, std::move(output), {}, {}, false};
  }
  static ExecutionResult Error(std::string type, std::string message) {
    return ExecutionResult{false, {}, std::move(type), std::move(message), false};
  }
};

// Executor runs attempts of one function version. Thread-safe: Execute may
// be called from several threads at once, up to the function's concurrency.
class Executor {
 public:
  virtual ~Executor() = default;

  // Execute runs one attempt and blocks until the function returns. The
  // function is told the deadline and the cancel flag; an executor that can
  // stop a function by force (a worker process) does so at the deadline.
  virtual ExecutionResult Execute(const ExecutionRequest& request) = 0;

  // Warm tells whether an attempt started now would most likely run without
  // first starting a process (a cold start): a hint, since another attempt
  // may take the warm worker first. Callers that must not block for long
  // (RunInline on a gateway thread) ask it first.
  virtual bool Warm() { return true; }

  // InProcess tells whether Execute runs the function on the calling thread
  // itself, waiting on no other process. Such a quick attempt holds a
  // caller's thread only for its own run time; an attempt on a worker
  // process holds it, idle, for a round trip to another process.
  virtual bool InProcess() const { return false; }

  // Maintain does periodic housekeeping (stopping idle workers, keeping
  // warm ones). Called about once a second; may block briefly.
  virtual void Maintain(absl::Time /*now*/) {}

  // Retire tells the executor that its version was replaced or deleted: it
  // keeps nothing warm from now on, while attempts in flight finish.
  virtual void Retire() {}
};

}  // namespace sluice
