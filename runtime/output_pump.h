// OutputPump: drains a child's stdout and stderr pipes line by line on a
// thread of its own, so that a chatty process never blocks on a full pipe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace sluice {

// OutputPump is not copyable. It owns neither descriptor; both must stay
// open until the pump is destroyed or has seen end-of-file on both.
class OutputPump {
 public:
  // LineFn gets the stream name ("stdout" or "stderr") and one line without
  // its newline; lines longer than kMaxLine are cut into pieces.
  using LineFn = absl::AnyInvocable<void(const char* stream, std::string line)>;
  static constexpr size_t kMaxLine = 16 * 1024;

  // Starts draining `stdout_fd` and `stderr_fd` (either may be -1).
  OutputPump(int stdout_fd, int stderr_fd, LineFn on_line);
  // Waits until both pipes reached end-of-file (the process and all its
  // children closed them), flushing any last partial line. Kill the process
  // group first so this does not wait forever.
  ~OutputPump();
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  // Drain returns once every byte that was readable from both pipes when
  // it was called has been read and its complete lines handed to on_line.
  // A worker calls it after an attempt, so that what the attempt printed
  // is tagged with it. Returns at once after end-of-file on both pipes.
  void Drain();

 private:
  void Loop(int stdout_fd, int stderr_fd);
  // PipesQuiet tells whether neither pipe has anything to read right now.
  bool PipesQuiet() const;

  LineFn on_line_;
  const int fds_[2];        // stdout, stderr as given (either may be -1)
  int wake_[2] = {-1, -1};  // self-pipe that carries drain requests
  absl::Mutex mu_;
  uint64_t drains_requested_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t drains_done_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Reads under way: set before the pump reads a pipe and cleared once the
  // lines it read are handed on, so that Drain can tell, with the pipes
  // quiet and no read under way, that nothing is left without waking the
  // pump.
  int reading_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace sluice
