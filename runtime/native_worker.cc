#include "runtime/native_worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "monitoring/trace_context.h"
#include "runtime/frames.h"
#include "runtime/native_executor.h"
#include "runtime/progress.h"
#include "sluice/internal/worker.pb.h"

namespace sluice {

int RunWorkerProcess(int fd, const std::string& artifact, const std::string& entry_point) {
  absl::StatusOr<std::unique_ptr<Executor>> executor = LoadNativeFunction(artifact, entry_point);
  internal::WorkerReady ready;
  ready.set_ok(executor.ok());
  if (!executor.ok()) ready.set_error(std::string(executor.status().message()));
  if (!WriteFrame(fd, ready).ok() || !executor.ok()) return executor.ok() ? 1 : 2;
  FrameReader reader(fd);
  while (true) {
    internal::WorkRequest work;
    absl::Status read = reader.Read(work);
    if (absl::IsUnavailable(read)) return 0;  // the executor closed the stream
    if (!read.ok()) return 3;
    ExecutionRequest request;
    request.invocation_id = work.invocation_id();
    request.function_name = work.function_name();
    request.function_version = work.function_version();
    request.attempt = work.attempt();
    request.deadline = absl::FromUnixMillis(work.deadline_unix_ms());
    request.payload = std::move(*work.mutable_payload());
    for (const auto& [key, value] : work.metadata()) request.metadata.emplace_back(key, value);
    request.traceparent = work.traceparent();
    request.tracestate = work.tracestate();
    // The executor passes reports on in order and already rate-limited, from
    // within Execute only, so frames never interleave with the response.
    request.on_progress = [fd](uint32_t percent, const std::string& message) {
      internal::WorkerMessage frame;
      frame.mutable_progress()->set_percent(percent);
      frame.mutable_progress()->set_message(message);
      (void)WriteFrame(fd, frame);  // a lost executor shows at the response
    };
    ExecutionResult result = (*executor)->Execute(request);
    if (result.ok && result.output.size() > kMaxFrameBytes - 1024) {
      result = ExecutionResult::Error("OutputTooLarge",
                                      absl::StrCat("the output of ", result.output.size(),
                                                   " bytes is over the limit of a worker frame"));
    }
    internal::WorkResponse response;
    response.set_ok(result.ok);
    response.set_error_type(std::move(result.error_type));
    response.set_error_message(std::move(result.error_message));
    // The output goes out from where the function left it, as the response
    // field of a WorkerMessage.
    if (!WriteFrame(fd, response, {internal::WorkResponse::kOutputFieldNumber, result.output},
                    internal::WorkerMessage::kResponseFieldNumber)
             .ok()) {
      return 0;
    }
  }
}

absl::StatusOr<std::unique_ptr<NativeWorker>> NativeWorker::Start(NativeWorkerOptions options) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError("socketpair failed");
  }
  std::unique_ptr<NativeWorker> worker(new NativeWorker(std::move(options)));
  const NativeWorkerOptions& o = worker->options_;
  ProcessSpec spec;
  spec.argv = {o.worker_binary, "worker",        "--artifact",
               o.artifact_path, "--entry-point", o.entry_point};
  spec.env = o.env;
  spec.working_dir = o.working_dir;
  spec.limits = o.limits;
  spec.cgroup_root = o.cgroup_root;
  spec.fd3 = fds[1];
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  close(fds[1]);
  if (!process.ok()) {
    close(fds[0]);
    return process.status();
  }
  worker->process_ = *std::move(process);
  worker->socket_ = fds[0];
  worker->reader_ = std::make_unique<FrameReader>(fds[0]);
  NativeWorker* self = worker.get();
  worker->pump_ =
      std::make_unique<OutputPump>(worker->process_->stdout_fd(), worker->process_->stderr_fd(),
                                   [self](const char* stream, std::string line) {
                                     if (self->options_.logs == nullptr) return;
                                     LogLine log;
                                     log.time = absl::Now();
                                     log.function = self->options_.function_name;
                                     log.version = self->options_.function_version;
                                     {
                                       absl::MutexLock lock(&self->mu_);
                                       log.invocation_id = self->current_invocation_;
                                       log.trace_id = self->current_trace_;
                                     }
                                     log.stream = stream;
                                     log.text = std::move(line);
                                     self->options_.logs->Append(std::move(log));
                                   });

  internal::WorkerReady ready;
  absl::Status read = worker->reader_->Read(ready, absl::Now() + o.init_timeout);
  if (absl::IsDeadlineExceeded(read)) {
    worker->Died();
    return absl::DeadlineExceededError(absl::StrCat("the worker did not load the function within ",
                                                    absl::FormatDuration(o.init_timeout)));
  }
  if (!read.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the worker process ended while starting: ", worker->Died()));
  }
  if (!ready.ok()) {
    worker->Died();
    return absl::InvalidArgumentError(ready.error());
  }
  return worker;
}

NativeWorker::~NativeWorker() {
  if (socket_ >= 0) close(socket_);  // a healthy worker exits at end of stream
  if (process_ != nullptr) process_->Kill();
  pump_.reset();  // drains to end-of-file now that the group is gone
  process_.reset();
}

std::string NativeWorker::Died() {
  reusable_ = false;
  process_->Kill();
  return Subprocess::DescribeExit(process_->Wait());
}

ExecutionResult NativeWorker::Run(const ExecutionRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    current_invocation_ = request.invocation_id;
    current_trace_ = TraceIdOf(request.traceparent);
  }
  internal::WorkRequest work;
  work.set_invocation_id(request.invocation_id);
  work.set_function_name(request.function_name);
  work.set_function_version(request.function_version);
  work.set_attempt(request.attempt);
  work.set_deadline_unix_ms(request.deadline == absl::InfiniteFuture()
                                ? INT64_MAX
                                : absl::ToUnixMillis(request.deadline));
  for (const auto& [key, value] : request.metadata) (*work.mutable_metadata())[key] = value;
  work.set_traceparent(request.traceparent);
  work.set_tracestate(request.tracestate);

  ExecutionResult result;
  internal::WorkResponse response;
  // The worker rate-limits its reports already; this looser limit only
  // guards against a worker that floods frames (its pending report is passed
  // on with the next frame or when the attempt ends).
  ProgressThrottle guard(2 * ProgressThrottle::kDefaultBurst,
                         ProgressThrottle::kDefaultInterval / 2);
  auto deliver = [&request](const std::optional<ProgressReport>& report) {
    if (report.has_value()) request.on_progress(report->percent, report->message);
  };
  // The payload goes out from the request, not copied into `work`.
  absl::Status status =
      WriteFrame(socket_, work, {internal::WorkRequest::kPayloadFieldNumber, request.payload});
  internal::WorkerMessage frame;
  while (status.ok()) {
    frame.Clear();
    status =
        reader_->Read(frame, request.deadline, [&request] { return request.cancel->cancelled(); });
    if (!status.ok()) break;
    if (frame.has_response()) {
      response = std::move(*frame.mutable_response());
      break;
    }
    if (!frame.has_progress()) {
      status = absl::DataLossError("the worker sent a frame of no known kind");
      break;
    }
    if (request.on_progress) {
      deliver(guard.Offer(NormalizeProgress(frame.progress().percent(), frame.progress().message()),
                          absl::Now()));
    }
  }
  if (request.on_progress) deliver(guard.Flush());
  if (status.ok()) {
    pump_->Drain();  // what the attempt printed is tagged with it
    result.ok = response.ok();
    result.output = std::move(*response.mutable_output());
    result.error_type = std::move(*response.mutable_error_type());
    result.error_message = std::move(*response.mutable_error_message());
  } else if (absl::IsDeadlineExceeded(status)) {
    Died();
    result = ExecutionResult::Error("Timeout", "the worker was killed at the deadline");
  } else if (absl::IsCancelled(status)) {
    Died();
    result =
        ExecutionResult::Error("Cancelled", "the worker was killed: the attempt was cancelled");
  } else {
    result = ExecutionResult::Error("Crash", absl::StrCat("the worker process ended: ", Died()));
  }
  absl::MutexLock lock(&mu_);
  current_invocation_.clear();
  current_trace_.clear();
  return result;
}

}  // namespace sluice
