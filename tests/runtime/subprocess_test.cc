#include "runtime/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/output_pump.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::vector<std::string> kPath = {"PATH=/usr/bin:/bin"};

// Output is everything a child wrote and how it ended.
struct Output {
  std::string out;
  std::string err;
  int status = -1;
};

// Drain reads both pipes of `process` to end-of-file, then waits for it.
Output Drain(Subprocess& process) {
  Output output;
  int fds[2] = {process.stdout_fd(), process.stderr_fd()};
  std::string* into[2] = {&output.out, &output.err};
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || p[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = read(fds[i], buffer, sizeof(buffer));
      if (n <= 0) {
        fds[i] = -1;
      } else {
        into[i]->append(buffer, static_cast<size_t>(n));
      }
    }
  }
  output.status = process.Wait();
  return output;
}

ProcessSpec Shell(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = kPath;
  return spec;
}

Output RunToEnd(const ProcessSpec& spec) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return {};
  return Drain(**process);
}

// ReadLine reads one line (blocking) from `fd`, without its newline.
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

// WaitFor polls `condition` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// IsDead: the process no longer exists, or is a zombie waiting for its
// (new) parent.
bool IsDead(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (text.empty()) return true;
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

std::string MakeTempDir() {
  std::string templ = testing::TempDir() + "/sluice-subprocess-XXXXXX";
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

// Limit reads one row of /proc/<pid>/limits output: {soft, hard}.
std::pair<std::string, std::string> Limit(const std::string& limits, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(limits, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    std::vector<std::string> fields =
        absl::StrSplit(line.substr(name.size()), ' ', absl::SkipWhitespace());
    if (fields.size() >= 2) return {fields[0], fields[1]};
  }
  return {};
}

TEST(SubprocessTest, EnvironmentIsExactlyTheGivenOne) {
  setenv("SLUICE_TEST_SHOULD_NOT_LEAK", "1", 1);
  ProcessSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.env = {"A=1", "B=two words"};
  Output output = RunToEnd(spec);
  EXPECT_EQ(output.out, "A=1\nB=two words\n");
  EXPECT_EQ(output.status, 0);
}

TEST(SubprocessTest, PassesArguments) {
  ProcessSpec spec = Shell("printf '%s|' \"$0\" \"$@\"");
  spec.argv.insert(spec.argv.end(), {"zero", "one two", ""});
  EXPECT_EQ(RunToEnd(spec).out, "zero|one two||");
}

TEST(SubprocessTest, RunsInTheWorkingDirectory) {
  const std::string dir = MakeTempDir();
  ProcessSpec spec = Shell("pwd -P");
  spec.working_dir = dir;
  EXPECT_EQ(RunToEnd(spec).out, std::filesystem::canonical(dir).string() + "\n");
  std::filesystem::remove(dir);
}

TEST(SubprocessTest, LeadsANewSessionAndProcessGroup) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(Shell("exec cat /proc/self/stat"));
  ASSERT_TRUE(process.ok()) << process.status();
  Output output = Drain(**process);
  // pid (comm) state ppid pgrp session ...
  const std::string stat = output.out;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(stat.rfind(')') + 2), ' ', absl::SkipWhitespace());
  ASSERT_GE(fields.size(), 4u) << stat;
  const std::string pid = absl::StrCat((*process)->pid());
  EXPECT_TRUE(absl::StartsWith(stat, pid + " ")) << stat;
  EXPECT_EQ(fields[1], absl::StrCat(getpid())) << "ppid";
  EXPECT_EQ(fields[2], pid) << "process group";
  EXPECT_EQ(fields[3], pid) << "session";
}

TEST(SubprocessTest, SetsNoNewPrivs) {
  EXPECT_EQ(RunToEnd(Shell("exec grep NoNewPrivs /proc/self/status")).out, "NoNewPrivs:\t1\n");
}

TEST(SubprocessTest, AppliesResourceLimits) {
  ProcessSpec spec = Shell("exec cat /proc/self/limits");
  spec.limits.open_files = 77;
  spec.limits.memory_bytes = 512 << 20;
  spec.limits.cpu_seconds = 30;
  const std::string limits = RunToEnd(spec).out;
  EXPECT_EQ(Limit(limits, "Max open files"), std::make_pair(std::string("77"), std::string("77")))
      << limits;
#ifndef SLUICE_SANITIZE
  EXPECT_EQ(Limit(limits, "Max address space"),
            std::make_pair(std::string("536870912"), std::string("536870912")));
#else
  // Sanitizer builds run without RLIMIT_AS (see subprocess.cc).
  EXPECT_EQ(Limit(limits, "Max address space").first, "unlimited");
#endif
  EXPECT_EQ(Limit(limits, "Max cpu time"), std::make_pair(std::string("30"), std::string("31")));
}

TEST(SubprocessTest, ResetsSignalMaskAndIgnoredSignals) {
  struct sigaction ignore = {}, old_action = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGUSR1, &ignore, &old_action), 0);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  const std::string out = RunToEnd(Shell("exec grep -E '^Sig(Ign|Blk)' /proc/self/status")).out;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR1, &old_action, nullptr);
  EXPECT_EQ(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

// OpenDescriptors lists the child's descriptors (by `ls -l /proc/self/fd`,
// leaving out the one ls opens for the listing): number → target.
std::map<std::string, std::string> OpenDescriptors(ProcessSpec spec) {
  spec.argv = {"/bin/sh", "-c", "exec ls -l /proc/self/fd/"};
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return {};
  Output output = Drain(**process);
  const std::string own_dir = absl::StrCat("/proc/", (*process)->pid(), "/fd");
  std::map<std::string, std::string> fds;
  for (absl::string_view line : absl::StrSplit(output.out, '\n')) {
    std::vector<std::string> parts = absl::StrSplit(line, " -> ");
    if (parts.size() != 2) continue;
    const std::string fd = parts[0].substr(parts[0].rfind(' ') + 1);
    if (parts[1] == own_dir) continue;
    fds[fd] = parts[1];
  }
  return fds;
}

TEST(SubprocessTest, ChildHasOnlyItsStandardDescriptors) {
  // Descriptors of the server, even inheritable ones, stay out.
  const int leaked_file = open("/dev/null", O_RDONLY);
  int leaked_pipe[2];
  ASSERT_EQ(pipe(leaked_pipe), 0);
  std::map<std::string, std::string> fds = OpenDescriptors(Shell(""));
  std::set<std::string> names;
  for (const auto& [fd, target] : fds) names.insert(fd);
  EXPECT_EQ(names, (std::set<std::string>{"0", "1", "2"}));
  EXPECT_EQ(fds["0"], "/dev/null");
  EXPECT_THAT(fds["1"], StartsWith("pipe:"));
  EXPECT_THAT(fds["2"], StartsWith("pipe:"));
  close(leaked_file);
  close(leaked_pipe[0]);
  close(leaked_pipe[1]);
}

TEST(SubprocessTest, Fd3IsPassedOn) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  ProcessSpec spec = Shell("");
  spec.fd3 = pair[1];
  spec.pipe_stdin = true;
  std::map<std::string, std::string> fds = OpenDescriptors(spec);
  std::set<std::string> names;
  for (const auto& [fd, target] : fds) names.insert(fd);
  EXPECT_EQ(names, (std::set<std::string>{"0", "1", "2", "3"}));
  EXPECT_THAT(fds["0"], StartsWith("pipe:"));
  EXPECT_THAT(fds["3"], StartsWith("socket:"));
  close(pair[0]);
  close(pair[1]);
}

TEST(SubprocessTest, Fd3CarriesData) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  ProcessSpec spec = Shell("echo hello >&3");
  spec.fd3 = pair[1];
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  ASSERT_TRUE(process.ok()) << process.status();
  close(pair[1]);
  EXPECT_EQ(ReadLine(pair[0]), "hello");
  EXPECT_EQ((*process)->Wait(), 0);
  close(pair[0]);
}

TEST(SubprocessTest, ParentDescriptorsAreCloseOnExec) {
  ProcessSpec spec = Shell("cat");
  spec.pipe_stdin = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  ASSERT_TRUE(process.ok()) << process.status();
  for (int fd : {(*process)->stdin_fd(), (*process)->stdout_fd(), (*process)->stderr_fd()}) {
    ASSERT_GE(fd, 0);
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << fd;
  }
}

TEST(SubprocessTest, StdinPipeFeedsTheChild) {
  ProcessSpec spec = Shell("exec cat");
  spec.pipe_stdin = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_EQ(write((*process)->stdin_fd(), "payload", 7), 7);
  (*process)->CloseStdin();
  EXPECT_EQ((*process)->stdin_fd(), -1);
  Output output = Drain(**process);
  EXPECT_EQ(output.out, "payload");
  EXPECT_EQ(output.status, 0);
}

TEST(SubprocessTest, StdinIsDevNullByDefault) {
  Output output = RunToEnd(Shell("exec cat"));
  EXPECT_EQ(output.out, "");
  EXPECT_EQ(output.status, 0);
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  ProcessSpec spec;
  spec.argv = {"/nonexistent/program"};
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  EXPECT_EQ(process.status().code(), absl::StatusCode::kNotFound) << process.status();
  EXPECT_THAT(process.status().message(), HasSubstr("/nonexistent/program"));
}

TEST(SubprocessTest, UnexecutableProgramIsFailedPrecondition) {
  const std::string dir = MakeTempDir();
  const std::string data = dir + "/data.txt";
  std::ofstream(data) << "not a program\n";
  chmod(data.c_str(), 0644);
  const std::string script = dir + "/script";
  std::ofstream(script) << "#!/nonexistent/interpreter\n";
  chmod(script.c_str(), 0755);
  for (const std::string& path : {data, dir, script}) {
    ProcessSpec spec;
    spec.argv = {path};
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
    EXPECT_EQ(process.status().code(), absl::StatusCode::kFailedPrecondition)
        << path << ": " << process.status();
  }
  std::filesystem::remove_all(dir);
}

TEST(SubprocessTest, MissingWorkingDirectoryIsFailedPrecondition) {
  ProcessSpec spec = Shell("true");
  spec.working_dir = "/nonexistent/dir";
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  EXPECT_EQ(process.status().code(), absl::StatusCode::kFailedPrecondition) << process.status();
  EXPECT_THAT(process.status().message(), HasSubstr("/nonexistent/dir"));
}

TEST(SubprocessTest, EmptyArgvIsInvalid) {
  EXPECT_EQ(Subprocess::Start(ProcessSpec{}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SubprocessTest, KillKillsTheWholeGroup) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(Shell("sleep 1000 & echo $!; wait"));
  ASSERT_TRUE(process.ok()) << process.status();
  int64_t grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadLine((*process)->stdout_fd()), &grandchild));
  EXPECT_FALSE(IsDead(static_cast<pid_t>(grandchild)));
  (*process)->Kill();
  const int status = (*process)->Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(WaitFor([&] { return IsDead(static_cast<pid_t>(grandchild)); }));
  (*process)->Kill();  // harmless once reaped
  EXPECT_EQ((*process)->Wait(), status);
}

TEST(SubprocessTest, KillFromAnotherThread) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(Shell("exec sleep 1000"));
  ASSERT_TRUE(process.ok()) << process.status();
  std::thread killer([&] { (*process)->Kill(); });
  const int status = (*process)->Wait();
  killer.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(SubprocessTest, LeftoverGroupMembersDieWithTheChild) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(Shell("sleep 1000 & echo $!; exit 0"));
  ASSERT_TRUE(process.ok()) << process.status();
  int64_t grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ReadLine((*process)->stdout_fd()), &grandchild));
  EXPECT_EQ((*process)->Wait(), 0);
  EXPECT_TRUE(WaitFor([&] { return IsDead(static_cast<pid_t>(grandchild)); }));
}

TEST(SubprocessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    absl::StatusOr<std::unique_ptr<Subprocess>> process =
        Subprocess::Start(Shell("exec sleep 1000"));
    ASSERT_TRUE(process.ok()) << process.status();
    pid = (*process)->pid();
  }
  // Reaped: no longer our child.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(SubprocessTest, TryWaitDoesNotBlock) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(Shell("exec sleep 1000"));
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_EQ((*process)->TryWait(), std::nullopt);
  (*process)->Kill();
  std::optional<int> status;
  EXPECT_TRUE(WaitFor([&] { return (status = (*process)->TryWait()).has_value(); }));
  EXPECT_EQ(Subprocess::DescribeExit(status.value_or(0)), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ((*process)->TryWait(), status);
}

TEST(SubprocessTest, DescribesExits) {
  EXPECT_EQ(Subprocess::DescribeExit(RunToEnd(Shell("exit 3")).status), "exited with status 3");
  EXPECT_EQ(Subprocess::DescribeExit(RunToEnd(Shell("exit 0")).status), "exited with status 0");
  EXPECT_EQ(Subprocess::DescribeExit(RunToEnd(Shell("kill -SEGV $$")).status),
            "killed by signal 11 (SIGSEGV)");
  EXPECT_EQ(Subprocess::DescribeExit(RunToEnd(Shell("kill -ABRT $$")).status),
            "killed by signal 6 (SIGABRT)");
  EXPECT_EQ(Subprocess::DescribeExit(SIGTERM), "killed by signal 15 (SIGTERM)");
}

// CgroupV2Root returns a cgroup v2 mount point this process may make
// cgroups in, or "" when there is none.
std::string CgroupV2Root() {
  std::ifstream mounts("/proc/self/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 3 || fields[2] != "cgroup2") continue;
    const std::string probe = fields[1] + "/sluice-test-probe";
    if (mkdir(probe.c_str(), 0755) != 0) continue;
    rmdir(probe.c_str());
    return fields[1];
  }
  return "";
}

std::vector<std::string> SluiceCgroups(const std::string& root) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, absl::StrCat("sluice-", getpid(), "-"))) names.push_back(name);
  }
  return names;
}

// kAddressSpace256M is what /proc/self/limits shows for a 256 MiB memory
// limit enforced by RLIMIT_AS: sanitizer builds run without it.
#ifndef SLUICE_SANITIZE
constexpr char kAddressSpace256M[] = "268435456";
#else
constexpr char kAddressSpace256M[] = "unlimited";
#endif

TEST(SubprocessTest, FallsBackToRlimitWhenCgroupRootIsNotACgroup) {
  const std::string dir = MakeTempDir();
  ProcessSpec spec = Shell("exec cat /proc/self/limits");
  spec.cgroup_root = dir;
  spec.limits.memory_bytes = 256 << 20;
  const std::string limits = RunToEnd(spec).out;
  EXPECT_EQ(Limit(limits, "Max address space").first, kAddressSpace256M) << limits;
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove(dir);

  spec.cgroup_root = "/nonexistent/cgroup";
  EXPECT_EQ(Limit(RunToEnd(spec).out, "Max address space").first, kAddressSpace256M);
}

TEST(SubprocessTest, RunsInItsOwnCgroupWhenTheRootIsWritable) {
  const std::string root = CgroupV2Root();
  if (root.empty()) GTEST_SKIP() << "no writable cgroup v2 hierarchy";
  std::ifstream controllers_file(root + "/cgroup.subtree_control");
  std::string controllers;
  std::getline(controllers_file, controllers);
  const bool has_memory = absl::StrContains(controllers, "memory");

  ProcessSpec spec = Shell("cat /proc/self/cgroup; cat /proc/self/limits");
  spec.cgroup_root = root;
  spec.limits.memory_bytes = 256 << 20;
  std::string out;
  {
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
    ASSERT_TRUE(process.ok()) << process.status();
    out = Drain(**process).out;
    if (has_memory) {
      EXPECT_EQ(SluiceCgroups(root).size(), 1u);
    }
  }
  EXPECT_TRUE(SluiceCgroups(root).empty());
  if (has_memory) {
    EXPECT_THAT(out, HasSubstr(absl::StrCat("/sluice-", getpid(), "-")));
    EXPECT_EQ(Limit(out, "Max address space").first, "unlimited") << out;
  } else {
    // Without the memory controller memory.max cannot be set: rlimit.
    EXPECT_EQ(Limit(out, "Max address space").first, kAddressSpace256M) << out;
  }

  // Without a memory limit the cgroup still holds the process (so that
  // Kill reaches processes that left the group).
  spec.limits.memory_bytes = 0;
  out = RunToEnd(spec).out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("/sluice-", getpid(), "-")));
  EXPECT_TRUE(SluiceCgroups(root).empty());
}

TEST(SubprocessTest, KillReachesProcessesThatLeftTheGroupThroughTheCgroup) {
  const std::string root = CgroupV2Root();
  if (root.empty()) GTEST_SKIP() << "no writable cgroup v2 hierarchy";
  const std::string probe = root + "/sluice-test-probe";
  ASSERT_EQ(mkdir(probe.c_str(), 0755), 0);
  const bool has_kill = std::filesystem::exists(probe + "/cgroup.kill");
  rmdir(probe.c_str());
  if (!has_kill) GTEST_SKIP() << "no cgroup.kill (Linux < 5.14)";
  // The background shell is not a group leader, so setsid(1) does not
  // fork: $! is the escaped process, which prints its pid and session.
  ProcessSpec spec =
      Shell("setsid sh -c 'echo $$ $(cut -d\" \" -f6 /proc/$$/stat); exec sleep 1000' & wait");
  spec.cgroup_root = root;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spec);
  ASSERT_TRUE(process.ok()) << process.status();
  std::vector<std::string> fields = absl::StrSplit(ReadLine((*process)->stdout_fd()), ' ');
  ASSERT_EQ(fields.size(), 2u);
  int64_t escaped = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fields[0], &escaped));
  EXPECT_EQ(fields[1], fields[0]) << "the escaped process leads its own session";
  EXPECT_NE(fields[1], absl::StrCat((*process)->pid()));
  (*process)->Kill();
  (*process)->Wait();
  EXPECT_TRUE(WaitFor([&] { return IsDead(static_cast<pid_t>(escaped)); }));
}

// OutputPump

struct Lines {
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> lines;
  OutputPump::LineFn Fn() {
    return [this](const char* stream, std::string line) {
      absl::MutexLock lock(&mu);
      lines.emplace_back(stream, std::move(line));
    };
  }
};

TEST(OutputPumpTest, SplitsLinesAndFlushesThePartialLast) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Lines lines;
  {
    OutputPump pump(p[0], -1, lines.Fn());
    const std::string data = "a\nbc\n\nd";
    ASSERT_EQ(write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
    close(p[1]);
  }
  close(p[0]);
  using Line = std::pair<std::string, std::string>;
  EXPECT_THAT(lines.lines, ElementsAre(Line("stdout", "a"), Line("stdout", "bc"),
                                       Line("stdout", ""), Line("stdout", "d")));
}

TEST(OutputPumpTest, CutsLongLines) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  Lines lines;
  std::thread writer([fd = p[1]] {
    const std::string data = std::string(2 * OutputPump::kMaxLine + 10, 'x') + "\n" +
                             std::string(OutputPump::kMaxLine, 'y') + "\nz";
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = write(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fd);
  });
  {
    OutputPump pump(-1, p[0], lines.Fn());
    writer.join();
  }
  close(p[0]);
  std::vector<size_t> sizes;
  for (const auto& [stream, line] : lines.lines) {
    EXPECT_EQ(stream, "stderr");
    sizes.push_back(line.size());
  }
  EXPECT_THAT(sizes,
              ElementsAre(OutputPump::kMaxLine, OutputPump::kMaxLine, 10, OutputPump::kMaxLine, 1));
}

TEST(OutputPumpTest, TagsLinesOfAChildWithTheirStream) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(Shell("echo out1; echo err1 >&2; echo out2; printf err2 >&2"));
  ASSERT_TRUE(process.ok()) << process.status();
  Lines lines;
  {
    OutputPump pump((*process)->stdout_fd(), (*process)->stderr_fd(), lines.Fn());
    EXPECT_EQ((*process)->Wait(), 0);
  }
  std::vector<std::string> out, err;
  for (const auto& [stream, line] : lines.lines) {
    (std::string(stream) == "stdout" ? out : err).push_back(line);
  }
  EXPECT_THAT(out, ElementsAre("out1", "out2"));
  EXPECT_THAT(err, ElementsAre("err1", "err2"));
}

}  // namespace
}  // namespace sluice
