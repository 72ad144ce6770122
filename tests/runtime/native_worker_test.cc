#include "runtime/native_worker.h"

#include <signal.h>

#include <set>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/function_spec.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

class RecordingSink final : public LogSink {
 public:
  void Append(LogLine line) override {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<LogLine> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<LogLine> lines_ ABSL_GUARDED_BY(mu_);
};

NativeWorkerOptions Options(const std::string& example) {
  NativeWorkerOptions options;
  options.worker_binary = testing::BinaryDir() + "/sluice";
  options.artifact_path = testing::ExamplePath(example);
  options.entry_point = kDefaultEntryPoint;
  options.function_name = example;
  options.function_version = 1;
  return options;
}

ExecutionRequest Request(const std::string& payload, absl::Duration timeout = absl::Seconds(20)) {
  ExecutionRequest request;
  request.invocation_id = "inv_test";
  request.function_name = "f";
  request.payload = payload;
  request.deadline = absl::Now() + timeout;
  return request;
}

TEST(NativeWorkerTest, AnswersManyAttemptsOnOneProcess) {
  auto worker = NativeWorker::Start(Options("echo"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  for (int i = 0; i < 50; ++i) {
    const ExecutionResult r = (*worker)->Run(Request("n" + std::to_string(i)));
    ASSERT_TRUE(r.ok) << r.error_message;
    EXPECT_EQ(r.output, "n" + std::to_string(i));
  }
  EXPECT_TRUE((*worker)->Reusable());
}

TEST(NativeWorkerTest, ArtifactThatDoesNotLoadIsInvalidArgument) {
  NativeWorkerOptions options = Options("echo");
  options.entry_point = "missing_symbol";
  auto worker = NativeWorker::Start(options);
  EXPECT_EQ(worker.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(worker.status().message()), HasSubstr("missing_symbol"));
}

TEST(NativeWorkerTest, CrashIsReportedWithTheSignalAndTheWorkerIsDone) {
  auto worker = NativeWorker::Start(Options("crash"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  const ExecutionResult r = (*worker)->Run(Request("segv"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_type, "Crash");
  EXPECT_THAT(r.error_message, HasSubstr("killed by signal 11 (SIGSEGV)"));
  EXPECT_FALSE((*worker)->Reusable());
}

TEST(NativeWorkerTest, DeadlineKillsTheProcess) {
  auto worker = NativeWorker::Start(Options("crash"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  const absl::Time start = absl::Now();
  // "hang" ignores its deadline: only the kill ends it.
  const ExecutionResult r = (*worker)->Run(Request("hang", absl::Milliseconds(200)));
  EXPECT_EQ(r.error_type, "Timeout");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE((*worker)->Reusable());
}

TEST(NativeWorkerTest, CancelKillsTheProcess) {
  auto worker = NativeWorker::Start(Options("crash"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  ExecutionRequest request = Request("hang");
  auto cancel = std::make_shared<CancelFlag>();
  request.cancel = cancel;
  cancel->Cancel();
  const ExecutionResult r = (*worker)->Run(request);
  EXPECT_EQ(r.error_type, "Cancelled");
  EXPECT_FALSE((*worker)->Reusable());
}

TEST(NativeWorkerTest, EnvironmentIsExactlyTheGrantedOne) {
  NativeWorkerOptions options = Options("crash");
  options.env = {"A=1", "B=two"};
  auto worker = NativeWorker::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  const ExecutionResult r = (*worker)->Run(Request("env"));
  ASSERT_TRUE(r.ok);
  std::set<std::string> lines;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{"A=1", "B=two"}));
}

TEST(NativeWorkerTest, OutputIsTaggedWithTheAttempt) {
  RecordingSink sink;
  NativeWorkerOptions options = Options("crash");
  options.logs = &sink;
  auto worker = NativeWorker::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE((*worker)->Run(Request("print")).ok);
  const std::vector<LogLine> lines = sink.lines();
  ASSERT_EQ(lines.size(), 2u);
  for (const LogLine& line : lines) {
    EXPECT_EQ(line.invocation_id, "inv_test");
    EXPECT_EQ(line.function, "crash");
    EXPECT_EQ(line.version, 1u);
  }
}

}  // namespace
}  // namespace sluice
