// Logs API call behind `sluice logs`.
#include "cli/logs_command.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "sluice/v1/logs.grpc.pb.h"

namespace sluice::cli {
namespace {

// Write end of the pipe of the live CancelOnInterrupt, or -1.
std::atomic<int> interrupt_pipe{-1};

void OnInterrupt(int) {
  const int saved_errno = errno;
  const int fd = interrupt_pipe.load();
  if (fd >= 0) {
    const char byte = 'i';
    [[maybe_unused]] const ssize_t written = write(fd, &byte, 1);
  }
  errno = saved_errno;
}

// CancelOnInterrupt cancels a call when SIGINT arrives, for as long as it
// lives; then the previous SIGINT disposition is back. The handler only
// writes to a pipe; a thread of its own cancels. At most one may live at a
// time. When SIGINT is ignored, or the pipe cannot be made, it does nothing.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(grpc::ClientContext* context) {
    struct sigaction current {};
    if (sigaction(SIGINT, nullptr, &current) != 0 || current.sa_handler == SIG_IGN) return;
    if (pipe2(pipe_, O_CLOEXEC) != 0) return;
    // The handler must never block.
    fcntl(pipe_[1], F_SETFL, fcntl(pipe_[1], F_GETFL) | O_NONBLOCK);
    thread_ = std::thread([this, context] {
      char byte = 0;
      while (true) {
        const ssize_t n = read(pipe_[0], &byte, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the destructor closed the write end
        interrupted_ = true;
        context->TryCancel();
      }
    });
    interrupt_pipe = pipe_[1];
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    installed_ = sigaction(SIGINT, &action, &previous_) == 0;
  }

  ~CancelOnInterrupt() {
    if (installed_) sigaction(SIGINT, &previous_, nullptr);
    interrupt_pipe = -1;
    if (pipe_[1] >= 0) close(pipe_[1]);
    if (thread_.joinable()) thread_.join();
    if (pipe_[0] >= 0) close(pipe_[0]);
  }

  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

  // Whether SIGINT arrived (and the call was cancelled).
  bool interrupted() const { return interrupted_; }

 private:
  int pipe_[2] = {-1, -1};
  bool installed_ = false;
  struct sigaction previous_ {};
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

}  // namespace

std::string LogLineText(const v1::LogEntry& entry) {
  return absl::StrCat(FormatTimeMillis(entry.time()), "  ",
                      entry.invocation_id().empty() ? "-" : entry.invocation_id(), "  ",
                      entry.stream().empty() ? "-" : entry.stream(), "  ", entry.text(), "\n");
}

int RunLogs(const LogsFlags& flags, const ClientConfig& config, Console& console) {
  v1::Logs::Stub stub(OpenChannel(config.server));
  v1::TailLogsRequest request;
  request.set_function(flags.function);
  if (flags.lines.has_value()) request.set_lines(*flags.lines);
  request.set_follow(flags.follow);

  grpc::ClientContext context;
  std::unique_ptr<CancelOnInterrupt> interrupt;
  if (flags.follow) interrupt = std::make_unique<CancelOnInterrupt>(&context);
  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> stream = stub.Tail(&context, request);
  v1::LogEntry entry;
  while (stream->Read(&entry)) {
    if (config.format == OutputFormat::kJson) {
      if (const int code = PrintJson(entry, console); code != kExitOk) {
        context.TryCancel();
        stream->Finish();
        return code;
      }
    } else {
      console.out << LogLineText(entry) << std::flush;
    }
  }
  const grpc::Status status = stream->Finish();
  // Ctrl-C is how a follow ends.
  if (interrupt != nullptr && interrupt->interrupted()) return kExitOk;
  if (!status.ok()) return ReportRpcFailure(status, context, config, console);
  return kExitOk;
}

}  // namespace sluice::cli
