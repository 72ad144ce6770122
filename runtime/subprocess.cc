#include "runtime/subprocess.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sluice {
namespace {

// LiveGroups tracks the process groups of started, unreaped children. A
// child's pid (its group id) cannot be reused before it is reaped, and Reap
// forgets it first, so a kill through this set never hits a stranger.
class LiveGroups {
 public:
  static LiveGroups& Get() {
    static LiveGroups* groups = new LiveGroups();
    return *groups;
  }
  void Add(pid_t pid) {
    absl::MutexLock lock(&mu_);
    pids_.insert(pid);
  }
  void Remove(pid_t pid) {
    absl::MutexLock lock(&mu_);
    pids_.erase(pid);
  }
  void KillAll() {
    absl::MutexLock lock(&mu_);
    for (pid_t pid : pids_) kill(-pid, SIGKILL);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<pid_t> pids_ ABSL_GUARDED_BY(mu_);
};

// Sanitizer builds reserve terabytes of address space for shadow memory, so
// their processes cannot start under RLIMIT_AS; they run without it.
#ifdef SLUICE_SANITIZE
constexpr bool kAddressSpaceLimits = false;
#else
constexpr bool kAddressSpaceLimits = true;
#endif

// UniqueFd closes its descriptor when it goes out of scope.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err) {
  const char* text = strerrordesc_np(err);
  return text != nullptr ? std::string(text) : absl::StrCat("errno ", err);
}

absl::Status ErrnoError(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", ErrnoText(err)));
}

// MakePipe returns {read end, write end}, both close-on-exec so that a
// concurrent spawn on another thread cannot leak them into its child.
absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  read_end = UniqueFd(fds[0]);
  write_end = UniqueFd(fds[1]);
  return absl::OkStatus();
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool WriteFile(const std::string& path, const std::string& value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd.get() >= 0 && WriteAll(fd.get(), value);
}

// What the child reports through the error pipe when it fails before its
// program runs. Nothing is written when exec succeeds.
enum ChildStage : int32_t { kStageSetup = 1, kStageChdir = 2, kStageLimits = 3, kStageExec = 4 };
struct ChildReport {
  int32_t stage;
  int32_t err;
};

// ChildPlan is everything the child needs, prepared before fork(): after
// fork() in a threaded process the child may only make async-signal-safe
// calls, so it must not allocate.
struct ChildPlan {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* working_dir;
  int stdin_src;
  int stdout_src;
  int stderr_src;
  int fd3_src;  // -1: none
  int report_fd;
  int cgroup_procs_fd;  // -1: no cgroup
  rlim_t memory_bytes;  // 0: none
  rlim_t cpu_seconds;   // 0: none
  rlim_t open_files;    // 0: leave as inherited
  int max_fd;           // for closing descriptors without close_range
};

[[noreturn]] void ChildFail(const ChildPlan& plan, ChildStage stage, int err) {
  const ChildReport report{stage, err};
  const char* p = reinterpret_cast<const char*>(&report);
  size_t left = sizeof(report);
  while (left > 0) {
    const ssize_t n = write(plan.report_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  _exit(127);
}

// SetLimit lowers resource `which` to `value` (both soft and hard, the hard
// one `extra` higher), never above the current hard limit.
bool SetLimit(int which, rlim_t value, rlim_t extra) {
  struct rlimit current;
  if (getrlimit(which, &current) != 0) return false;
  struct rlimit limit;
  limit.rlim_cur = std::min(value, current.rlim_max);
  limit.rlim_max = std::min(value + extra, current.rlim_max);
  return setrlimit(which, &limit) == 0;
}

// RunChild runs in the forked child. Only async-signal-safe calls.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  // Signal handlers of the server are meaningless here, and ignored or
  // blocked signals would be inherited across exec.
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    sigaction(sig, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (setsid() < 0) ChildFail(plan, kStageSetup, errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(plan, kStageSetup, errno);
  bool in_cgroup = false;
  if (plan.cgroup_procs_fd >= 0) {
    // "0" moves the writing process.
    in_cgroup = write(plan.cgroup_procs_fd, "0", 1) == 1;
  }
  if (chdir(plan.working_dir) != 0) ChildFail(plan, kStageChdir, errno);

  // Move every source above the targets first, so that no dup2 below
  // overwrites a source that happens to be a low number.
  constexpr int kHigh = 10;
  const int stdin_src = fcntl(plan.stdin_src, F_DUPFD, kHigh);
  const int stdout_src = fcntl(plan.stdout_src, F_DUPFD, kHigh);
  const int stderr_src = fcntl(plan.stderr_src, F_DUPFD, kHigh);
  const int fd3_src = plan.fd3_src >= 0 ? fcntl(plan.fd3_src, F_DUPFD, kHigh) : -1;
  const int report_src = fcntl(plan.report_fd, F_DUPFD_CLOEXEC, kHigh);
  if (stdin_src < 0 || stdout_src < 0 || stderr_src < 0 || (plan.fd3_src >= 0 && fd3_src < 0) ||
      report_src < 0) {
    ChildFail(plan, kStageSetup, errno);
  }
  ChildPlan moved = plan;
  moved.report_fd = report_src;
  if (dup2(stdin_src, 0) < 0 || dup2(stdout_src, 1) < 0 || dup2(stderr_src, 2) < 0 ||
      (fd3_src >= 0 && dup2(fd3_src, 3) < 0)) {
    ChildFail(moved, kStageSetup, errno);
  }
  // The report pipe goes right after the child's own descriptors; it is
  // close-on-exec, so the program never sees it.
  const int report_fd = fd3_src >= 0 ? 4 : 3;
  if (dup3(report_src, report_fd, O_CLOEXEC) < 0) ChildFail(moved, kStageSetup, errno);
  moved.report_fd = report_fd;
  if (syscall(SYS_close_range, static_cast<unsigned>(report_fd + 1), ~0U, 0U) != 0) {
    for (int fd = report_fd + 1; fd < plan.max_fd; ++fd) close(fd);
  }

  if (plan.open_files > 0 && !SetLimit(RLIMIT_NOFILE, plan.open_files, 0)) {
    ChildFail(moved, kStageLimits, errno);
  }
  if (plan.cpu_seconds > 0 && !SetLimit(RLIMIT_CPU, plan.cpu_seconds, 1)) {
    ChildFail(moved, kStageLimits, errno);
  }
  if (kAddressSpaceLimits && plan.memory_bytes > 0 && !in_cgroup &&
      !SetLimit(RLIMIT_AS, plan.memory_bytes, 0)) {
    ChildFail(moved, kStageLimits, errno);
  }
  execve(plan.path, plan.argv, plan.envp);
  ChildFail(moved, kStageExec, errno);
}

// SpawnChild starts RunChild(plan) in a new process and returns its pid, or
// -1 with errno set. Release builds share the server's memory until the
// child execs (clone with CLONE_VM | CLONE_VFORK, as posix_spawn does, on a
// stack of its own): fork() of a large, busy server copies its page tables
// and turns every page the server writes before the child execs into a
// copy-on-write fault, which made each exec invocation cost tens of
// milliseconds and serialized concurrent starts. That is safe because the
// child only reads `plan` and makes system calls (RunChild allocates
// nothing and takes no lock), and this thread waits until the child has
// exec'd or exited. Sanitizer builds fork, which the sanitizers understand.
pid_t SpawnChild(const ChildPlan& plan) {
#ifdef SLUICE_SANITIZE
  const pid_t pid = fork();
  if (pid == 0) RunChild(plan);
  return pid;
#else
  constexpr size_t kStackBytes = 256 * 1024;
  auto stack = std::make_unique<char[]>(kStackBytes);
  return clone(
      +[](void* arg) -> int { RunChild(*static_cast<const ChildPlan*>(arg)); },
      stack.get() + kStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&plan));
#endif
}

std::atomic<uint64_t> next_cgroup{0};

// Cgroup is a per-process cgroup v2 directory, made before the fork.
struct Cgroup {
  std::string dir;
  UniqueFd procs;
};

// MakeCgroup makes <root>/sluice-<pid>-<n> with memory.max set. Returns an
// empty Cgroup when the root is not a writable cgroup v2 directory (or lacks
// the memory controller while a memory limit is asked for).
Cgroup MakeCgroup(const std::string& root, uint64_t memory_bytes) {
  Cgroup cgroup;
  if (root.empty()) return cgroup;
  std::string dir = absl::StrCat(root, "/sluice-", getpid(), "-", next_cgroup.fetch_add(1));
  if (mkdir(dir.c_str(), 0755) != 0) return cgroup;
  bool ok = true;
  if (memory_bytes > 0) {
    ok = WriteFile(absl::StrCat(dir, "/memory.max"), absl::StrCat(memory_bytes));
    // Without swap, memory.max is a hard bound; best effort.
    if (ok) WriteFile(absl::StrCat(dir, "/memory.swap.max"), "0");
  }
  UniqueFd procs;
  if (ok) {
    procs = UniqueFd(open(absl::StrCat(dir, "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    ok = procs.get() >= 0;
  }
  if (!ok) {
    rmdir(dir.c_str());
    return cgroup;
  }
  cgroup.dir = std::move(dir);
  cgroup.procs = std::move(procs);
  return cgroup;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError("argv: the program path is empty");
  }
  const std::string& path = spec.argv[0];
  const std::string working_dir = spec.working_dir.empty() ? "/" : spec.working_dir;

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(spec.env.size() + 1);
  for (const std::string& var : spec.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);

  UniqueFd stdin_child, stdin_parent, stdout_parent, stdout_child, stderr_parent, stderr_child;
  UniqueFd report_read, report_write;
  if (spec.pipe_stdin) {
    if (absl::Status s = MakePipe(stdin_child, stdin_parent); !s.ok()) return s;
  } else {
    stdin_child = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (stdin_child.get() < 0) return ErrnoError("open /dev/null", errno);
  }
  if (absl::Status s = MakePipe(stdout_parent, stdout_child); !s.ok()) return s;
  if (absl::Status s = MakePipe(stderr_parent, stderr_child); !s.ok()) return s;
  if (absl::Status s = MakePipe(report_read, report_write); !s.ok()) return s;

  Cgroup cgroup = MakeCgroup(spec.cgroup_root, spec.limits.memory_bytes);

  struct rlimit nofile;
  int max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20));
  }
  const ChildPlan plan{path.c_str(),
                       argv.data(),
                       envp.data(),
                       working_dir.c_str(),
                       stdin_child.get(),
                       stdout_child.get(),
                       stderr_child.get(),
                       spec.fd3,
                       report_write.get(),
                       cgroup.procs.get(),
                       static_cast<rlim_t>(spec.limits.memory_bytes),
                       static_cast<rlim_t>(spec.limits.cpu_seconds),
                       static_cast<rlim_t>(spec.limits.open_files),
                       max_fd};

  // Block every signal across fork() so that no handler of the server runs
  // in the child before it has reset them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = SpawnChild(plan);
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  auto remove_cgroup = [&cgroup] {
    if (!cgroup.dir.empty()) rmdir(cgroup.dir.c_str());
  };
  if (pid < 0) {
    remove_cgroup();
    return ErrnoError("fork", fork_errno);
  }
  stdin_child.Reset();
  stdout_child.Reset();
  stderr_child.Reset();
  report_write.Reset();
  cgroup.procs.Reset();

  // Zero bytes before end-of-file: exec succeeded (the pipe was closed on
  // exec). Otherwise the child says what failed, and exits.
  ChildReport report{0, 0};
  size_t got = 0;
  while (got < sizeof(report)) {
    const ssize_t n =
        read(report_read.get(), reinterpret_cast<char*>(&report) + got, sizeof(report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    remove_cgroup();
    const std::string reason = ErrnoText(report.err);
    switch (report.stage) {
      case kStageChdir:
        return absl::FailedPreconditionError(
            absl::StrCat("working directory \"", working_dir, "\": ", reason));
      case kStageExec: {
        struct stat st;
        if (report.err == ENOENT && stat(path.c_str(), &st) != 0) {
          return absl::NotFoundError(absl::StrCat("\"", path, "\": ", reason));
        }
        if (report.err == ENOENT) {
          return absl::FailedPreconditionError(
              absl::StrCat("\"", path, "\" cannot be executed: its interpreter was not found"));
        }
        return absl::FailedPreconditionError(
            absl::StrCat("\"", path, "\" cannot be executed: ", reason));
      }
      case kStageLimits:
        return absl::InternalError(absl::StrCat("could not set resource limits: ", reason));
      default:
        return absl::InternalError(absl::StrCat("could not set up the child process: ", reason));
    }
  }

  auto process = std::unique_ptr<Subprocess>(new Subprocess());
  process->pid_ = pid;
  LiveGroups::Get().Add(pid);
  process->cgroup_dir_ = std::move(cgroup.dir);
  process->stdin_fd_ = stdin_parent.Release();
  process->stdout_fd_ = stdout_parent.Release();
  process->stderr_fd_ = stderr_parent.Release();
  return process;
}

void KillAllSubprocesses() { LiveGroups::Get().KillAll(); }

Subprocess::~Subprocess() {
  Kill();
  Wait();
  for (int* fd : {&stdin_fd_, &stdout_fd_, &stderr_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  RemoveCgroup();
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

void Subprocess::Kill() {
  absl::MutexLock lock(&kill_mu_);
  if (reaped_) return;
  // The child leads its own process group; until it is reaped its pid (and
  // so the group id) cannot be reused.
  kill(-pid_, SIGKILL);
  if (!cgroup_dir_.empty()) WriteFile(absl::StrCat(cgroup_dir_, "/cgroup.kill"), "1");
}

int Subprocess::Wait() {
  if (status_.has_value()) return *status_;
  siginfo_t info;
  // WNOWAIT leaves the child a zombie, so its pid stays ours until Reap.
  while (waitid(P_PID, pid_, &info, WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) break;
  }
  return Reap();
}

std::optional<int> Subprocess::TryWait() {
  if (status_.has_value()) return status_;
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0) {
    return std::nullopt;
  }
  return Reap();
}

int Subprocess::Reap() {
  absl::MutexLock lock(&kill_mu_);
  // Background processes the child left behind in its group die with it.
  kill(-pid_, SIGKILL);
  if (!cgroup_dir_.empty()) WriteFile(absl::StrCat(cgroup_dir_, "/cgroup.kill"), "1");
  LiveGroups::Get().Remove(pid_);
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  // ECHILD: someone else reaped it; the status is lost.
  if (r < 0) status = W_EXITCODE(255, 0);
  reaped_ = true;
  status_ = status;
  return status;
}

void Subprocess::RemoveCgroup() {
  if (cgroup_dir_.empty()) return;
  // Processes killed through cgroup.kill leave the cgroup asynchronously;
  // give them a moment before giving up on the directory.
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (rmdir(cgroup_dir_.c_str()) != 0 && errno == EBUSY && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  cgroup_dir_.clear();
}

std::string Subprocess::DescribeExit(int wait_status) {
  auto signal_text = [](int sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev == nullptr) return absl::StrCat(sig);
    return absl::StrCat(sig, " (SIG", abbrev, ")");
  };
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("killed by signal ", signal_text(WTERMSIG(wait_status)),
                        WCOREDUMP(wait_status) ? " (core dumped)" : "");
  }
  if (WIFSTOPPED(wait_status)) {
    return absl::StrCat("stopped by signal ", signal_text(WSTOPSIG(wait_status)));
  }
  return absl::StrFormat("unknown wait status 0x%x", wait_status);
}

}  // namespace sluice
