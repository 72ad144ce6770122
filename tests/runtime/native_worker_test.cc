#include "runtime/native_worker.h"

#include <signal.h>

#include <functional>
#include <set>
#include <sstream>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/function_spec.h"
#include "runtime/progress.h"
#include "tests/runtime/progress_recorder.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
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

TEST(NativeWorkerTest, TheTraceContextCrossesToTheWorker) {
  auto worker = NativeWorker::Start(Options("whoami"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  ExecutionRequest request = Request("");
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  request.tracestate = "vendor=opaque";
  const ExecutionResult r = (*worker)->Run(request);
  ASSERT_TRUE(r.ok) << r.error_message;
  EXPECT_THAT(r.output, ::testing::HasSubstr("traceparent: " + request.traceparent + "\n"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("tracestate: vendor=opaque\n"));
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

TEST(NativeWorkerTest, ProgressArrivesInOrderBeforeTheResult) {
  auto worker = NativeWorker::Start(Options("progress"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  for (int run = 0; run < 2; ++run) {  // a warm worker reports again
    ProgressRecorder recorder;
    ExecutionRequest request = Request("5");
    request.on_progress = recorder.Callback();
    const ExecutionResult r = (*worker)->Run(request);
    ASSERT_TRUE(r.ok) << r.error_type << ": " << r.error_message;
    EXPECT_EQ(r.output, "done");
    EXPECT_THAT(recorder.reports(),
                ElementsAre(ProgressReport{25, "step 1 of 4"}, ProgressReport{50, "step 2 of 4"},
                            ProgressReport{75, "step 3 of 4"}, ProgressReport{100, "step 4 of 4"}));
  }
  EXPECT_TRUE((*worker)->Reusable());
}

TEST(NativeWorkerTest, ProgressReachesTheCallerWhileTheAttemptRuns) {
  NativeWorkerOptions options = Options("progress");
  options.artifact_path = testing::ExamplePath("progress_test_function");
  auto worker = NativeWorker::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  // "wait" reports once and then runs until stopped: only a report passed on
  // while it runs can trigger the cancellation that ends it.
  auto cancel = std::make_shared<CancelFlag>();
  ProgressRecorder recorder;
  ExecutionRequest request = Request("wait", absl::Seconds(60));
  request.cancel = cancel;
  request.on_progress = [&recorder, cancel](uint32_t percent, const std::string& message) {
    recorder.Callback()(percent, message);
    cancel->Cancel();
  };
  const ExecutionResult r = (*worker)->Run(request);
  EXPECT_EQ(r.error_type, "Cancelled");
  EXPECT_THAT(recorder.reports(), ElementsAre(ProgressReport{50, "waiting"}));
}

TEST(NativeWorkerTest, OversizedMessageIsCutInTheWorker) {
  NativeWorkerOptions options = Options("progress");
  options.artifact_path = testing::ExamplePath("progress_test_function");
  auto worker = NativeWorker::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ProgressRecorder recorder;
  ExecutionRequest request = Request("big");
  request.on_progress = recorder.Callback();
  ASSERT_TRUE((*worker)->Run(request).ok);
  EXPECT_THAT(recorder.reports(),
              ElementsAre(ProgressReport{100, std::string(kMaxProgressMessageBytes, 'x')}));
}

TEST(NativeWorkerTest, AFloodIsCoalescedAndTheLastReportArrives) {
  NativeWorkerOptions options = Options("progress");
  options.artifact_path = testing::ExamplePath("progress_test_function");
  auto worker = NativeWorker::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ProgressRecorder recorder;
  ExecutionRequest request = Request("flood");
  request.on_progress = recorder.Callback();
  ASSERT_TRUE((*worker)->Run(request).ok);
  const std::vector<ProgressReport> reports = recorder.reports();
  ASSERT_GE(reports.size(), static_cast<size_t>(ProgressThrottle::kDefaultBurst));
  EXPECT_LT(reports.size(), 200u);
  EXPECT_EQ(reports.front(), (ProgressReport{0, "report 0"}));
  EXPECT_EQ(reports.back(), (ProgressReport{99, "report 999"}));
  EXPECT_TRUE((*worker)->Reusable());
}

TEST(NativeWorkerTest, CrashAfterProgressIsStillACrash) {
  auto worker = NativeWorker::Start(Options("flaky"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  ProgressRecorder recorder;
  ExecutionRequest request = Request("1");
  request.metadata = {{"crash", "1"}};
  request.on_progress = recorder.Callback();
  const ExecutionResult r = (*worker)->Run(request);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_type, "Crash");
  EXPECT_THAT(r.error_message, HasSubstr("SIGABRT"));
  EXPECT_THAT(recorder.reports(), ElementsAre(ProgressReport{0, "attempt 1"}));
  EXPECT_FALSE((*worker)->Reusable());
}

TEST(NativeWorkerTest, FlakyFailsItsFirstAttemptsThenSucceeds) {
  auto worker = NativeWorker::Start(Options("flaky"));
  ASSERT_TRUE(worker.ok()) << worker.status();
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    ExecutionRequest request = Request("2");
    request.attempt = attempt;
    const ExecutionResult r = (*worker)->Run(request);
    if (attempt <= 2) {
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.error_type, "Flaky");
      EXPECT_EQ(r.error_message, "attempt " + std::to_string(attempt) + " failed on purpose");
    } else {
      ASSERT_TRUE(r.ok) << r.error_type << ": " << r.error_message;
      EXPECT_EQ(r.output, "ok after 3 attempts");
    }
  }
  ExecutionRequest always = Request("always");
  always.attempt = 100;
  EXPECT_EQ((*worker)->Run(always).error_type, "Flaky");
  EXPECT_EQ((*worker)->Run(Request("")).output, "ok after 1 attempts");
  EXPECT_EQ((*worker)->Run(Request("two")).error_type, "InvalidInput");
  EXPECT_TRUE((*worker)->Reusable());
}

}  // namespace
}  // namespace sluice
