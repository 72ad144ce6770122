#include "runtime/invocation_service.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/runtime/engine_fixture.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using InvocationServiceTest = EngineFixture;

v1::FunctionSpec WithTimeout(absl::Duration timeout, uint32_t concurrency = 4,
                             uint32_t max_queue = 1000) {
  v1::FunctionSpec spec;
  *spec.mutable_timeout() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(timeout));
  spec.set_concurrency(concurrency);
  spec.set_max_queue(max_queue);
  return spec;
}

TEST_F(InvocationServiceTest, SyncInvokeReturnsTheOutput) {
  Deploy("echo", "echo");
  auto r = InvokeSync("echo", "hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->result.ok);
  EXPECT_EQ(r->result.output, "hello");
  EXPECT_EQ(r->version, 1u);
  EXPECT_FALSE(r->invocation_id.empty());
}

TEST_F(InvocationServiceTest, SyncFunctionErrorCarriesTypeAndMessage) {
  Deploy("fail", "fail");
  auto r = InvokeSync("fail", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->result.ok);
  EXPECT_EQ(r->result.error_type, "AlwaysFails");
  EXPECT_EQ(r->result.error_message, "attempt 1 failed on purpose");
}

TEST_F(InvocationServiceTest, FunctionTimeoutIsDeadlineExceeded) {
  Deploy("sleep", "sleep", WithTimeout(absl::Milliseconds(100)));
  const absl::Time start = absl::Now();
  auto r = InvokeSync("sleep", "20000");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("timed out after 100ms"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

TEST_F(InvocationServiceTest, CallersDeadlineIsHonoured) {
  Deploy("sleep", "sleep");
  auto r = InvokeSync("sleep", "20000", absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("caller's deadline"));
}

TEST_F(InvocationServiceTest, BadRequestsGetPreciseErrors) {
  Deploy("echo", "echo");
  EXPECT_EQ(InvokeSync("nope", "").status().code(), absl::StatusCode::kNotFound);
  auto bad_name = InvokeSync("Not A Name", "");
  EXPECT_EQ(bad_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_name.status().message()), HasSubstr("function:"));
  auto big = InvokeSync("echo", std::string(1025, 'x'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("over the limit of 1024 bytes"));
  EXPECT_EQ(InvokeAsync("echo", std::string(1025, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Get("inv_000000000000ffffffffffffffff").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->Get("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Cancel("inv_000000000000ffffffffffffffff").status().code(),
            absl::StatusCode::kNotFound);
  auto listed = service_->List({});
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());  // nothing half-recorded
}

TEST_F(InvocationServiceTest, AsyncInvocationRunsAndKeepsItsTimeline) {
  Deploy("echo", "echo");
  auto id = InvokeAsync("echo", "background");
  ASSERT_TRUE(id.ok()) << id.status();
  const v1::Invocation done = AwaitState(*id, v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "background");
  EXPECT_EQ(done.attempt(), 1u);
  EXPECT_EQ(done.version(), 1u);
  EXPECT_EQ(done.metadata().at("k"), "v");
  EXPECT_THAT(States(done), ElementsAre(v1::PENDING, v1::RUNNING, v1::SUCCEEDED));
  EXPECT_EQ(done.timeline(1).reason(), "attempt 1 of 3 started");
  // The finished record is durable in the store, not only in memory.
  auto stored = store_->GetInvocation(*id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::SUCCEEDED);
}

TEST_F(InvocationServiceTest, AsyncFailureAndTimeoutAreRecorded) {
  Deploy("fail", "fail");
  Deploy("sleep", "sleep", WithTimeout(absl::Milliseconds(50)));
  auto failed = InvokeAsync("fail", "");
  auto slow = InvokeAsync("sleep", "20000");
  ASSERT_TRUE(failed.ok() && slow.ok());
  const v1::Invocation f = AwaitState(*failed, v1::FAILED);
  EXPECT_EQ(f.error().type(), "AlwaysFails");
  const v1::Invocation t = AwaitState(*slow, v1::FAILED);
  EXPECT_EQ(t.error().type(), "Timeout");
  EXPECT_THAT(t.timeline().rbegin()->reason(), HasSubstr("timed out after 50ms"));
}

TEST_F(InvocationServiceTest, WatchersSeeStatesInOrder) {
  Deploy("sleep", "sleep");
  absl::Mutex mu;
  std::vector<v1::InvocationState> seen;
  // Subscribe before the id exists by holding the only slot with a first call.
  auto id = InvokeAsync("sleep", "300");
  ASSERT_TRUE(id.ok());
  const uint64_t handle = watchers_.Subscribe(*id, [&](const v1::Invocation& inv) {
    absl::MutexLock lock(&mu);
    seen.push_back(inv.state());
  });
  AwaitState(*id, v1::SUCCEEDED);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return !seen.empty() && seen.back() == v1::SUCCEEDED;
      },
      absl::Seconds(10)));
  watchers_.Unsubscribe(*id, handle);
  absl::MutexLock lock(&mu);
  // Whatever the subscription caught, it is an in-order tail of the lifecycle.
  const std::vector<v1::InvocationState> all = {v1::PENDING, v1::RUNNING, v1::SUCCEEDED};
  ASSERT_LE(seen.size(), all.size());
  EXPECT_TRUE(std::equal(seen.begin(), seen.end(), all.end() - seen.size()));
}

TEST_F(InvocationServiceTest, CancelStopsPendingAndRunningInvocations) {
  Deploy("sleep", "sleep", WithTimeout(absl::Seconds(60), /*concurrency=*/1));
  auto running = InvokeAsync("sleep", "60000");
  ASSERT_TRUE(running.ok());
  AwaitState(*running, v1::RUNNING);
  auto pending = InvokeAsync("sleep", "1");
  ASSERT_TRUE(pending.ok());

  auto cancelled = service_->Cancel(*pending);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_EQ(cancelled->attempt(), 0u);  // never ran

  const absl::Time start = absl::Now();
  auto stopped = service_->Cancel(*running);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->state(), v1::CANCELLED);
  // The sleeping function sees the flag and returns; its slot is free again.
  auto next = InvokeSync("sleep", "1");
  ASSERT_TRUE(next.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));

  EXPECT_EQ(service_->Cancel(*running).status().code(), absl::StatusCode::kFailedPrecondition);
  auto stored = store_->GetInvocation(*pending);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::CANCELLED);
}

TEST_F(InvocationServiceTest, FullQueueRefusesWithoutRecording) {
  Deploy("sleep", "sleep", WithTimeout(absl::Seconds(60), /*concurrency=*/1, /*max_queue=*/1));
  auto first = InvokeAsync("sleep", "60000");
  ASSERT_TRUE(first.ok());
  AwaitState(*first, v1::RUNNING);
  auto second = InvokeAsync("sleep", "1");
  ASSERT_TRUE(second.ok());
  auto third = InvokeAsync("sleep", "1");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(InvokeSync("sleep", "1").status().code(), absl::StatusCode::kResourceExhausted);
  auto listed = service_->List({});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  ASSERT_TRUE(service_->Cancel(*first).ok());
  AwaitState(*second, v1::SUCCEEDED);
}

TEST_F(InvocationServiceTest, RecoverRunsPendingAndRerunsRunningAsANewAttempt) {
  Deploy("echo", "echo");
  StopEngine();
  // What a crashed process leaves behind: one queued, one mid-attempt.
  WriteBatch batch;
  v1::Invocation pending;
  pending.set_id("inv_000000000001aaaaaaaaaaaaaaaa");
  pending.set_function("echo");
  pending.set_state(v1::PENDING);
  pending.set_payload("p");
  *pending.mutable_created_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
  pending.add_timeline()->set_state(v1::PENDING);
  v1::Invocation running = pending;
  running.set_id("inv_000000000002bbbbbbbbbbbbbbbb");
  running.set_state(v1::RUNNING);
  running.set_attempt(1);
  running.set_payload("r");
  running.add_timeline()->set_state(v1::RUNNING);
  // One that waits for its retry: it runs once its time comes, not before.
  v1::Invocation waiting = pending;
  waiting.set_id("inv_000000000003cccccccccccccccc");
  waiting.set_attempt(1);
  waiting.set_payload("w");
  const absl::Time retry_at = absl::Now() + absl::Milliseconds(500);
  *waiting.mutable_next_attempt_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(retry_at));
  batch.PutInvocation(pending);
  batch.PutInvocation(running);
  batch.PutInvocation(waiting);
  ASSERT_TRUE(store_->Commit(batch).ok());

  StartEngine();
  ASSERT_TRUE(service_->Recover().ok());
  const v1::Invocation p = AwaitState(pending.id(), v1::SUCCEEDED);
  EXPECT_EQ(p.output(), "p");
  EXPECT_EQ(p.attempt(), 1u);
  const v1::Invocation r = AwaitState(running.id(), v1::SUCCEEDED);
  EXPECT_EQ(r.output(), "r");
  EXPECT_EQ(r.attempt(), 2u);
  EXPECT_THAT(States(r),
              ElementsAre(v1::PENDING, v1::RUNNING, v1::PENDING, v1::RUNNING, v1::SUCCEEDED));
  // The lost lease counts as a failed attempt.
  EXPECT_THAT(r.timeline(2).reason(), HasSubstr("attempt 1 lost its lease"));
  EXPECT_THAT(r.timeline(2).reason(), HasSubstr("attempt 2 of 3"));
  const v1::Invocation w = AwaitState(waiting.id(), v1::SUCCEEDED);
  EXPECT_EQ(w.output(), "w");
  EXPECT_EQ(w.attempt(), 2u);
  const absl::Time started = absl::FromUnixNanos(
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(w.timeline(1).time()));
  EXPECT_GE(started, retry_at);
}

TEST_F(InvocationServiceTest, DeletedFunctionFailsItsQueuedInvocations) {
  Deploy("sleep", "sleep", WithTimeout(absl::Seconds(60), /*concurrency=*/1));
  auto blocker = InvokeAsync("sleep", "60000");
  ASSERT_TRUE(blocker.ok());
  AwaitState(*blocker, v1::RUNNING);
  auto queued = InvokeAsync("sleep", "1");
  ASSERT_TRUE(queued.ok());
  ASSERT_TRUE(registry_->Delete("sleep").ok());
  ASSERT_TRUE(service_->Cancel(*blocker).ok());
  const v1::Invocation failed = AwaitState(*queued, v1::FAILED);
  EXPECT_EQ(failed.error().type(), "FunctionNotFound");
}

}  // namespace
}  // namespace sluice
