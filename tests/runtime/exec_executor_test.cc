#include "runtime/exec_executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// RecordingSink keeps every line; `on_line` (when set) sees each one too.
class RecordingSink final : public LogSink {
 public:
  void Append(LogLine line) override {
    absl::MutexLock lock(&mu_);
    if (on_line) on_line(line);
    lines_.push_back(std::move(line));
  }
  std::vector<LogLine> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  std::function<void(const LogLine&)> on_line;

 private:
  absl::Mutex mu_;
  std::vector<LogLine> lines_ ABSL_GUARDED_BY(mu_);
};

class ExecExecutorTest : public testing::Test {
 protected:
  ExecExecutorTest() {
    dir_ = testing::TempDir() + "/sluice-exec-XXXXXX";
    EXPECT_NE(mkdtemp(dir_.data()), nullptr);
  }
  ~ExecExecutorTest() override { std::filesystem::remove_all(dir_); }

  // Script writes an executable shell script and returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  std::unique_ptr<Executor> Exec(const std::string& program) {
    ExecOptions options;
    options.program = program;
    options.env = {"PATH=/usr/bin:/bin"};
    options.function_name = "fn";
    options.function_version = 7;
    options.logs = &sink_;
    return NewExecExecutor(std::move(options));
  }

  static ExecutionRequest Request(std::string payload = "",
                                  absl::Duration timeout = absl::Seconds(60)) {
    ExecutionRequest request;
    request.invocation_id = "inv-1";
    request.function_name = "fn";
    request.function_version = 7;
    request.attempt = 2;
    request.deadline = absl::Now() + timeout;
    request.payload = std::move(payload);
    return request;
  }

  std::string dir_;
  RecordingSink sink_;
};

TEST_F(ExecExecutorTest, EchoesThePayloadThroughCat) {
  ExecutionResult result = Exec("/bin/cat")->Execute(Request("hello, world"));
  ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
  EXPECT_EQ(result.output, "hello, world");
}

TEST_F(ExecExecutorTest, EmptyPayloadIsAnEmptyStdin) {
  ExecutionResult result = Exec("/bin/cat")->Execute(Request(""));
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_EQ(result.output, "");
}

TEST_F(ExecExecutorTest, LargePayloadRoundTrips) {
  std::string payload(5 << 20, '\0');
  std::mt19937 random(42);
  for (char& c : payload) c = static_cast<char>(random());
  ExecutionResult result = Exec("/bin/cat")->Execute(Request(payload));
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_TRUE(result.output == payload) << "output of " << result.output.size() << " bytes";
}

TEST_F(ExecExecutorTest, ProgramThatIgnoresItsInputStillSucceeds) {
  ExecutionResult result =
      Exec(Script("ignore", "echo done"))->Execute(Request(std::string(5 << 20, 'x')));
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_EQ(result.output, "done\n");
}

TEST_F(ExecExecutorTest, NonZeroExitCarriesTheStderrTail) {
  const std::string noise(8000, 'n');
  ExecutionResult result =
      Exec(Script("fail", absl::StrCat("echo partial output; echo ", noise,
                                       " >&2; echo 'something broke' >&2; exit 3")))
          ->Execute(Request());
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, "NonZeroExit");
  EXPECT_THAT(result.error_message, StartsWith("exited with status 3: nnn"));
  EXPECT_TRUE(absl::EndsWith(result.error_message, "\nsomething broke")) << result.error_message;
  // Only the tail: 4 KiB of stderr at most.
  EXPECT_LT(result.error_message.size(), 4096u + 64);
}

TEST_F(ExecExecutorTest, SignalIsACrashWithTheSignalName) {
  ExecutionResult result =
      Exec(Script("segv", "echo about to crash >&2; kill -SEGV $$"))->Execute(Request());
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, "Crash");
  EXPECT_EQ(result.error_message, "killed by signal 11 (SIGSEGV): about to crash");
}

TEST_F(ExecExecutorTest, TimeoutKillsTheProcessAtTheDeadline) {
  const absl::Time start = absl::Now();
  ExecutionResult result =
      Exec(Script("slow", "sleep 100"))->Execute(Request("", absl::Milliseconds(200)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, "Timeout");
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST_F(ExecExecutorTest, NothingStartsPastTheDeadlineOrOnceCancelled) {
  // A program that would leave a trace if it ran.
  const std::string marker = dir_ + "/ran";
  std::unique_ptr<Executor> exec = Exec(Script("touch", "touch " + marker));
  ExecutionRequest late = Request();
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(exec->Execute(late).error_type, "Timeout");
  ExecutionRequest cancelled = Request();
  auto cancel = std::make_shared<CancelFlag>();
  cancel->Cancel();
  cancelled.cancel = cancel;
  EXPECT_EQ(exec->Execute(cancelled).error_type, "Cancelled");
  EXPECT_FALSE(std::filesystem::exists(marker));
  ASSERT_TRUE(exec->Execute(Request()).ok);
  EXPECT_TRUE(std::filesystem::exists(marker));
}

TEST_F(ExecExecutorTest, CancelKillsTheProcess) {
  ExecutionRequest request = Request();
  auto cancel = std::make_shared<CancelFlag>();
  request.cancel = cancel;
  // Cancel once the function shows it runs.
  sink_.on_line = [cancel](const LogLine& line) {
    if (line.text == "started") cancel->Cancel();
  };
  const absl::Time start = absl::Now();
  ExecutionResult result = Exec(Script("wait", "echo started >&2; sleep 100"))->Execute(request);
  EXPECT_EQ(result.error_type, "Cancelled") << result.error_message;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(ExecExecutorTest, StdoutFloodFailsQuickly) {
  for (const std::string& program :
       {std::string("/usr/bin/yes"), Script("zeros", "head -c 100M /dev/zero")}) {
    const absl::Time start = absl::Now();
    ExecutionResult result = Exec(program)->Execute(Request());
    EXPECT_FALSE(result.ok) << program;
    EXPECT_EQ(result.error_type, "OutputTooLarge");
    EXPECT_EQ(result.error_message, "stdout exceeded 6291456 bytes");
    EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  }
}

TEST_F(ExecExecutorTest, OutputAtTheLimitIsAccepted) {
  ExecOptions options;
  options.program = Script("exact", "head -c 1000 /dev/zero");
  options.env = {"PATH=/usr/bin:/bin"};
  options.max_output_bytes = 1000;
  EXPECT_TRUE(NewExecExecutor(options)->Execute(Request()).ok);
  options.max_output_bytes = 999;
  EXPECT_EQ(NewExecExecutor(options)->Execute(Request()).error_type, "OutputTooLarge");
}

TEST_F(ExecExecutorTest, SetsTheInvocationEnvironment) {
  ExecOptions options;
  options.program = Script("env", "exec env");
  options.env = {"PATH=/usr/bin:/bin", "FOO=bar", "SLUICE_ATTEMPT=99"};
  options.function_name = "fn";
  options.function_version = 7;
  ExecutionRequest request = Request();
  ExecutionResult result = NewExecExecutor(options)->Execute(request);
  ASSERT_TRUE(result.ok) << result.error_message;
  std::vector<std::string> vars = absl::StrSplit(result.output, '\n', absl::SkipEmpty());
  // The shell may export PWD of its own accord; nothing else is added.
  std::erase_if(vars, [](const std::string& v) { return absl::StartsWith(v, "PWD="); });
  EXPECT_THAT(vars,
              UnorderedElementsAre(
                  "PATH=/usr/bin:/bin", "FOO=bar", "SLUICE_INVOCATION_ID=inv-1", "SLUICE_ATTEMPT=2",
                  absl::StrCat("SLUICE_DEADLINE_MS=", absl::ToUnixMillis(request.deadline)),
                  "SLUICE_FUNCTION_NAME=fn", "SLUICE_FUNCTION_VERSION=7"));
}

TEST_F(ExecExecutorTest, PassesTheTraceContextInTheEnvironment) {
  ExecOptions options;
  options.program = Script("env", "exec env");
  options.env = {"PATH=/usr/bin:/bin"};
  ExecutionRequest request = Request();
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  request.tracestate = "vendor=opaque";
  ExecutionResult result = NewExecExecutor(options)->Execute(request);
  ASSERT_TRUE(result.ok) << result.error_message;
  std::vector<std::string> vars = absl::StrSplit(result.output, '\n', absl::SkipEmpty());
  EXPECT_THAT(vars, ::testing::IsSupersetOf(
                        {"TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                         "TRACESTATE=vendor=opaque"}));
}

TEST_F(ExecExecutorTest, RunsInTheWorkingDirectory) {
  ExecOptions options;
  options.program = Script("pwd", "pwd -P");
  options.working_dir = dir_;
  ExecutionResult result = NewExecExecutor(options)->Execute(Request());
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_EQ(result.output, std::filesystem::canonical(dir_).string() + "\n");
}

TEST_F(ExecExecutorTest, StderrLinesReachTheSinkTagged) {
  ExecutionResult result =
      Exec(Script("log", "echo one >&2; echo result; echo two >&2; printf three >&2"))
          ->Execute(Request());
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_EQ(result.output, "result\n");
  std::vector<std::string> texts;
  for (const LogLine& line : sink_.lines()) {
    EXPECT_EQ(line.function, "fn");
    EXPECT_EQ(line.version, 7u);
    EXPECT_EQ(line.invocation_id, "inv-1");
    EXPECT_EQ(line.stream, "stderr");
    texts.push_back(line.text);
  }
  EXPECT_THAT(texts, testing::ElementsAre("one", "two", "three"));
}

TEST_F(ExecExecutorTest, MissingProgramIsALoadError) {
  ExecutionResult result = Exec(dir_ + "/missing")->Execute(Request());
  EXPECT_EQ(result.error_type, "FunctionLoadError");
  EXPECT_THAT(result.error_message, HasSubstr("missing"));
}

TEST_F(ExecExecutorTest, BackgroundProcessesDoNotHoldTheResultBack) {
  const absl::Time start = absl::Now();
  ExecutionResult result =
      Exec(Script("daemon", "sleep 1000 & echo done"))->Execute(Request("", absl::Seconds(30)));
  ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
  EXPECT_EQ(result.output, "done\n");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

int OpenDescriptorCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// Children lists the processes whose parent is this process, with their
// states ("Z" for zombies).
std::vector<std::string> Children() {
  std::vector<std::string> children;
  const std::string self = absl::StrCat(getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    int pid;
    if (!absl::SimpleAtoi(name, &pid)) continue;
    std::ifstream file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::vector<std::string> fields =
        absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipWhitespace());
    if (fields.size() >= 2 && fields[1] == self) children.push_back(name + " " + fields[0]);
  }
  return children;
}

TEST_F(ExecExecutorTest, ManyExecutionsLeakNoDescriptorsOrZombies) {
  std::unique_ptr<Executor> cat = Exec("/bin/cat");
  std::unique_ptr<Executor> crash = Exec(Script("crash", "echo bye >&2; kill -SEGV $$"));
  std::unique_ptr<Executor> fail = Exec(Script("fail", "echo no >&2; exit 1"));
  std::unique_ptr<Executor> slow = Exec(Script("slow", "sleep 100"));
  std::unique_ptr<Executor> daemon = Exec(Script("daemon", "sleep 1000 & echo ok"));
  std::unique_ptr<Executor> flood = Exec("/usr/bin/yes");
  auto run = [&](int i) {
    switch (i % 6) {
      case 0:
        return cat->Execute(Request(absl::StrCat("payload ", i))).output ==
               absl::StrCat("payload ", i);
      case 1:
        return crash->Execute(Request()).error_type == "Crash";
      case 2:
        return fail->Execute(Request()).error_type == "NonZeroExit";
      case 3:
        return slow->Execute(Request("", absl::Milliseconds(30))).error_type == "Timeout";
      case 4:
        return daemon->Execute(Request()).output == "ok\n";
      default:
        return (i % 60 == 5 ? flood->Execute(Request()).error_type == "OutputTooLarge"
                            : cat->Execute(Request("x")).ok);
    }
  };
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(run(i)) << i;  // warm up
  const int fds_before = OpenDescriptorCount();

  constexpr int kThreads = 4;
  constexpr int kRuns = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRuns; i += kThreads) {
        if (!run(i)) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(OpenDescriptorCount(), fds_before);
  EXPECT_THAT(Children(), testing::IsEmpty());
}

}  // namespace
}  // namespace sluice
