// Subprocess: starts a function's process with the isolation Sluice
// promises: its own session and process group, no_new_privs, exactly the
// environment it is granted, a working directory, resource limits, and no
// file descriptors but the ones it is given.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace sluice {

// ProcessLimits bound what one process may use. Zero means no limit.
struct ProcessLimits {
  // Memory: cgroup v2 memory.max when `cgroup_root` below is writable, else
  // RLIMIT_AS.
  uint64_t memory_bytes = 0;
  // RLIMIT_CPU, in whole seconds of CPU time over the process's life.
  uint64_t cpu_seconds = 0;
  // RLIMIT_NOFILE.
  uint64_t open_files = 1024;
};

// ProcessSpec says what to start and how.
struct ProcessSpec {
  // argv[0] is the path of the executable (not searched in PATH).
  std::vector<std::string> argv;
  // The whole environment of the child, "KEY=value" each; nothing else is
  // inherited.
  std::vector<std::string> env;
  // The child's working directory; must exist.
  std::string working_dir = "/";
  ProcessLimits limits;
  // When >= 0, this descriptor becomes the child's fd 3 (e.g. one end of a
  // socketpair). Not owned; the caller closes its copy.
  int fd3 = -1;
  // When true the child's stdin is a pipe (Subprocess::stdin_fd), else
  // /dev/null.
  bool pipe_stdin = false;
  // A cgroup v2 directory under which a cgroup per process is made when it
  // is writable (memory.max is set there). Empty: use rlimits only.
  std::string cgroup_root;
};

// KillAllSubprocesses sends SIGKILL to the process group of every child
// started by Subprocess and not yet reaped. For a forced exit of the server:
// the children lead sessions of their own and would otherwise outlive it.
// Async-signal-unsafe; thread-safe.
void KillAllSubprocesses();

// Subprocess owns one started child. Not thread-safe, except Kill(), which
// may be called from any thread at any time. Destroying it kills the
// process group and reaps the child, so no zombie is left behind.
class Subprocess {
 public:
  // Start forks and execs `spec`. The child is the leader of a new session
  // and process group. Errors: NOT_FOUND when argv[0] does not exist,
  // FAILED_PRECONDITION when it cannot be executed, INTERNAL for fork/pipe
  // failures; an exec failure in the child is reported here, not as an
  // exit status.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const ProcessSpec& spec);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // Pipes of the child's standard streams, owned by this object; -1 once
  // closed. stdin is -1 unless ProcessSpec::pipe_stdin.
  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  void CloseStdin();

  // Kill sends SIGKILL to the whole process group (and, when the child has
  // a cgroup, to everything in it). Safe to call repeatedly, and a no-op once
  // the child has been reaped.
  void Kill();
  // Wait blocks until the child exits and returns its wait status; the same
  // status on later calls. Once the child has exited, whatever is left of its
  // process group is killed before the child is reaped, so no background
  // process of a dead function outlives it (or keeps its pipes open).
  int Wait();
  // TryWait returns the wait status if the child has exited (reaping it as
  // Wait does), without blocking.
  std::optional<int> TryWait();

  // DescribeExit renders a wait status: "exited with status 3", "killed by
  // signal 11 (SIGSEGV)".
  static std::string DescribeExit(int wait_status);

 private:
  Subprocess() = default;
  // Reap collects the exited child after killing what is left of its group.
  int Reap();
  void RemoveCgroup();

  // Constant after Start.
  pid_t pid_ = -1;
  std::string cgroup_dir_;  // removed on destruction when set

  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::optional<int> status_;

  // Kill() may race with the reaping in Wait(): once the child is reaped its
  // pid may be reused, so both hold kill_mu_.
  absl::Mutex kill_mu_;
  bool reaped_ ABSL_GUARDED_BY(kill_mu_) = false;
};

}  // namespace sluice
