// Tests of LambdaWorker with real bootstrap processes: the example bundles
// and small shell bootstraps that misbehave on purpose.
#include "runtime/lambda_worker.h"

#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/bundle.h"
#include "runtime/progress.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// kPrelude starts every test bootstrap: strict bash, the API base URL, and
// `next FILE`, which waits for an event and leaves its request id in $ID.
constexpr char kPrelude[] = R"(#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
next() {
  curl -sS -D headers.txt -o "$1" "$API/invocation/next"
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id headers.txt | tr -d '[:space:]' | cut -d: -f2)
}
)";

// RecordingSink keeps every line it is given.
class RecordingSink : public LogSink {
 public:
  void Append(LogLine line) override {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<LogLine> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<LogLine> lines_ ABSL_GUARDED_BY(mu_);
};

bool ProcessGone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

size_t OpenFds() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// HasChildren tells whether this process has any child, zombies included.
bool HasChildren() {
  siginfo_t info;
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

ExecutionRequest Request(const std::string& id, const std::string& payload,
                         absl::Duration timeout = absl::Seconds(30)) {
  ExecutionRequest request;
  request.invocation_id = id;
  request.function_name = "echo-fn";
  request.function_version = 7;
  request.deadline = absl::Now() + timeout;
  request.payload = payload;
  return request;
}

class LambdaWorkerTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // RootFromBundle prepares a task root from a built example bundle.
  std::string RootFromBundle(const std::string& bundle) {
    const std::string root = absl::StrCat(dir_, "/", bundle, "-root");
    absl::Status prepared = PrepareTaskRoot(testing::BinaryDir() + "/functions/" + bundle, root);
    EXPECT_TRUE(prepared.ok()) << prepared;
    return root;
  }

  // RootFromScript prepares a task root whose bootstrap is kPrelude + body.
  std::string RootFromScript(const std::string& body) {
    const int n = ++roots_;
    const std::string artifact = absl::StrCat(dir_, "/script-", n);
    std::ofstream(artifact) << kPrelude << body;
    const std::string root = absl::StrCat(dir_, "/root-", n);
    absl::Status prepared = PrepareTaskRoot(artifact, root);
    EXPECT_TRUE(prepared.ok()) << prepared;
    return root;
  }

  LambdaWorkerOptions Options(const std::string& root) {
    LambdaWorkerOptions options;
    options.task_root = root;
    options.handler = "function.handler";
    options.function_name = "echo-fn";
    options.function_version = 7;
    options.memory_mb = 256;
    options.max_payload_bytes = 64 * 1024;
    options.init_timeout = absl::Seconds(30);
    options.logs = &logs_;
    return options;
  }

  std::unique_ptr<LambdaWorker> StartOrDie(LambdaWorkerOptions options) {
    absl::StatusOr<std::unique_ptr<LambdaWorker>> worker = LambdaWorker::Start(std::move(options));
    EXPECT_TRUE(worker.ok()) << worker.status();
    return worker.ok() ? *std::move(worker) : nullptr;
  }

  const std::string dir_ = testing::MakeTempDir();
  RecordingSink logs_;
  int roots_ = 0;
};

TEST_F(LambdaWorkerTest, ShellBundleAnswersSeveralInvocationsWhileWarm) {
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(RootFromBundle("lambda-shell.zip")));
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  for (int i = 0; i < 5; ++i) {
    ExecutionResult result =
        worker->Run(Request(absl::StrCat("shell-", i), R"({"n":)" + std::to_string(i) + "}"));
    ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
    EXPECT_EQ(result.output, absl::StrCat(R"({"echo": {"n":)", i, R"(}, "runtime": "bash"})"));
    EXPECT_TRUE(worker->Reusable());
  }
  EXPECT_EQ(worker->pid(), pid);
  EXPECT_FALSE(ProcessGone(pid));
}

TEST_F(LambdaWorkerTest, PythonBundleAnswersSeveralInvocationsAndReportsErrors) {
  std::unique_ptr<LambdaWorker> worker =
      StartOrDie(Options(RootFromBundle("lambda-python.tar.gz")));
  ASSERT_NE(worker, nullptr);
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("py-", i);
    ExecutionResult result = worker->Run(Request(id, absl::StrCat(R"({"n": )", i, "}")));
    ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
    EXPECT_EQ(result.output,
              absl::StrCat(R"({"echo": {"n": )", i, R"(}, "runtime": "python", "request_id": ")",
                           id, R"("})"));
  }
  ExecutionResult failed = worker->Run(Request("py-fail", R"({"fail": "no thumbnails today"})"));
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.error_type, "ValueError");
  EXPECT_EQ(failed.error_message, "no thumbnails today");
  // A function error is an answer like any other: the worker stays warm.
  EXPECT_TRUE(worker->Reusable());
  EXPECT_TRUE(worker->Run(Request("py-after", "{}")).ok);
}

TEST_F(LambdaWorkerTest, LogLinesAreTaggedWithTheInvocation) {
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(RootFromBundle("lambda-shell.zip")));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(worker->Run(Request("tagged-1", R"("abc")")).ok);
  auto tagged = [this] {
    for (const LogLine& line : logs_.lines()) {
      if (line.invocation_id == "tagged-1") return true;
    }
    return false;
  };
  ASSERT_TRUE(testing::WaitFor(tagged, absl::Seconds(10)));
  for (const LogLine& line : logs_.lines()) {
    if (line.invocation_id != "tagged-1") continue;
    EXPECT_EQ(line.function, "echo-fn");
    EXPECT_EQ(line.version, 7u);
    EXPECT_EQ(line.stream, "stderr");
    EXPECT_EQ(line.text, "handling an event of 5 bytes");
  }
}

TEST_F(LambdaWorkerTest, EnvironmentIsExactlyWhatTheSpecGrants) {
  const std::string root = RootFromScript(R"sh(
next event.json
curl -sS -o /dev/null --data-binary @/proc/$$/environ "$API/invocation/$ID/response"
next event.json
curl -sS -o /dev/null --data-binary "$(pwd)" "$API/invocation/$ID/response"
sleep 600
)sh");
  LambdaWorkerOptions options = Options(root);
  options.env = {"GREETING=hello world",           "TZ=Europe/Paris", "_HANDLER=evil.handler",
                 "AWS_LAMBDA_FUNCTION_NAME=other", "NOT_A_VARIABLE",  "EMPTY="};
  std::unique_ptr<LambdaWorker> worker = StartOrDie(std::move(options));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("env-1", "{}"));
  ASSERT_TRUE(result.ok) << result.error_message;
  std::vector<std::string> env = absl::StrSplit(result.output, '\0', absl::SkipEmpty());
  EXPECT_THAT(env, UnorderedElementsAre(
                       StartsWith("AWS_LAMBDA_RUNTIME_API=127.0.0.1:"), "_HANDLER=function.handler",
                       "LAMBDA_TASK_ROOT=" + root, "AWS_LAMBDA_FUNCTION_NAME=echo-fn",
                       "AWS_LAMBDA_FUNCTION_VERSION=7", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
                       "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TZ=Europe/Paris",
                       "GREETING=hello world", "EMPTY="));
  result = worker->Run(Request("env-2", "{}"));
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_EQ(result.output, std::filesystem::canonical(root).string());
}

TEST_F(LambdaWorkerTest, BootstrapThatNeverCallsNextTimesOutAndIsKilled) {
  const std::string root = RootFromScript("echo $$ > pid\nexec sleep 600\n");
  LambdaWorkerOptions options = Options(root);
  options.init_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<LambdaWorker>> worker = LambdaWorker::Start(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr("init timed out"));
  const pid_t pid = std::stoi(testing::ReadFileOrDie(root + "/pid"));
  EXPECT_TRUE(ProcessGone(pid));
}

TEST_F(LambdaWorkerTest, BootstrapThatExitsDuringInitFailsWithItsStderr) {
  const std::string root = RootFromScript("echo 'cannot load function.handler' >&2\nexit 3\n");
  absl::StatusOr<std::unique_ptr<LambdaWorker>> worker = LambdaWorker::Start(Options(root));
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(worker.status().message()),
              AllOf(StartsWith("init failed: exited with status 3"),
                    HasSubstr("cannot load function.handler")));
}

TEST_F(LambdaWorkerTest, InitErrorIsReportedWithItsTypeAndMessage) {
  const std::string root = RootFromScript(R"sh(
curl -sS -o /dev/null -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \
  --data-binary '{"errorMessage":"BUCKET is not set","errorType":"KeyError"}' "$API/init/error"
exec sleep 600
)sh");
  LambdaWorkerOptions options = Options(root);
  options.init_timeout = absl::Seconds(60);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<LambdaWorker>> worker = LambdaWorker::Start(options);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(worker.status().message()),
            "init failed: Runtime.ConfigError: BUCKET is not set");
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // not the init timeout
}

TEST_F(LambdaWorkerTest, MissingBootstrapIsReported) {
  const std::string root = dir_ + "/empty";
  std::filesystem::create_directories(root);
  absl::StatusOr<std::unique_ptr<LambdaWorker>> worker = LambdaWorker::Start(Options(root));
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LambdaWorkerTest, SecondPostForOneInvocationMakesTheWorkerUnusable) {
  const std::string root = RootFromScript(R"sh(
while true; do
  next event.json
  curl -sS -o /dev/null --data-binary 'first' "$API/invocation/$ID/response"
  curl -sS -o /dev/null --data-binary 'second' "$API/invocation/$ID/response"
done
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("twice", "{}"));
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result.output, "first");
  EXPECT_TRUE(testing::WaitFor([&] { return !worker->Reusable(); }, absl::Seconds(10)));
}

TEST_F(LambdaWorkerTest, PostForAnUnknownIdFailsAtOnce) {
  const std::string root = RootFromScript(R"sh(
next event.json
curl -sS -o /dev/null --data-binary 'hi' "$API/invocation/not-$ID/response"
exec sleep 600
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("known", "{}"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, kProtocolError);
  EXPECT_THAT(result.error_message, HasSubstr("unknown invocation id not-known"));
  EXPECT_FALSE(worker->Reusable());
}

TEST_F(LambdaWorkerTest, MalformedJsonErrorIsAFunctionError) {
  const std::string root = RootFromScript(R"sh(
while true; do
  next event.json
  curl -sS -o /dev/null --data-binary 'oops, not json' "$API/invocation/$ID/error"
done
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("malformed", "{}"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, kUnhandledError);
  EXPECT_EQ(result.error_message, "oops, not json");
  EXPECT_TRUE(worker->Reusable());
}

TEST_F(LambdaWorkerTest, ProgressPostedByTheBootstrapReachesTheCallerInOrder) {
  // The Sluice extension: POST /invocation/{id}/progress, then the answer.
  const std::string root = RootFromScript(R"sh(
while true; do
  next event.json
  for step in 1 2 3 4; do
    curl -sS -f -o /dev/null -H 'Content-Type: application/json' \
      --data-binary "{\"percent\": $((step * 25)), \"message\": \"step $step of 4\"}" \
      "$API/invocation/$ID/progress"
  done
  big=$(head -c 2000 /dev/zero | tr '\0' 'z')
  curl -sS -f -o /dev/null --data-binary "{\"percent\": 100, \"message\": \"$big\"}" \
    "$API/invocation/$ID/progress"
  curl -sS -o /dev/null --data-binary '"done"' "$API/invocation/$ID/response"
done
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  for (int run = 0; run < 2; ++run) {
    std::vector<std::pair<uint32_t, std::string>> reports;
    ExecutionRequest request = Request(absl::StrCat("progress-", run), "{}");
    request.on_progress = [&reports](uint32_t percent, const std::string& message) {
      reports.emplace_back(percent, message);  // on the thread calling Run
    };
    ExecutionResult result = worker->Run(request);
    ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
    EXPECT_EQ(result.output, R"("done")");
    EXPECT_THAT(reports, ElementsAre(std::pair<uint32_t, std::string>{25, "step 1 of 4"},
                                     std::pair<uint32_t, std::string>{50, "step 2 of 4"},
                                     std::pair<uint32_t, std::string>{75, "step 3 of 4"},
                                     std::pair<uint32_t, std::string>{100, "step 4 of 4"},
                                     std::pair<uint32_t, std::string>{
                                         100, std::string(kMaxProgressMessageBytes, 'z')}));
    EXPECT_TRUE(worker->Reusable());
  }
}

TEST_F(LambdaWorkerTest, OversizedResponseFailsAndMakesTheWorkerUnusable) {
  const std::string root = RootFromScript(R"sh(
next event.json
head -c 4096 /dev/zero | tr '\0' x | curl -sS -o /dev/null --data-binary @- \
  "$API/invocation/$ID/response"
exec sleep 600
)sh");
  LambdaWorkerOptions options = Options(root);
  options.max_payload_bytes = 1024;
  std::unique_ptr<LambdaWorker> worker = StartOrDie(std::move(options));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("big", "{}"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, kResponseTooLargeError);
  EXPECT_FALSE(worker->Reusable());
}

TEST_F(LambdaWorkerTest, FunctionPastItsDeadlineIsKilledWithItsGroup) {
  const std::string root = RootFromScript(R"sh(
next event.json
sleep 600
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  const pid_t pid = worker->pid();
  ExecutionResult result = worker->Run(Request("slow", "{}", absl::Milliseconds(300)));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, kTimeoutError);
  EXPECT_FALSE(worker->Reusable());
  EXPECT_TRUE(ProcessGone(pid));
  // The sleep was killed with it; once dead it is reaped by init.
  EXPECT_TRUE(
      testing::WaitFor([pid] { return kill(-pid, 0) != 0 && errno == ESRCH; }, absl::Seconds(10)));
}

TEST_F(LambdaWorkerTest, CancelledInvocationKillsTheProcess) {
  const std::string root = RootFromScript(R"sh(
next event.json
sleep 600
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  ExecutionRequest request = Request("cancelled", "{}");
  auto cancel = std::make_shared<CancelFlag>();
  cancel->Cancel();
  request.cancel = cancel;
  ExecutionResult result = worker->Run(request);
  EXPECT_EQ(result.error_type, kCancelledError);
  EXPECT_TRUE(ProcessGone(worker->pid()));
}

TEST_F(LambdaWorkerTest, ProcessDyingMidInvocationIsACrash) {
  const std::string root = RootFromScript(R"sh(
next event.json
echo 'out of coffee' >&2
exit 7
)sh");
  std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
  ASSERT_NE(worker, nullptr);
  ExecutionResult result = worker->Run(Request("crash", "{}"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, kCrashError);
  EXPECT_THAT(result.error_message,
              AllOf(StartsWith("exited with status 7"), HasSubstr("out of coffee")));
  EXPECT_FALSE(worker->Reusable());
}

TEST_F(LambdaWorkerTest, NoDescriptorsOrChildrenLeakAfterManyRuns) {
  const std::string python_root = RootFromBundle("lambda-python.tar.gz");
  const std::string crash_root = RootFromScript("next event.json\nexit 1\n");
  const std::string slow_root = RootFromScript("next event.json\nsleep 600\n");
  // Warm up whatever the first worker initialises once per process.
  StartOrDie(Options(python_root)).reset();
  const size_t fds_before = OpenFds();

  {
    std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(python_root));
    ASSERT_NE(worker, nullptr);
    for (int i = 0; i < 100; ++i) {
      ExecutionResult result = worker->Run(Request(absl::StrCat("many-", i), "{}"));
      ASSERT_TRUE(result.ok) << i << ": " << result.error_message;
    }
  }
  for (const std::string& root : {crash_root, slow_root}) {
    std::unique_ptr<LambdaWorker> worker = StartOrDie(Options(root));
    ASSERT_NE(worker, nullptr);
    EXPECT_FALSE(worker->Run(Request("bad", "{}", absl::Milliseconds(300))).ok);
  }
  EXPECT_TRUE(testing::WaitFor([&] { return OpenFds() == fds_before; }, absl::Seconds(10)))
      << OpenFds() << " descriptors open, " << fds_before << " before";
  EXPECT_FALSE(HasChildren());
}

}  // namespace
}  // namespace sluice
