// Tests of terminal rendering: tables, descriptions, timelines and JSON.
#include "cli/output.h"

#include "cli/invocation_commands.h"
#include "cli/table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

google::protobuf::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp time;
  time.set_seconds(seconds);
  time.set_nanos(nanos);
  return time;
}

// 2024-05-01T12:00:00Z
constexpr int64_t kMay1 = 1714564800;

TEST(RenderTableTest, AlignsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(RenderTable({"NAME", "VERSION", "X"}, {{"echo", "12", ""}, {"wordcount", "3", "y"}}),
            "NAME       VERSION  X\n"
            "echo       12\n"
            "wordcount  3        y\n");
}

TEST(RenderTableTest, EmptyTableIsTheHeader) {
  EXPECT_EQ(RenderTable({"ID", "STATE"}, {}), "ID  STATE\n");
}

TEST(FormatTest, TimesAreUtcAndUnsetIsADash) {
  EXPECT_EQ(FormatTime(At(kMay1, 123000000)), "2024-05-01T12:00:00Z");
  EXPECT_EQ(FormatTimeMillis(At(kMay1, 123000000)), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(FormatTime(google::protobuf::Timestamp()), "-");
}

TEST(FormatTest, DurationsAreGoStyle) {
  google::protobuf::Duration duration;
  duration.set_seconds(90);
  EXPECT_EQ(FormatDuration(duration), "1m30s");
  duration.set_seconds(0);
  duration.set_nanos(500000000);
  EXPECT_EQ(FormatDuration(duration), "500ms");
  EXPECT_EQ(FormatDuration(google::protobuf::Duration()), "-");
}

TEST(ParseStateNameTest, AcceptsStatesInAnyCase) {
  EXPECT_EQ(ParseStateName("failed"), v1::FAILED);
  EXPECT_EQ(ParseStateName("Cancelled"), v1::CANCELLED);
  EXPECT_EQ(ParseStateName("done"), std::nullopt);
  EXPECT_EQ(ParseStateName("invocation_state_unspecified"), std::nullopt);
}

v1::Function EchoFunction() {
  v1::Function function;
  function.mutable_spec()->set_name("echo");
  function.mutable_spec()->set_runtime(v1::RUNTIME_NATIVE);
  function.mutable_spec()->set_concurrency(8);
  function.mutable_spec()->mutable_timeout()->set_seconds(10);
  function.mutable_spec()->set_isolation(v1::ISOLATION_NONE);
  (*function.mutable_spec()->mutable_env())["B"] = "2";
  (*function.mutable_spec()->mutable_env())["A"] = "1";
  function.set_version(3);
  function.set_sha256("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  function.set_artifact_size(4096);
  *function.mutable_created_at() = At(kMay1);
  return function;
}

TEST(FunctionTableTest, ShowsOneRowPerFunctionWithAShortHash) {
  v1::ListFunctionsResponse list;
  *list.add_functions() = EchoFunction();
  EXPECT_EQ(FunctionTable(list.functions()),
            "NAME  VERSION  RUNTIME  CONCURRENCY  TIMEOUT  SHA256        CREATED\n"
            "echo  3        native   8            10s      0123456789ab  2024-05-01T12:00:00Z\n");
}

TEST(DescribeFunctionTest, ListsSpecFieldsAndSortedEnv) {
  const std::string text = DescribeFunction(EchoFunction());
  EXPECT_THAT(text, HasSubstr("name:         echo\n"));
  EXPECT_THAT(text, HasSubstr("version:      3\n"));
  EXPECT_THAT(text, HasSubstr("timeout:      10s\n"));
  EXPECT_THAT(text, HasSubstr("isolation:    none\n"));
  EXPECT_THAT(text, HasSubstr("size:         4096 bytes\n"));
  EXPECT_THAT(text, HasSubstr("env:\n  A=1\n  B=2\n"));
  EXPECT_THAT(text, Not(HasSubstr("handler:")));
}

TEST(DescribeFunctionTest, ShowsRuntimeIsolationAndWorkerLimits) {
  v1::Function function = EchoFunction();
  v1::FunctionSpec& spec = *function.mutable_spec();
  spec.set_runtime(v1::RUNTIME_LAMBDA);
  spec.set_handler("function.handler");
  spec.set_isolation(v1::ISOLATION_PROCESS);
  spec.set_memory_mb(256);
  spec.set_min_warm(2);
  spec.mutable_idle_timeout()->set_seconds(300);
  spec.set_max_open_files(4096);
  const std::string text = DescribeFunction(function);
  EXPECT_THAT(text, HasSubstr("runtime:      lambda\n"));
  EXPECT_THAT(text, HasSubstr("handler:      function.handler\n"));
  EXPECT_THAT(text, HasSubstr("isolation:    process\n"));
  EXPECT_THAT(text, HasSubstr("memory limit: 256 MiB\n"));
  EXPECT_THAT(text, HasSubstr("min warm:     2\n"));
  EXPECT_THAT(text, HasSubstr("idle timeout: 5m\n"));
  EXPECT_THAT(text, HasSubstr("file limit:   4096\n"));

  spec.set_runtime(v1::RUNTIME_EXEC);
  EXPECT_THAT(DescribeFunction(function), HasSubstr("runtime:      exec\n"));
}

TEST(DescribeFunctionTest, WorkerLimitsOfOldVersionsAreDashes) {
  // EchoFunction sets none of the worker fields, as a version stored before
  // they existed.
  const std::string text = DescribeFunction(EchoFunction());
  EXPECT_THAT(text, HasSubstr("memory limit: -\n"));
  EXPECT_THAT(text, HasSubstr("min warm:     0\n"));
  EXPECT_THAT(text, HasSubstr("idle timeout: -\n"));
  EXPECT_THAT(text, HasSubstr("file limit:   -\n"));
}

TEST(FunctionTableTest, NamesEveryRuntime) {
  v1::ListFunctionsResponse list;
  for (const v1::Runtime runtime :
       {v1::RUNTIME_NATIVE, v1::RUNTIME_LAMBDA, v1::RUNTIME_EXEC, v1::RUNTIME_UNSPECIFIED}) {
    v1::Function& function = *list.add_functions() = EchoFunction();
    function.mutable_spec()->set_runtime(runtime);
  }
  list.mutable_functions(1)->mutable_spec()->set_name("greet");
  list.mutable_functions(2)->mutable_spec()->set_name("count");
  list.mutable_functions(3)->mutable_spec()->set_name("old");
  EXPECT_EQ(FunctionTable(list.functions()),
            "NAME   VERSION  RUNTIME  CONCURRENCY  TIMEOUT  SHA256        CREATED\n"
            "echo   3        native   8            10s      0123456789ab  2024-05-01T12:00:00Z\n"
            "greet  3        lambda   8            10s      0123456789ab  2024-05-01T12:00:00Z\n"
            "count  3        exec     8            10s      0123456789ab  2024-05-01T12:00:00Z\n"
            "old    3        -        8            10s      0123456789ab  2024-05-01T12:00:00Z\n");
}

TEST(NameTest, RuntimesAndIsolationsHaveTheirManifestNames) {
  EXPECT_EQ(RuntimeName(v1::RUNTIME_NATIVE), "native");
  EXPECT_EQ(RuntimeName(v1::RUNTIME_LAMBDA), "lambda");
  EXPECT_EQ(RuntimeName(v1::RUNTIME_EXEC), "exec");
  EXPECT_EQ(RuntimeName(v1::RUNTIME_UNSPECIFIED), "-");
  EXPECT_EQ(RuntimeName(static_cast<v1::Runtime>(99)), "-");
  EXPECT_EQ(IsolationName(v1::ISOLATION_NONE), "none");
  EXPECT_EQ(IsolationName(v1::ISOLATION_PROCESS), "process");
  EXPECT_EQ(IsolationName(v1::ISOLATION_UNSPECIFIED), "-");
}

v1::StateChange Change(v1::InvocationState state, int64_t seconds, const std::string& reason) {
  v1::StateChange change;
  change.set_state(state);
  *change.mutable_time() = At(seconds);
  change.set_reason(reason);
  return change;
}

v1::Invocation FinishedInvocation() {
  v1::Invocation invocation;
  invocation.set_id("inv-1");
  invocation.set_function("echo");
  invocation.set_version(3);
  invocation.set_state(v1::SUCCEEDED);
  invocation.set_attempt(1);
  *invocation.mutable_created_at() = At(kMay1);
  *invocation.mutable_updated_at() = At(kMay1 + 2);
  *invocation.add_timeline() = Change(v1::PENDING, kMay1, "queued");
  *invocation.add_timeline() = Change(v1::RUNNING, kMay1 + 1, "attempt 1 started");
  *invocation.add_timeline() = Change(v1::SUCCEEDED, kMay1 + 2, "attempt 1 succeeded");
  invocation.set_output("hello");
  return invocation;
}

TEST(TimelineLineTest, PadsTheStateColumn) {
  EXPECT_EQ(TimelineLine(Change(v1::RUNNING, kMay1, "attempt 1 started")),
            "2024-05-01T12:00:00.000Z  RUNNING    attempt 1 started\n");
  EXPECT_EQ(TimelineLine(Change(v1::PENDING, kMay1, "")), "2024-05-01T12:00:00.000Z  PENDING\n");
}

TEST(DescribeInvocationTest, ShowsTimelineAndOutput) {
  const std::string text =
      DescribeInvocation(FinishedInvocation(), absl::FromUnixSeconds(kMay1 + 3));
  EXPECT_THAT(text, HasSubstr("function:     echo@3\n"));
  EXPECT_THAT(text, HasSubstr("state:        SUCCEEDED\n"));
  EXPECT_THAT(text, HasSubstr("timeline:\n  2024-05-01T12:00:00.000Z  PENDING    queued\n"));
  EXPECT_THAT(text, HasSubstr("  2024-05-01T12:00:02.000Z  SUCCEEDED  attempt 1 succeeded\n"));
  EXPECT_THAT(text, HasSubstr("output:       hello\n"));
  EXPECT_THAT(text, Not(HasSubstr("error:")));
}

TEST(DescribeInvocationTest, ShowsTheErrorOfAFailedInvocation) {
  v1::Invocation invocation = FinishedInvocation();
  invocation.set_state(v1::FAILED);
  invocation.clear_output();
  invocation.set_version(0);
  invocation.mutable_error()->set_type("Timeout");
  invocation.mutable_error()->set_message("took longer than 10s");
  const std::string text = DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 3));
  EXPECT_THAT(text, HasSubstr("function:     echo@latest\n"));
  EXPECT_THAT(text, HasSubstr("error:        Timeout: took longer than 10s\n"));
  EXPECT_THAT(text, Not(HasSubstr("output:")));
  EXPECT_THAT(text, HasSubstr("state:        FAILED\n"));
}

TEST(DescribeInvocationTest, ShowsPriorityAttemptsOfMaxAndOptionalFields) {
  v1::Invocation invocation = FinishedInvocation();
  invocation.set_attempt(2);
  invocation.mutable_retry()->set_max_attempts(5);
  invocation.set_priority(v1::PRIORITY_HIGH);
  invocation.set_parent_id("inv-0");
  invocation.set_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  invocation.set_idempotency_key("order-17");
  const std::string text = DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 3));
  EXPECT_THAT(text, HasSubstr("priority:     high\n"));
  EXPECT_THAT(text, HasSubstr("attempt:      2 of 5\n"));
  EXPECT_THAT(text, HasSubstr("parent:       inv-0\n"));
  EXPECT_THAT(text, HasSubstr("trace:        4bf92f3577b34da6a3ce929d0e0e4736\n"));
  EXPECT_THAT(text, HasSubstr("idempotency key: order-17\n"));
  // Fields of other states are left out.
  EXPECT_THAT(text, Not(HasSubstr("next attempt:")));
  EXPECT_THAT(text, Not(HasSubstr("lease ends:")));
  EXPECT_THAT(text, Not(HasSubstr("progress:")));

  const std::string plain =
      DescribeInvocation(FinishedInvocation(), absl::FromUnixSeconds(kMay1 + 3));
  EXPECT_THAT(plain, HasSubstr("priority:     normal\n"));
  EXPECT_THAT(plain, HasSubstr("attempt:      1\n"));
  EXPECT_THAT(plain, Not(HasSubstr("parent:")));
  EXPECT_THAT(plain, Not(HasSubstr("trace:")));
  EXPECT_THAT(plain, Not(HasSubstr("idempotency key:")));
}

TEST(DescribeInvocationTest, PendingAfterAFailureShowsTheNextAttemptAndLastError) {
  v1::Invocation invocation = FinishedInvocation();
  invocation.set_state(v1::PENDING);
  invocation.clear_output();
  invocation.set_attempt(2);
  invocation.mutable_retry()->set_max_attempts(5);
  *invocation.mutable_next_attempt_at() = At(kMay1 + 10, 200000000);
  invocation.mutable_error()->set_type("ValueError");
  invocation.mutable_error()->set_message("bad input");
  const std::string text =
      DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 9) + absl::Milliseconds(1));
  EXPECT_THAT(text, HasSubstr("next attempt: 2024-05-01T12:00:10.200Z (in 1.1s)\n"));
  EXPECT_THAT(text, HasSubstr("last error:   ValueError: bad input\n"));
  EXPECT_THAT(text, Not(HasSubstr("dead-lettered")));

  // Once the time has passed it says how long ago.
  EXPECT_THAT(DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 12)),
              HasSubstr("(1.8s ago)"));
}

TEST(DescribeInvocationTest, RunningShowsLeaseEndAndProgress) {
  v1::Invocation invocation = FinishedInvocation();
  invocation.set_state(v1::RUNNING);
  invocation.clear_output();
  *invocation.mutable_lease_expires_at() = At(kMay1 + 30);
  invocation.mutable_progress()->set_percent(40);
  invocation.mutable_progress()->set_message("step 2 of 5");
  invocation.mutable_progress()->set_attempt(1);
  const std::string text = DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 5));
  EXPECT_THAT(text, HasSubstr("lease ends:   2024-05-01T12:00:30.000Z (in 25s)\n"));
  EXPECT_THAT(text, HasSubstr("progress:     40%  step 2 of 5\n"));
  EXPECT_THAT(text, Not(HasSubstr("output:")));
}

TEST(DescribeInvocationTest, DeadLetteredIsMarkedOnTheState) {
  v1::Invocation invocation = FinishedInvocation();
  invocation.set_state(v1::FAILED);
  invocation.set_dead_lettered(true);
  invocation.mutable_error()->set_type("Timeout");
  const std::string text = DescribeInvocation(invocation, absl::FromUnixSeconds(kMay1 + 3));
  EXPECT_THAT(text, HasSubstr("state:        FAILED (dead-lettered)\n"));
  EXPECT_THAT(text, HasSubstr("error:        Timeout\n"));
}

TEST(FormatRelativeTest, RoundsToTenthsBothWays) {
  const absl::Time now = absl::FromUnixSeconds(kMay1);
  EXPECT_EQ(FormatRelative(now + absl::Milliseconds(1234), now), "in 1.2s");
  EXPECT_EQ(FormatRelative(now - absl::Seconds(90), now), "1m30s ago");
  EXPECT_EQ(FormatRelative(now + absl::Milliseconds(40), now), "now");
}

TEST(ProgressTextTest, PercentThenMessage) {
  v1::Progress progress;
  progress.set_percent(40);
  EXPECT_EQ(ProgressText(progress), "40%");
  progress.set_message("step 2 of 5");
  EXPECT_EQ(ProgressText(progress), "40%  step 2 of 5");
}

TEST(PriorityNameTest, NamesRoundTripAndUnspecifiedIsNormal) {
  for (const v1::Priority priority :
       {v1::PRIORITY_LOW, v1::PRIORITY_NORMAL, v1::PRIORITY_HIGH, v1::PRIORITY_CRITICAL}) {
    EXPECT_EQ(ParsePriorityName(PriorityName(priority)), priority);
  }
  EXPECT_EQ(PriorityName(v1::PRIORITY_UNSPECIFIED), "normal");
  EXPECT_EQ(ParsePriorityName("HIGH"), v1::PRIORITY_HIGH);
  EXPECT_EQ(ParsePriorityName("urgent"), std::nullopt);
  EXPECT_EQ(ParsePriorityName("priority_low"), std::nullopt);
}

TEST(RetryPolicyTextTest, SummarizesThePolicy) {
  v1::RetryPolicy policy;
  EXPECT_EQ(RetryPolicyText(policy), "-");
  policy.set_max_attempts(5);
  policy.mutable_initial_backoff()->set_nanos(500000000);
  policy.mutable_max_backoff()->set_seconds(60);
  policy.set_multiplier(2);
  EXPECT_EQ(RetryPolicyText(policy), "5 attempts, backoff 500ms to 1m (x2), retry on any failure");
  policy.set_max_attempts(1);
  policy.set_multiplier(1.5);
  policy.add_retry_on(v1::RETRY_ON_CRASH);
  policy.add_retry_on(v1::RETRY_ON_LEASE_LOST);
  EXPECT_EQ(RetryPolicyText(policy),
            "1 attempt (no retries), backoff 500ms to 1m (x1.5), retry on crash, lease-lost");
}

TEST(DescribeFunctionTest, ShowsRetryPolicyMaxEventAgeAndDestinations) {
  v1::Function function = EchoFunction();
  v1::FunctionSpec& spec = *function.mutable_spec();
  spec.mutable_retry()->set_max_attempts(3);
  spec.mutable_retry()->mutable_initial_backoff()->set_seconds(1);
  spec.mutable_retry()->mutable_max_backoff()->set_seconds(300);
  spec.mutable_retry()->set_multiplier(2);
  spec.mutable_max_event_age()->set_seconds(6 * 3600);
  spec.set_on_failure("alert");
  const std::string text = DescribeFunction(function);
  EXPECT_THAT(text, HasSubstr("retry:        3 attempts, backoff 1s to 5m (x2), retry on any "
                              "failure\n"));
  EXPECT_THAT(text, HasSubstr("max event age: 6h\n"));
  EXPECT_THAT(text, HasSubstr("on success:   -\n"));
  EXPECT_THAT(text, HasSubstr("on failure:   alert\n"));
  // Versions deployed before retries existed show dashes.
  const std::string old = DescribeFunction(EchoFunction());
  EXPECT_THAT(old, HasSubstr("retry:        -\n"));
  EXPECT_THAT(old, HasSubstr("max event age: -\n"));
}

TEST(DescribeOutputTest, BinaryOutputIsSummarized) {
  EXPECT_EQ(DescribeOutput(std::string("\x01\x02\x00", 3)),
            "(3 bytes of binary data; use -o json to see them)");
  EXPECT_EQ(DescribeOutput("line 1\nline 2\n"), "line 1\nline 2\n");
  EXPECT_EQ(DescribeOutput(""), "(empty)");
}

TEST(InvocationTableTest, ShowsOneRowPerInvocation) {
  v1::ListInvocationsResponse list;
  *list.add_invocations() = FinishedInvocation();
  EXPECT_EQ(InvocationTable(list.invocations()),
            "ID     FUNCTION  VERSION  STATE      ATTEMPT  CREATED               ERROR\n"
            "inv-1  echo      3        SUCCEEDED  1        2024-05-01T12:00:00Z  -\n");
}

TEST(InvocationTableTest, ShowsTheLastErrorTypeAndDeadLettering) {
  v1::ListInvocationsResponse list;
  v1::Invocation& dead = *list.add_invocations() = FinishedInvocation();
  dead.set_state(v1::FAILED);
  dead.set_attempt(3);
  dead.set_dead_lettered(true);
  dead.mutable_error()->set_type("Timeout");
  v1::Invocation& retrying = *list.add_invocations() = FinishedInvocation();
  retrying.set_id("inv-2");
  retrying.set_state(v1::PENDING);
  retrying.mutable_error()->set_type("ValueError");
  EXPECT_EQ(InvocationTable(list.invocations()),
            "ID     FUNCTION  VERSION  STATE    ATTEMPT  CREATED               ERROR\n"
            "inv-1  echo      3        FAILED   3        2024-05-01T12:00:00Z  Timeout "
            "(dead-lettered)\n"
            "inv-2  echo      3        PENDING  1        2024-05-01T12:00:00Z  ValueError\n");
}

TEST(WatchPrinterTest, PrintsEachStateChangeOnce) {
  const v1::Invocation done = FinishedInvocation();
  v1::Invocation pending = done;
  pending.set_state(v1::PENDING);
  pending.mutable_timeline()->DeleteSubrange(1, 2);
  WatchPrinter printer;
  EXPECT_EQ(printer.Lines(pending), "2024-05-01T12:00:00.000Z  PENDING    queued\n");
  EXPECT_EQ(printer.Lines(pending), "");
  EXPECT_EQ(printer.Lines(done),
            "2024-05-01T12:00:01.000Z  RUNNING    attempt 1 started\n"
            "2024-05-01T12:00:02.000Z  SUCCEEDED  attempt 1 succeeded\n");
}

TEST(WatchPrinterTest, AStateChangeWithoutTimelineUsesTheUpdateTime) {
  v1::Invocation running = FinishedInvocation();
  running.clear_timeline();
  running.set_state(v1::RUNNING);
  WatchPrinter printer;
  EXPECT_EQ(printer.Lines(running), "2024-05-01T12:00:02.000Z  RUNNING\n");
}

TEST(WatchPrinterTest, PrintsEachProgressReportOnceInTimeOrder) {
  v1::Invocation running = FinishedInvocation();
  running.set_state(v1::RUNNING);
  running.mutable_timeline()->DeleteSubrange(2, 1);
  WatchPrinter printer;
  EXPECT_EQ(printer.Lines(running),
            "2024-05-01T12:00:00.000Z  PENDING    queued\n"
            "2024-05-01T12:00:01.000Z  RUNNING    attempt 1 started\n");

  v1::Progress& progress = *running.mutable_progress();
  progress.set_percent(40);
  progress.set_message("step 2 of 5");
  progress.set_attempt(1);
  *progress.mutable_time() = At(kMay1 + 1, 500000000);
  EXPECT_EQ(printer.Lines(running),
            "2024-05-01T12:00:01.500Z  RUNNING    attempt 1  40%  step 2 of 5\n");
  EXPECT_EQ(printer.Lines(running), "");

  // The last snapshot carries a later report and the end; the report comes
  // first because it is older.
  v1::Invocation done = FinishedInvocation();
  *done.mutable_progress() = progress;
  done.mutable_progress()->set_percent(100);
  done.mutable_progress()->clear_message();
  *done.mutable_progress()->mutable_time() = At(kMay1 + 1, 900000000);
  EXPECT_EQ(printer.Lines(done),
            "2024-05-01T12:00:01.900Z  RUNNING    attempt 1  100%\n"
            "2024-05-01T12:00:02.000Z  SUCCEEDED  attempt 1 succeeded\n");
}

TEST(JsonLineTest, RendersOneLineOfProtobufJson) {
  v1::InvokeAsyncResponse response;
  response.set_invocation_id("inv-9");
  absl::StatusOr<std::string> json = JsonLine(response);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, "{\"invocationId\":\"inv-9\"}\n");
}

}  // namespace
}  // namespace sluice::cli
