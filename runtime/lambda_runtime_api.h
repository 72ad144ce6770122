// RuntimeApiServer: the AWS Lambda Runtime API (version 2018-06-01) that one
// lambda worker process talks to, served over HTTP on loopback.
//
// The worker's bootstrap finds it through AWS_LAMBDA_RUNTIME_API and, as on
// AWS Lambda:
//   GET  /2018-06-01/runtime/invocation/next          blocks until an event
//        arrives; 200 with the event as body and the headers
//        Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms,
//        Lambda-Runtime-Invoked-Function-Arn, Lambda-Runtime-Trace-Id.
//   POST /2018-06-01/runtime/invocation/{id}/response  202: the result.
//   POST /2018-06-01/runtime/invocation/{id}/error     202: a function error;
//        its type from the Lambda-Runtime-Function-Error-Type header, else
//        the JSON body's "errorType", else "Unhandled"; its message from the
//        body's "errorMessage", or the raw body when that is not JSON.
//   POST /2018-06-01/runtime/init/error                202 before the first
//        /next: initialisation failed.
// and, as a Sluice extension:
//   POST /2018-06-01/runtime/invocation/{id}/progress  202: a progress report
//        {"percent": n, "message": "..."} of the event in flight (percent a
//        number >= 0, over 100 counts as 100; message optional, cut to 1 KiB).
//        A body that is not such an object → 400 InvalidRequest, over 64 KiB
//        (or max_payload_bytes when lower) → 413; an unknown or answered id → 400 like a response
//        post. These refusals leave the server usable: a report is advisory. Reports pass a
//        ProgressThrottle (runtime/progress.h) per invocation and reach
//        ExecutionRequest::on_progress on the thread calling Invoke, in order, the last one before
//        Invoke returns.
// Protocol violations are answered with a JSON body
// {"errorMessage": ..., "errorType": ...}: a post for an unknown request id,
// a second post for the same id or a /next before answering the current
// event → 400; a body over the payload limit → 413 (the invocation fails
// with "ResponseTooLarge"); an init error after init → 403; an unknown path
// → 404. Every violation but 404 makes the server unusable(): the worker
// behind it must be replaced.
//
// Example (what LambdaWorker does):
//   RuntimeApiServer api({.function_name = "thumbnail"});
//   if (absl::Status s = api.Start(); !s.ok()) return s;
//   ... start the bootstrap with AWS_LAMBDA_RUNTIME_API=127.0.0.1:<api.port()> ...
//   absl::Status init = api.WaitForFirstNext(absl::Now() + absl::Seconds(10), exited);
//   ExecutionResult result = api.Invoke(request, exited);
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/executor.h"
#include "runtime/progress.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
class Server;
}  // namespace httplib

namespace sluice {

// Error types of results that the function did not produce itself.
// kTimeoutError: the deadline passed first.
inline constexpr char kTimeoutError[] = "Timeout";
// kCancelledError: the request's cancel flag was set first.
inline constexpr char kCancelledError[] = "Cancelled";
// kCrashError: the worker process exited first.
inline constexpr char kCrashError[] = "Crash";
// kResponseTooLargeError: the response or error body exceeded the limit.
inline constexpr char kResponseTooLargeError[] = "ResponseTooLarge";
// kProtocolError: the runtime broke the Runtime API protocol while the
// invocation ran (a post for another id, a /next before answering, ...).
inline constexpr char kProtocolError[] = "ProtocolError";
// kWorkerUnavailableError: Invoke was called on a server that is stopped,
// unusable or busy; the invocation never reached the function.
inline constexpr char kWorkerUnavailableError[] = "WorkerUnavailable";
// kUnhandledError: the type of a function error that named none.
inline constexpr char kUnhandledError[] = "Unhandled";

struct RuntimeApiOptions {
  // The function's name, for Lambda-Runtime-Invoked-Function-Arn.
  std::string function_name;
  // Largest response or error body accepted, in bytes (AWS: 6 MiB).
  size_t max_payload_bytes = 6 * 1024 * 1024;
  // HTTP handler threads; a pending /next holds one.
  int threads = 4;
};

// RuntimeApiServer serves the Runtime API for one worker process, on
// 127.0.0.1 and a port chosen by the system. It hands over one invocation
// at a time.
//
// Thread-safe. Invoke and WaitForFirstNext are meant to be called by the one
// thread that owns the worker, not concurrently with each other (a second
// concurrent Invoke returns kWorkerUnavailableError). Stop may be called from
// any thread, also while Invoke waits.
class RuntimeApiServer {
 public:
  // ProcessExited tells whether the worker process has exited; called
  // without locks held, from the thread calling Invoke or WaitForFirstNext.
  using ProcessExited = absl::FunctionRef<bool()>;

  explicit RuntimeApiServer(RuntimeApiOptions options);
  // Stops the server (see Stop).
  ~RuntimeApiServer();
  RuntimeApiServer(const RuntimeApiServer&) = delete;
  RuntimeApiServer& operator=(const RuntimeApiServer&) = delete;

  // Start binds 127.0.0.1:0 and starts serving. Call once. UNAVAILABLE when
  // no port can be bound.
  absl::Status Start();

  // port is the bound port; 0 before Start.
  int port() const { return port_; }

  // WaitForFirstNext blocks until the runtime calls /next for the first time
  // (initialisation finished). Errors: FAILED_PRECONDITION "TYPE: MESSAGE"
  // when the runtime posted /init/error; ABORTED when `process_exited`
  // returned true; DEADLINE_EXCEEDED at `deadline`; CANCELLED when Stop was
  // called. Returns OK at once if /next was already called.
  absl::Status WaitForFirstNext(absl::Time deadline, ProcessExited process_exited);

  // Invoke hands `request` to the runtime's /next and blocks until the
  // runtime posts its response or error, or until the request's deadline
  // (kTimeoutError), its cancel flag (kCancelledError), the process's exit
  // (kCrashError) or Stop. The id of the request is its invocation_id. A
  // result from the function wins over a deadline, cancellation or exit
  // observed at the same time. After a timeout, a cancellation or an exit the
  // runtime may still be working on the event, so the server becomes
  // unusable(). Progress the runtime posts for the request is passed to
  // request.on_progress on this thread while Invoke waits, and never after it
  // returned.
  ExecutionResult Invoke(const ExecutionRequest& request, ProcessExited process_exited);

  // usable is false after a protocol violation, an abandoned invocation or
  // Stop; unusable_reason then says why.
  bool usable() const;
  std::string unusable_reason() const;

  // Stop answers a pending /next with 500, makes Invoke and WaitForFirstNext
  // return, stops serving and joins the server's threads. Idempotent.
  void Stop();

 private:
  struct Invocation;
  enum class PostKind { kResponse, kError, kInitError };

  void HandleNext(httplib::Response& response);
  void HandlePost(PostKind kind, const httplib::Request& request, httplib::Response& response,
                  const httplib::ContentReader& content_reader);
  void HandleProgress(const httplib::Request& request, httplib::Response& response,
                      const httplib::ContentReader& content_reader);
  // MarkUnusableLocked records the first reason the worker must be replaced.
  void MarkUnusableLocked(const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FailInFlightLocked ends the invocation the runtime holds, if any, with
  // `type` and `message`.
  void FailInFlightLocked(const std::string& type, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Abandon ends the wait for current_ with `type` and `message`, unless its
  // result arrived meanwhile; passes remaining progress on first.
  ExecutionResult Abandon(const ExecutionRequest& request, const std::string& type,
                          const std::string& message);
  // TakeProgressLocked removes the reports of current_ that are due (all of
  // them, the coalesced one too, when `final`).
  std::vector<ProgressReport> TakeProgressLocked(bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NextReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InvocationSettledLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // InvocationEventLocked: settled, or progress waits to be passed on.
  bool InvocationEventLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InitSettledLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewTraceIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction (port_ and thread_ after Start).
  const RuntimeApiOptions options_;
  const std::string function_arn_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The first /next was seen: initialisation is over.
  bool init_done_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the runtime posted /init/error: "TYPE: MESSAGE".
  std::optional<std::string> init_error_ ABSL_GUARDED_BY(mu_);
  // Non-empty once the worker must be replaced.
  std::string unusable_reason_ ABSL_GUARDED_BY(mu_);
  // The invocation Invoke is waiting for, if any.
  std::unique_ptr<Invocation> current_ ABSL_GUARDED_BY(mu_);
  // Ids answered lately, to tell a second post from an unknown id.
  std::deque<std::string> answered_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
