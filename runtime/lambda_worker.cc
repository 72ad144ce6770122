// LambdaWorker: a bootstrap process, its Runtime API server and its output.
#include "runtime/lambda_worker.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "monitoring/trace_context.h"

namespace sluice {
namespace {

// Bytes of stderr kept for error messages.
constexpr size_t kStderrTailBytes = 2048;

// The variables of the Runtime API contract, which the spec cannot change.
constexpr absl::string_view kReservedVariables[] = {
    "AWS_LAMBDA_RUNTIME_API",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
};

bool IsReserved(absl::string_view key) {
  for (absl::string_view reserved : kReservedVariables) {
    if (key == reserved) return true;
  }
  return false;
}

// SetVariable sets `key` in `env` ("KEY=value" entries), replacing an
// earlier value.
void SetVariable(std::vector<std::string>& env, absl::string_view key, absl::string_view value) {
  const std::string prefix = absl::StrCat(key, "=");
  for (std::string& entry : env) {
    if (absl::string_view(entry).substr(0, prefix.size()) == prefix) {
      entry = absl::StrCat(prefix, value);
      return;
    }
  }
  env.push_back(absl::StrCat(prefix, value));
}

std::string WithTail(std::string message, const std::string& tail) {
  if (!tail.empty()) absl::StrAppend(&message, ": ", tail);
  return message;
}

}  // namespace

LambdaWorker::LambdaWorker(LambdaWorkerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<LambdaWorker>> LambdaWorker::Start(LambdaWorkerOptions options) {
  std::unique_ptr<LambdaWorker> worker(new LambdaWorker(std::move(options)));
  absl::Status started = worker->Init();
  if (!started.ok()) return started;
  return worker;
}

absl::Status LambdaWorker::Init() {
  server_ = std::make_unique<RuntimeApiServer>(RuntimeApiOptions{
      .function_name = options_.function_name,
      .max_payload_bytes = options_.max_payload_bytes,
  });
  if (absl::Status started = server_->Start(); !started.ok()) return started;

  ProcessSpec spec;
  spec.argv = {absl::StrCat(options_.task_root, "/bootstrap")};
  spec.env = Environment(server_->port());
  spec.working_dir = options_.task_root;
  spec.limits = options_.limits;
  spec.cgroup_root = options_.cgroup_root;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  if (!process.ok()) {
    return absl::Status(process.status().code(),
                        absl::StrCat("starting bootstrap: ", process.status().message()));
  }
  process_ = *std::move(process);
  pid_ = process_->pid();
  pump_ = std::make_unique<OutputPump>(
      process_->stdout_fd(), process_->stderr_fd(),
      [this](const char* stream, std::string line) { OnLine(stream, std::move(line)); });

  const absl::Status init = server_->WaitForFirstNext(
      absl::Now() + options_.init_timeout, [this] { return process_->TryWait().has_value(); });
  if (init.ok()) return absl::OkStatus();
  const int status = KillAndReap();
  switch (init.code()) {
    case absl::StatusCode::kAborted:
      return absl::FailedPreconditionError(
          WithTail(absl::StrCat("init failed: ", Subprocess::DescribeExit(status)), StderrTail()));
    case absl::StatusCode::kFailedPrecondition:
      return absl::FailedPreconditionError(absl::StrCat("init failed: ", init.message()));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(
          WithTail(absl::StrCat("init timed out: the bootstrap did not call /next within ",
                                absl::FormatDuration(options_.init_timeout)),
                   StderrTail()));
    default:
      return init;
  }
}

LambdaWorker::~LambdaWorker() {
  if (process_ != nullptr) KillAndReap();
  if (server_ != nullptr) server_->Stop();
}

ExecutionResult LambdaWorker::Run(const ExecutionRequest& request) {
  if (killed_) {
    return ExecutionResult::Error(kWorkerUnavailableError, "the worker's process was killed");
  }
  {
    absl::MutexLock lock(&log_mu_);
    invocation_id_ = request.invocation_id;
    trace_id_ = TraceIdOf(request.traceparent);
  }
  ExecutionResult result =
      server_->Invoke(request, [this] { return process_->TryWait().has_value(); });
  if (pump_ != nullptr) pump_->Drain();  // what the attempt printed is tagged with it
  {
    absl::MutexLock lock(&log_mu_);
    invocation_id_.clear();
    trace_id_.clear();
  }
  if (result.ok) return result;
  if (result.error_type == kTimeoutError || result.error_type == kCancelledError) {
    KillAndReap();
  } else if (result.error_type == kCrashError) {
    const int status = KillAndReap();
    result.error_message = WithTail(Subprocess::DescribeExit(status), StderrTail());
  }
  return result;
}

bool LambdaWorker::Reusable() const {
  return !killed_ && server_->usable() && !process_->TryWait().has_value();
}

int LambdaWorker::KillAndReap() {
  killed_ = true;
  process_->Kill();
  const int status = process_->Wait();
  // The whole group is gone, so both pipes reach end-of-file.
  pump_.reset();
  return status;
}

void LambdaWorker::OnLine(const char* stream, std::string line) {
  const bool is_stderr = absl::string_view(stream) == "stderr";
  LogLine log_line;
  {
    absl::MutexLock lock(&log_mu_);
    if (is_stderr) {
      if (!stderr_tail_.empty()) stderr_tail_ += '\n';
      stderr_tail_ += line;
      if (stderr_tail_.size() > kStderrTailBytes) {
        stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
      }
    }
    if (options_.logs == nullptr) return;
    log_line.invocation_id = invocation_id_;
    log_line.trace_id = trace_id_;
  }
  log_line.time = absl::Now();
  log_line.function = options_.function_name;
  log_line.version = options_.function_version;
  log_line.stream = stream;
  log_line.text = std::move(line);
  options_.logs->Append(std::move(log_line));
}

std::string LambdaWorker::StderrTail() const {
  absl::MutexLock lock(&log_mu_);
  return stderr_tail_;
}

std::vector<std::string> LambdaWorker::Environment(int port) const {
  std::vector<std::string> env = {
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "LANG=C.UTF-8",
      "TZ=:UTC",
  };
  for (const std::string& entry : options_.env) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) continue;
    const absl::string_view key = absl::string_view(entry).substr(0, equals);
    if (IsReserved(key)) continue;
    SetVariable(env, key, absl::string_view(entry).substr(equals + 1));
  }
  SetVariable(env, "AWS_LAMBDA_RUNTIME_API", absl::StrCat("127.0.0.1:", port));
  SetVariable(env, "_HANDLER", options_.handler);
  SetVariable(env, "LAMBDA_TASK_ROOT", options_.task_root);
  SetVariable(env, "AWS_LAMBDA_FUNCTION_NAME", options_.function_name);
  SetVariable(env, "AWS_LAMBDA_FUNCTION_VERSION", absl::StrCat(options_.function_version));
  SetVariable(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", absl::StrCat(options_.memory_mb));
  return env;
}

}  // namespace sluice
