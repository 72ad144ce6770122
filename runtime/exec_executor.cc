#include "runtime/exec_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "runtime/output_pump.h"

namespace sluice {
namespace {

constexpr size_t kStderrTail = 4 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
// How often deadline and cancel flag are looked at while nothing happens.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

void SetNonBlocking(int fd) {
  if (fd < 0) return;
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// WriteNoSigpipe writes like write(2), but a closed reading end gives EPIPE
// without raising SIGPIPE at the server.
ssize_t WriteNoSigpipe(int fd, const char* data, size_t len) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t n = write(fd, data, len);
  const int write_errno = errno;
  if (n < 0 && write_errno == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = write_errno;
  return n;
}

// Attempt runs one process from start to reaping. Used by one thread.
class Attempt {
 public:
  Attempt(const ExecOptions& options, const ExecutionRequest& request, Subprocess& process)
      : options_(options), request_(request), process_(process) {}

  ExecutionResult Run() {
    SetNonBlocking(process_.stdin_fd());
    SetNonBlocking(process_.stdout_fd());
    SetNonBlocking(process_.stderr_fd());
    // A pidfd turns readable when the process exits, so the loop wakes at
    // once; without one (old kernels) TryWait is asked every interval.
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, process_.pid(), 0));
    ExecutionResult result = Loop(pidfd);
    if (pidfd >= 0) close(pidfd);
    return result;
  }

 private:
  ExecutionResult Loop(int pidfd) {
    if (request_.payload.empty()) process_.CloseStdin();
    std::optional<int> status;
    while (!status.has_value()) {
      const absl::Time now = absl::Now();
      if (now >= request_.deadline) {
        return Stop("Timeout", "the function ran past its deadline and was killed");
      }
      if (request_.cancel->cancelled()) {
        return Stop("Cancelled", "the invocation was cancelled and the function was killed");
      }
      pollfd fds[4] = {{process_.stdin_fd(), POLLOUT, 0},
                       {stdout_open_ ? process_.stdout_fd() : -1, POLLIN, 0},
                       {stderr_open_ ? process_.stderr_fd() : -1, POLLIN, 0},
                       {pidfd, POLLIN, 0}};
      const absl::Duration wait = std::min(kPollInterval, request_.deadline - now);
      const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(
          absl::Ceil(std::max(wait, absl::ZeroDuration()), absl::Milliseconds(1))));
      if (poll(fds, 4, timeout_ms) < 0 && errno != EINTR) {
        return Stop("InternalError", absl::StrCat("poll: ", strerrordesc_np(errno)));
      }
      if (fds[0].revents != 0) WriteStdin();
      if (fds[1].revents != 0) ReadStdout();
      if (stdout_.size() > options_.max_output_bytes) return TooLarge();
      if (fds[2].revents != 0) ReadStderr();
      if (pidfd < 0 || fds[3].revents != 0) status = process_.TryWait();
    }
    // The process is gone and what was left of its group killed: all it
    // wrote is in the pipes now. Read it without waiting for end-of-file,
    // which a process that escaped the group could hold back.
    while (stdout_open_ && ReadStdout() == Read::kData) {
      if (stdout_.size() > options_.max_output_bytes) return TooLarge();
    }
    while (stderr_open_ && ReadStderr() == Read::kData) {
    }
    FlushStderr();
    if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
      return ExecutionResult::Success(std::move(stdout_));
    }
    const char* type = WIFSIGNALED(*status) ? "Crash" : "NonZeroExit";
    return ExecutionResult::Error(type, WithTail(Subprocess::DescribeExit(*status)));
  }

  // Stop kills the process group, reaps the process and fails the attempt.
  ExecutionResult Stop(std::string type, std::string message) {
    process_.Kill();
    process_.Wait();
    FlushStderr();
    return ExecutionResult::Error(std::move(type), std::move(message));
  }

  ExecutionResult TooLarge() {
    return Stop("OutputTooLarge",
                absl::StrCat("stdout exceeded ", options_.max_output_bytes, " bytes"));
  }

  void WriteStdin() {
    const std::string& payload = request_.payload;
    const ssize_t n = WriteNoSigpipe(process_.stdin_fd(), payload.data() + written_,
                                     std::min(kReadChunk, payload.size() - written_));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // EPIPE: the program does not read its input; that is its business.
    if (n < 0) {
      process_.CloseStdin();
      return;
    }
    written_ += static_cast<size_t>(n);
    if (written_ == payload.size()) process_.CloseStdin();
  }

  // What one read from a pipe gave.
  enum class Read { kData, kNothing, kClosed };

  // ReadOnce reads up to kReadChunk bytes of `fd` into `into`, noting
  // end-of-file (or a broken pipe) in `open`.
  static Read ReadOnce(int fd, char* into, ssize_t& n, bool& open) {
    n = read(fd, into, kReadChunk);
    if (n > 0) return Read::kData;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Read::kNothing;
    open = false;
    return Read::kClosed;
  }

  // ReadStdout appends what stdout has to the output.
  Read ReadStdout() {
    const size_t old_size = stdout_.size();
    stdout_.resize(old_size + kReadChunk);
    ssize_t n = 0;
    const Read r = ReadOnce(process_.stdout_fd(), stdout_.data() + old_size, n, stdout_open_);
    stdout_.resize(old_size + (r == Read::kData ? static_cast<size_t>(n) : 0));
    return r;
  }

  // ReadStderr logs every complete line stderr has and keeps its tail.
  Read ReadStderr() {
    char buffer[kReadChunk];
    ssize_t n = 0;
    const Read r = ReadOnce(process_.stderr_fd(), buffer, n, stderr_open_);
    if (r != Read::kData) return r;
    const absl::string_view data(buffer, static_cast<size_t>(n));
    tail_.append(data.data(), data.size());
    if (tail_.size() > kStderrTail) tail_.erase(0, tail_.size() - kStderrTail);
    if (options_.logs == nullptr) return r;
    line_.append(data.data(), data.size());
    size_t start = 0;
    while (true) {
      const size_t newline = line_.find('\n', start);
      const size_t end = newline == std::string::npos ? line_.size() : newline;
      if (end - start > OutputPump::kMaxLine) {
        Log(line_.substr(start, OutputPump::kMaxLine));
        start += OutputPump::kMaxLine;
        continue;
      }
      if (newline == std::string::npos) break;
      Log(line_.substr(start, newline - start));
      start = newline + 1;
    }
    line_.erase(0, start);
    return r;
  }

  void FlushStderr() {
    if (!line_.empty()) Log(std::move(line_));
    line_.clear();
  }

  void Log(std::string text) {
    if (options_.logs == nullptr) return;
    LogLine line;
    line.time = absl::Now();
    line.function =
        options_.function_name.empty() ? request_.function_name : options_.function_name;
    line.version =
        options_.function_version != 0 ? options_.function_version : request_.function_version;
    line.invocation_id = request_.invocation_id;
    line.stream = "stderr";
    line.text = std::move(text);
    options_.logs->Append(std::move(line));
  }

  std::string WithTail(std::string message) const {
    absl::string_view tail = absl::StripTrailingAsciiWhitespace(tail_);
    if (tail.empty()) return message;
    return absl::StrCat(message, ": ", tail);
  }

  const ExecOptions& options_;
  const ExecutionRequest& request_;
  Subprocess& process_;
  size_t written_ = 0;
  bool stdout_open_ = true;
  bool stderr_open_ = true;
  std::string stdout_;
  std::string tail_;  // the last kStderrTail bytes of stderr
  std::string line_;  // stderr after its last complete line
};

// IsSetBy tells whether "KEY=value" sets one of the executor's variables.
bool IsSetBy(const std::string& var, const std::vector<std::string>& ours) {
  for (const std::string& mine : ours) {
    const size_t eq = mine.find('=');
    if (absl::StartsWith(var, absl::string_view(mine).substr(0, eq + 1))) return true;
  }
  return false;
}

class ExecExecutor final : public Executor {
 public:
  explicit ExecExecutor(ExecOptions options) : options_(std::move(options)) {}

  ExecutionResult Execute(const ExecutionRequest& request) override {
    if (absl::Now() >= request.deadline) {
      return ExecutionResult::Error("Timeout", "the deadline passed before the function started");
    }
    if (request.cancel->cancelled()) {
      return ExecutionResult::Error("Cancelled", "the invocation was cancelled before it started");
    }
    const int64_t deadline_ms = request.deadline == absl::InfiniteFuture()
                                    ? INT64_MAX
                                    : absl::ToUnixMillis(request.deadline);
    std::vector<std::string> ours = {
        absl::StrCat("SLUICE_INVOCATION_ID=", request.invocation_id),
        absl::StrCat("SLUICE_ATTEMPT=", request.attempt),
        absl::StrCat("SLUICE_DEADLINE_MS=", deadline_ms),
        absl::StrCat("SLUICE_FUNCTION_NAME=", options_.function_name.empty()
                                                  ? request.function_name
                                                  : options_.function_name),
        absl::StrCat("SLUICE_FUNCTION_VERSION=", options_.function_version != 0
                                                     ? options_.function_version
                                                     : request.function_version)};
    // The attempt's trace context, as OpenTelemetry's environment carriers.
    if (!request.traceparent.empty()) {
      ours.push_back(absl::StrCat("TRACEPARENT=", request.traceparent));
      if (!request.tracestate.empty()) {
        ours.push_back(absl::StrCat("TRACESTATE=", request.tracestate));
      }
    }
    ProcessSpec spec;
    spec.argv = {options_.program};
    spec.env.reserve(options_.env.size() + ours.size());
    for (const std::string& var : options_.env) {
      if (!IsSetBy(var, ours)) spec.env.push_back(var);
    }
    spec.env.insert(spec.env.end(), ours.begin(), ours.end());
    spec.working_dir = options_.working_dir;
    spec.limits = options_.limits;
    spec.pipe_stdin = true;
    spec.cgroup_root = options_.cgroup_root;

    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
    if (!process.ok()) {
      return ExecutionResult::Error(
          "FunctionLoadError",
          absl::StrCat("could not start \"", options_.program, "\": ", process.status().message()));
    }
    // The Subprocess destructor reaps the process and closes its pipes.
    return Attempt(options_, request, **process).Run();
  }

 private:
  const ExecOptions options_;
};

}  // namespace

std::unique_ptr<Executor> NewExecExecutor(ExecOptions options) {
  return std::make_unique<ExecExecutor>(std::move(options));
}

}  // namespace sluice
