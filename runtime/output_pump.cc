#include "runtime/output_pump.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace sluice {
namespace {

// Stream is one drained descriptor and the line it has not finished yet.
struct Stream {
  const char* name;
  int fd;
  std::string partial;
};

// Emit hands every complete line in `stream.partial` (and every kMaxLine
// piece of an overlong one) to `on_line`, keeping the unfinished rest.
void Emit(Stream& stream, OutputPump::LineFn& on_line) {
  size_t start = 0;
  while (true) {
    const size_t newline = stream.partial.find('\n', start);
    const size_t end = newline == std::string::npos ? stream.partial.size() : newline;
    if (end - start > OutputPump::kMaxLine) {
      on_line(stream.name, stream.partial.substr(start, OutputPump::kMaxLine));
      start += OutputPump::kMaxLine;
      continue;
    }
    if (newline == std::string::npos) break;
    on_line(stream.name, stream.partial.substr(start, newline - start));
    start = newline + 1;
  }
  stream.partial.erase(0, start);
}

}  // namespace

OutputPump::OutputPump(int stdout_fd, int stderr_fd, LineFn on_line)
    : on_line_(std::move(on_line)), fds_{stdout_fd, stderr_fd} {
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this, stdout_fd, stderr_fd] { Loop(stdout_fd, stderr_fd); });
}

OutputPump::~OutputPump() {
  thread_.join();
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
}

bool OutputPump::PipesQuiet() const {
  // poll() skips negative descriptors; a pipe at end-of-file reports POLLHUP
  // and so counts as not quiet, which only sends Drain the slow way.
  pollfd fds[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
  return poll(fds, 2, 0) == 0;
}

void OutputPump::Drain() {
  absl::MutexLock lock(&mu_);
  if (finished_ || wake_[1] < 0) return;
  // The usual case, an attempt that printed nothing: no byte is in either
  // pipe, and none the pump took out is still being handed on (the pump
  // marks a read under mu_ before it takes anything out of a pipe).
  if (reading_ == 0 && PipesQuiet()) return;
  const uint64_t ticket = ++drains_requested_;
  const char byte = 1;
  if (write(wake_[1], &byte, 1) < 0 && errno != EAGAIN) return;  // a wake-up is pending anyway
  struct Args {
    OutputPump* pump;
    uint64_t ticket;
  } args{this, ticket};
  mu_.Await(absl::Condition(
      +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return a->pump->finished_ || a->pump->drains_done_ >= a->ticket;
      },
      &args));
}

void OutputPump::Loop(int stdout_fd, int stderr_fd) {
  Stream streams[2] = {{"stdout", stdout_fd, {}}, {"stderr", stderr_fd, {}}};
  char buffer[64 * 1024];
  // ReadOnce reads what `stream` has; false once it reached end-of-file.
  auto read_once = [&](Stream& stream) {
    {
      absl::MutexLock lock(&mu_);
      ++reading_;
    }
    struct Done {
      OutputPump* pump;
      ~Done() {
        absl::MutexLock lock(&pump->mu_);
        --pump->reading_;
      }
    } done{this};
    const ssize_t n = read(stream.fd, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) {
      // End of file (or an error, which ends the stream just the same):
      // the last line may lack its newline.
      Emit(stream, on_line_);
      if (!stream.partial.empty()) on_line_(stream.name, std::move(stream.partial));
      stream.partial.clear();
      stream.fd = -1;
      return false;
    }
    stream.partial.append(buffer, static_cast<size_t>(n));
    Emit(stream, on_line_);
    return true;
  };
  while (streams[0].fd >= 0 || streams[1].fd >= 0) {
    // poll() skips negative descriptors.
    pollfd fds[3] = {{streams[0].fd, POLLIN, 0}, {streams[1].fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (streams[i].fd >= 0 && fds[i].revents != 0) read_once(streams[i]);
    }
    if (fds[2].revents != 0) {
      char wake[64];
      while (read(wake_[0], wake, sizeof wake) > 0) {
      }
      uint64_t requested;
      {
        absl::MutexLock lock(&mu_);
        requested = drains_requested_;
      }
      // Read until neither pipe has anything left right now, or at most
      // 1 MiB each, so that a process that never stops printing cannot hold
      // a drain forever.
      for (int i = 0; i < 2; ++i) {
        for (int reads = 0; reads < 16 && streams[i].fd >= 0; ++reads) {
          pollfd p{streams[i].fd, POLLIN, 0};
          if (poll(&p, 1, 0) <= 0 || p.revents == 0) break;
          if (!read_once(streams[i])) break;
        }
      }
      absl::MutexLock lock(&mu_);
      drains_done_ = requested;
    }
  }
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

}  // namespace sluice
