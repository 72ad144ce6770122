// Tests of the in-process native executor: the C ABI's host side, progress
// reports above all (normalising, order, rate limiting, ABI versions).
#include "runtime/native_executor.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/function_spec.h"
#include "runtime/progress.h"
#include "sluice/function.h"
#include "tests/runtime/progress_recorder.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;

std::unique_ptr<Executor> LoadOrDie(const std::string& example) {
  absl::StatusOr<std::unique_ptr<Executor>> executor =
      LoadNativeFunction(testing::ExamplePath(example), kDefaultEntryPoint);
  EXPECT_TRUE(executor.ok()) << executor.status();
  return executor.ok() ? *std::move(executor) : nullptr;
}

ExecutionRequest Request(const std::string& payload, ProgressRecorder* recorder = nullptr) {
  ExecutionRequest request;
  request.invocation_id = "inv_test";
  request.function_name = "f";
  request.payload = payload;
  request.deadline = absl::Now() + absl::Seconds(20);
  if (recorder != nullptr) request.on_progress = recorder->Callback();
  return request;
}

TEST(NativeExecutorTest, ProgressIsDeliveredInOrderBeforeTheResult) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  const ExecutionResult result = executor->Execute(Request("5", &recorder));
  ASSERT_TRUE(result.ok) << result.error_type << ": " << result.error_message;
  EXPECT_EQ(result.output, "done");
  EXPECT_THAT(recorder.reports(),
              ElementsAre(ProgressReport{25, "step 1 of 4"}, ProgressReport{50, "step 2 of 4"},
                          ProgressReport{75, "step 3 of 4"}, ProgressReport{100, "step 4 of 4"}));
}

TEST(NativeExecutorTest, ProgressIsPassedOnWhileTheFunctionRuns) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  // "wait" reports once, then runs until cancelled: only a report passed on
  // at once can end it.
  ProgressRecorder recorder;
  ExecutionRequest request = Request("wait", &recorder);
  auto cancel = std::make_shared<CancelFlag>();
  request.cancel = cancel;
  request.on_progress = [&recorder, cancel](uint32_t percent, const std::string& message) {
    recorder.Callback()(percent, message);
    cancel->Cancel();
  };
  const ExecutionResult result = executor->Execute(request);
  EXPECT_EQ(result.error_type, "Interrupted");
  EXPECT_THAT(recorder.reports(), ElementsAre(ProgressReport{50, "waiting"}));
}

TEST(NativeExecutorTest, FunctionsRunWithoutAProgressCallback) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress");
  ASSERT_NE(executor, nullptr);
  const ExecutionResult result = executor->Execute(Request(""));
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result.output, "done");
}

TEST(NativeExecutorTest, ProgressStepsStopWhenCancelled) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  ExecutionRequest request = Request("600000", &recorder);
  auto cancel = std::make_shared<CancelFlag>();
  cancel->Cancel();
  request.cancel = cancel;
  const ExecutionResult result = executor->Execute(request);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, "Interrupted");
  EXPECT_TRUE(recorder.reports().empty());
}

TEST(NativeExecutorTest, OversizedMessageIsCutAndPercentClamped) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  ASSERT_TRUE(executor->Execute(Request("big", &recorder)).ok);
  EXPECT_THAT(recorder.reports(),
              ElementsAre(ProgressReport{100, std::string(kMaxProgressMessageBytes, 'x')}));
}

TEST(NativeExecutorTest, MessagesAreCutAtACharacterAndMadeValidUtf8) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  ASSERT_TRUE(executor->Execute(Request("utf8", &recorder)).ok);
  EXPECT_THAT(recorder.reports(),
              ElementsAre(ProgressReport{10, std::string(1023, 'a')}, ProgressReport{20, "a?b"}));
}

TEST(NativeExecutorTest, AFloodIsCoalescedAndTheLastReportIsKept) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  ASSERT_TRUE(executor->Execute(Request("flood", &recorder)).ok);
  const std::vector<ProgressReport> reports = recorder.reports();
  // The burst passes as is; the rest of a tight loop is coalesced.
  ASSERT_GE(reports.size(), static_cast<size_t>(ProgressThrottle::kDefaultBurst));
  EXPECT_LT(reports.size(), 200u);
  for (int i = 0; i < ProgressThrottle::kDefaultBurst; ++i) {
    EXPECT_EQ(reports[i],
              (ProgressReport{static_cast<uint32_t>(i / 10), "report " + std::to_string(i)}));
  }
  EXPECT_EQ(reports.back(), (ProgressReport{99, "report 999"}));
  // In order: the report numbers only grow.
  int last = -1;
  for (const ProgressReport& report : reports) {
    const int n = std::stoi(report.message.substr(report.message.find(' ') + 1));
    EXPECT_GT(n, last);
    last = n;
  }
}

TEST(NativeExecutorTest, ReportsFromSeveralThreadsAreAllAccountedFor) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  ASSERT_TRUE(executor->Execute(Request("threads", &recorder)).ok);
  const std::vector<ProgressReport> reports = recorder.reports();
  ASSERT_FALSE(reports.empty());
  EXPECT_LE(reports.size(), 200u);
  for (const ProgressReport& report : reports) {
    EXPECT_LT(report.percent, 4u);
    EXPECT_EQ(report.message, "from a thread");
  }
}

TEST(NativeExecutorTest, TheHostOffersAbiVersion3) {
  std::unique_ptr<Executor> executor = LoadOrDie("progress_test_function");
  ASSERT_NE(executor, nullptr);
  const ExecutionResult result = executor->Execute(Request("abi"));
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result.output, std::to_string(SLUICE_ABI_VERSION));
  EXPECT_EQ(SLUICE_ABI_VERSION, 3);
}

TEST(NativeExecutorTest, FunctionsGetTheAttemptsTraceContext) {
  std::unique_ptr<Executor> executor = LoadOrDie("whoami");
  ASSERT_NE(executor, nullptr);
  ExecutionRequest request = Request("");
  request.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  request.tracestate = "vendor=opaque";
  const ExecutionResult result = executor->Execute(request);
  ASSERT_TRUE(result.ok) << result.error_message;
  EXPECT_THAT(result.output, ::testing::HasSubstr("traceparent: " + request.traceparent + "\n"));
  EXPECT_THAT(result.output, ::testing::HasSubstr("tracestate: vendor=opaque\n"));
}

TEST(NativeExecutorTest, TraceContextReadsEmptyOnAnAbi2Host) {
  sluice_invocation inv{};
  inv.abi_version = 2;
  inv.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  inv.tracestate = "a=b";
  EXPECT_STREQ(sluice_traceparent(&inv), "");
  EXPECT_STREQ(sluice_tracestate(&inv), "");
  inv.abi_version = 3;
  EXPECT_STREQ(sluice_traceparent(&inv), inv.traceparent);
  EXPECT_STREQ(sluice_tracestate(&inv), "a=b");
  inv.tracestate = nullptr;
  EXPECT_STREQ(sluice_tracestate(&inv), "");
}

TEST(NativeExecutorTest, FunctionsBuiltBeforeProgressStillRun) {
  // echo uses only the members of ABI 1.
  std::unique_ptr<Executor> executor = LoadOrDie("echo");
  ASSERT_NE(executor, nullptr);
  ProgressRecorder recorder;
  const ExecutionResult result = executor->Execute(Request("hi", &recorder));
  ASSERT_TRUE(result.ok);
  EXPECT_EQ(result.output, "hi");
  EXPECT_TRUE(recorder.reports().empty());
}

// An ABI 1 host offers only the first three services; the helper must not
// reach past them.
struct HostApiV1 {
  void (*set_output)(void*, const uint8_t*, size_t);
  void (*set_error)(void*, const char*, const char*);
  int (*is_cancelled)(void*);
};

TEST(NativeExecutorTest, ReportingProgressOnAnAbi1HostDoesNothing) {
  static int calls = 0;
  // Laid out as an ABI 2 table whose report_progress would count, but the
  // host says it is ABI 1: the helper must not call it.
  sluice_host_api api{};
  api.report_progress = [](void*, uint32_t, const char*) { ++calls; };
  sluice_invocation inv{};
  inv.abi_version = 1;
  inv.host_api = &api;
  sluice_report_progress(&inv, 50, "half");
  EXPECT_EQ(calls, 0);
  inv.abi_version = 2;
  sluice_report_progress(&inv, 50, "half");
  EXPECT_EQ(calls, 1);
  static_assert(offsetof(sluice_host_api, report_progress) == sizeof(HostApiV1),
                "report_progress must come after the ABI 1 members");
}

TEST(ProgressThrottleTest, RefillsWithTimeAndCoalescesToTheLatest) {
  ProgressThrottle throttle(2, absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(throttle.Offer({1, "a"}, t0).has_value());
  EXPECT_TRUE(throttle.Offer({2, "b"}, t0).has_value());
  EXPECT_FALSE(throttle.Offer({3, "c"}, t0).has_value());
  EXPECT_FALSE(throttle.Offer({4, "d"}, t0).has_value());
  EXPECT_FALSE(throttle.Due(t0 + absl::Milliseconds(500)).has_value());
  EXPECT_EQ(throttle.Due(t0 + absl::Seconds(1)), (ProgressReport{4, "d"}));
  EXPECT_FALSE(throttle.Due(t0 + absl::Seconds(5)).has_value());  // nothing pending
  EXPECT_FALSE(throttle.Flush().has_value());
  // A later report supersedes a pending one.
  EXPECT_TRUE(throttle.Offer({5, "e"}, t0 + absl::Seconds(5)).has_value());
  EXPECT_TRUE(throttle.Offer({6, "f"}, t0 + absl::Seconds(5)).has_value());
  EXPECT_FALSE(throttle.Offer({7, "g"}, t0 + absl::Seconds(5)).has_value());
  EXPECT_EQ(throttle.Flush(), (ProgressReport{7, "g"}));
}

TEST(NormalizeProgressTest, ClampsCutsAndRepairs) {
  EXPECT_EQ(NormalizeProgress(250, "x"), (ProgressReport{100, "x"}));
  EXPECT_EQ(NormalizeProgress(0, ""), (ProgressReport{0, ""}));
  EXPECT_EQ(NormalizeProgress(5, "caf\xc3\xa9"), (ProgressReport{5, "caf\xc3\xa9"}));
  // Overlong encoding, a lone continuation byte, a surrogate, a cut sequence.
  EXPECT_EQ(NormalizeProgress(5, "\xc0\xaf|\x80|\xed\xa0\x80|\xe2\x82").message, "??|?|???|??");
  // A 4-byte character that would cross the limit is left out whole.
  const std::string near = std::string(kMaxProgressMessageBytes - 2, 'a') + "\xf0\x9f\x98\x80";
  EXPECT_EQ(NormalizeProgress(1, near).message, std::string(kMaxProgressMessageBytes - 2, 'a'));
}

}  // namespace
}  // namespace sluice
