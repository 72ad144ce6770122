// The background-invocation guarantees of the engine: retries with backoff,
// dead letters, idempotency keys, destinations, progress, leases and late
// completions, redrive, drain.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "runtime/ids.h"
#include "runtime/invocation_service.h"
#include "runtime/retry_policy.h"
#include "tests/runtime/engine_fixture.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

google::protobuf::Duration Millis(int64_t ms) {
  return google::protobuf::util::TimeUtil::MillisecondsToDuration(ms);
}

// Retrying returns a spec that retries up to `max_attempts` with short
// backoffs, so that tests do not wait.
v1::FunctionSpec Retrying(uint32_t max_attempts, int64_t initial_backoff_ms = 5) {
  v1::FunctionSpec spec;
  spec.mutable_retry()->set_max_attempts(max_attempts);
  *spec.mutable_retry()->mutable_initial_backoff() = Millis(initial_backoff_ms);
  *spec.mutable_retry()->mutable_max_backoff() = Millis(initial_backoff_ms * 4);
  *spec.mutable_timeout() = Millis(5000);
  return spec;
}

using AsyncEngineTest = EngineFixture;

TEST_F(AsyncEngineTest, FailedAttemptsAreRetriedUntilTheySucceed) {
  Deploy("flaky", "flaky", Retrying(5));
  auto id = InvokeAsync("flaky", "2");
  ASSERT_TRUE(id.ok()) << id.status();
  const v1::Invocation done = AwaitState(*id, v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "ok after 3 attempts");
  EXPECT_EQ(done.attempt(), 3u);
  EXPECT_FALSE(done.dead_lettered());
  EXPECT_FALSE(done.has_next_attempt_at());
  EXPECT_FALSE(done.has_error());
  EXPECT_THAT(States(done), ElementsAre(v1::PENDING, v1::RUNNING, v1::PENDING, v1::RUNNING,
                                        v1::PENDING, v1::RUNNING, v1::SUCCEEDED));
  EXPECT_THAT(done.timeline(2).reason(), HasSubstr("attempt 1 failed: Flaky"));
  EXPECT_THAT(done.timeline(2).reason(), HasSubstr("attempt 2 of 5 in"));
}

TEST_F(AsyncEngineTest, PendingRetryShowsWhenTheNextAttemptRuns) {
  Deploy("fail", "fail", Retrying(2, /*initial_backoff_ms=*/60000));
  auto id = InvokeAsync("fail", "");
  ASSERT_TRUE(id.ok());
  v1::Invocation waiting;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto inv = service_->Get(*id);
        if (!inv.ok() || inv->attempt() != 1 || inv->state() != v1::PENDING) return false;
        waiting = *inv;
        return true;
      },
      absl::Seconds(20)));
  ASSERT_TRUE(waiting.has_next_attempt_at());
  const absl::Time next = absl::FromUnixNanos(
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(waiting.next_attempt_at()));
  EXPECT_LE(next, absl::Now() + absl::Seconds(61));
  EXPECT_EQ(waiting.error().type(), "AlwaysFails");  // the last attempt's error
  // Cancelling an invocation that waits for its retry ends it for good.
  auto cancelled = service_->Cancel(*id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
}

TEST_F(AsyncEngineTest, SpentAttemptsEndDeadLettered) {
  Deploy("fail", "fail", Retrying(3));
  auto id = InvokeAsync("fail", "");
  ASSERT_TRUE(id.ok());
  const v1::Invocation failed = AwaitState(*id, v1::FAILED);
  EXPECT_TRUE(failed.dead_lettered());
  EXPECT_EQ(failed.attempt(), 3u);
  EXPECT_EQ(failed.error().type(), "AlwaysFails");
  EXPECT_THAT(failed.timeline().rbegin()->reason(), HasSubstr("attempts spent (3 of 3)"));
  InvocationFilter filter;
  filter.dead_lettered = true;
  auto listed = service_->List(filter);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id(), *id);
}

TEST_F(AsyncEngineTest, APoisonInvocationThatCrashesEveryTimeEndsInTheDeadLetters) {
  Deploy("crash", "crash", Retrying(3));
  auto id = InvokeAsync("crash", "segv");
  ASSERT_TRUE(id.ok());
  const v1::Invocation failed = AwaitState(*id, v1::FAILED);
  EXPECT_TRUE(failed.dead_lettered());
  EXPECT_EQ(failed.attempt(), 3u);
  EXPECT_EQ(failed.error().type(), "Crash");
}

TEST_F(AsyncEngineTest, OutcomesLeftOutOfRetryOnAreNotRetried) {
  v1::FunctionSpec spec = Retrying(5);
  spec.mutable_retry()->add_retry_on(v1::RETRY_ON_TIMEOUT);
  Deploy("fail", "fail", spec);
  auto id = InvokeAsync("fail", "");
  ASSERT_TRUE(id.ok());
  const v1::Invocation failed = AwaitState(*id, v1::FAILED);
  EXPECT_EQ(failed.attempt(), 1u);
  EXPECT_TRUE(failed.dead_lettered());
  EXPECT_THAT(failed.timeline().rbegin()->reason(),
              HasSubstr("RETRY_ON_FUNCTION_ERROR is not retried"));
}

TEST_F(AsyncEngineTest, CallersMayOverrideTheRetryPolicyWithinBounds) {
  Deploy("fail", "fail", Retrying(5));
  InvokeArgs once{"fail", 0, "", {}};
  once.retry.emplace().set_max_attempts(1);
  auto accepted = InvokeAsyncWith(once);
  ASSERT_TRUE(accepted.ok());
  const v1::Invocation failed = AwaitState(accepted->invocation_id, v1::FAILED);
  EXPECT_EQ(failed.attempt(), 1u);
  EXPECT_EQ(failed.retry().max_attempts(), 1u);
  // Unchanged fields come from the function.
  EXPECT_EQ(failed.retry().initial_backoff().nanos(), 5 * 1000 * 1000);

  InvokeArgs too_many{"fail", 0, "", {}};
  too_many.retry.emplace().set_max_attempts(kMaxMaxAttempts + 1);
  auto refused = InvokeAsyncWith(too_many);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("retry.max_attempts"));
  InvokeArgs sync_retry{"fail", 0, "", {}};
  sync_retry.retry.emplace().set_max_attempts(2);
  absl::Notification answered;
  service_->InvokeSync(sync_retry, absl::InfiniteFuture(), [&](absl::StatusOr<SyncResult> r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    answered.Notify();
  });
  answered.WaitForNotification();
}

TEST_F(AsyncEngineTest, ARetryPastMaxEventAgeIsDeadLetteredInstead) {
  v1::FunctionSpec spec = Retrying(5, /*initial_backoff_ms=*/3000);
  // Backoff is drawn from [0, 3s]; the invocation may be 1s old at most.
  *spec.mutable_retry()->mutable_initial_backoff() = Millis(3000);
  *spec.mutable_max_event_age() = Millis(1000);
  Deploy("fail", "fail", spec);
  // Some draws fall inside the age; run until one does not.
  bool dead_lettered_by_age = false;
  for (int i = 0; i < 10 && !dead_lettered_by_age; ++i) {
    auto id = InvokeAsync("fail", "");
    ASSERT_TRUE(id.ok());
    const v1::Invocation failed = AwaitState(*id, v1::FAILED);
    EXPECT_TRUE(failed.dead_lettered());
    for (const auto& change : failed.timeline()) {
      if (absl::StrContains(change.reason(), "max_event_age")) dead_lettered_by_age = true;
    }
  }
  EXPECT_TRUE(dead_lettered_by_age);
}

TEST_F(AsyncEngineTest, IdempotencyKeyDedupesConcurrentCallersAndRestarts) {
  Deploy("echo", "echo");
  constexpr int kCallers = 8;
  std::vector<absl::StatusOr<AsyncAccepted>> answers(kCallers, absl::UnknownError(""));
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      InvokeArgs args{"echo", 0, "once", {}};
      args.idempotency_key = "order-42";
      answers[i] = InvokeAsyncWith(args);
    });
  }
  for (std::thread& t : callers) t.join();
  int fresh = 0;
  for (const auto& answer : answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->invocation_id, answers[0]->invocation_id);
    if (!answer->deduplicated) ++fresh;
  }
  EXPECT_EQ(fresh, 1);
  const std::string id = answers[0]->invocation_id;
  AwaitState(id, v1::SUCCEEDED);
  auto all = service_->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);

  // The key outlives the process: a restarted engine over the same store.
  StopEngine();
  StartEngine();
  ASSERT_TRUE(service_->Recover().ok());
  InvokeArgs again{"echo", 0, "twice", {}};
  again.idempotency_key = "order-42";
  auto repeated = InvokeAsyncWith(again);
  ASSERT_TRUE(repeated.ok());
  EXPECT_EQ(repeated->invocation_id, id);
  EXPECT_TRUE(repeated->deduplicated);
  // Keys belong to a function: the same key elsewhere is a new invocation.
  Deploy("echo2", "echo");
  InvokeArgs other{"echo2", 0, "x", {}};
  other.idempotency_key = "order-42";
  auto separate = InvokeAsyncWith(other);
  ASSERT_TRUE(separate.ok());
  EXPECT_NE(separate->invocation_id, id);
  EXPECT_FALSE(separate->deduplicated);

  InvokeArgs too_long{"echo", 0, "", {}};
  too_long.idempotency_key = std::string(kMaxIdempotencyKeyBytes + 1, 'k');
  EXPECT_EQ(InvokeAsyncWith(too_long).status().code(), absl::StatusCode::kInvalidArgument);
}

// The engine keeps a queued invocation's payload once, apart from the rest
// of its record; every state it shows and every attempt it runs still has
// the payload: watchers, Get, Cancel, retries, and a restarted engine.
TEST_F(AsyncEngineTest, EveryStateAndEveryAttemptHasThePayload) {
  Deploy("flaky", "flaky", Retrying(5, /*initial_backoff_ms=*/50));
  auto id = InvokeAsync("flaky", "2");  // attempts 1 and 2 fail
  ASSERT_TRUE(id.ok()) << id.status();
  absl::Mutex mu;
  std::vector<v1::Invocation> seen;
  const uint64_t handle = watchers_.Subscribe(*id, [&](const v1::Invocation& inv) {
    absl::MutexLock lock(&mu);
    seen.push_back(inv);
  });
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return !seen.empty() && seen.back().state() == v1::SUCCEEDED;
      },
      absl::Seconds(20)));
  watchers_.Unsubscribe(*id, handle);
  {
    absl::MutexLock lock(&mu);
    // At least attempt 3's RUNNING and the SUCCEEDED: the subscription
    // came after the invocation was queued and may miss its first states.
    EXPECT_GE(seen.size(), 2u);
    for (const v1::Invocation& inv : seen) {
      EXPECT_EQ(inv.payload(), "2") << v1::InvocationState_Name(inv.state());
    }
  }
  const v1::Invocation done = AwaitState(*id, v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "ok after 3 attempts");  // each attempt read "2"
  EXPECT_EQ(done.payload(), "2");

  // Waits until `id` failed an attempt and waits for its retry.
  auto await_retry = [&](const std::string& id) {
    return testing::WaitFor(
        [&] {
          auto inv = service_->Get(id);
          return inv.ok() && inv->attempt() >= 1 && inv->state() == v1::PENDING;
        },
        absl::Seconds(20));
  };

  // A restarted engine runs what waited for a retry with its payload:
  // whichever retry the restart comes before, every attempt up to the
  // sixth must read "5" and fail; one that lost the payload would succeed.
  Deploy("slow-flaky", "flaky", Retrying(6, /*initial_backoff_ms=*/100));
  auto restarted = InvokeAsync("slow-flaky", "5");
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  ASSERT_TRUE(await_retry(*restarted));
  StopEngine();
  StartEngine();
  ASSERT_TRUE(service_->Recover().ok());
  const v1::Invocation recovered = AwaitState(*restarted, v1::SUCCEEDED);
  EXPECT_EQ(recovered.output(), "ok after 6 attempts");
  EXPECT_EQ(recovered.payload(), "5");

  // Cancel answers with the invocation whole.
  Deploy("fail", "fail", Retrying(2, /*initial_backoff_ms=*/60000));
  auto waiting = InvokeAsync("fail", "kept");
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  ASSERT_TRUE(await_retry(*waiting));
  auto cancelled = service_->Cancel(*waiting);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_EQ(cancelled->payload(), "kept");
}

TEST_F(AsyncEngineTest, GetShowsAStateAsSoonAsListDoes) {
  Deploy("echo", "echo");
  auto id = InvokeAsync("echo", "hello");
  ASSERT_TRUE(id.ok());
  // Hold the commit callbacks. The attempt's next state reaches the store
  // (and List) while its callback waits behind this one, and stays there:
  // the committer takes no further round until the callbacks have room.
  absl::Notification release;
  committer_->Submit(WriteBatch(), [&release](absl::Status) { release.WaitForNotification(); });
  v1::InvocationState listed = v1::INVOCATION_STATE_UNSPECIFIED;
  const bool found = testing::WaitFor(
      [&] {
        for (v1::InvocationState state : {v1::RUNNING, v1::SUCCEEDED}) {
          InvocationFilter filter;
          filter.function = "echo";
          filter.state = state;
          auto list = service_->List(filter);
          if (list.ok() && list->size() == 1) {
            listed = state;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(20));
  auto got = service_->Get(*id);
  release.Notify();
  ASSERT_TRUE(found);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), listed) << "Get showed an older state than List";
  AwaitState(*id, v1::SUCCEEDED);
}

TEST_F(AsyncEngineTest, DestinationsReceiveTheRecordWithTheParentAndTrace) {
  Deploy("sink", "echo");
  v1::FunctionSpec ok_spec;
  ok_spec.set_on_success("sink");
  Deploy("echo", "echo", ok_spec);
  v1::FunctionSpec fail_spec = Retrying(1);
  fail_spec.set_on_failure("sink");
  Deploy("fail", "fail", fail_spec);

  InvokeArgs traced{"echo",
                    0,
                    "hello",
                    {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}};
  auto ok = InvokeAsyncWith(traced);
  ASSERT_TRUE(ok.ok());
  auto failed = InvokeAsync("fail", "boom");
  ASSERT_TRUE(failed.ok());
  AwaitState(ok->invocation_id, v1::SUCCEEDED);
  AwaitState(*failed, v1::FAILED);

  std::vector<v1::Invocation> children;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        InvocationFilter filter;
        filter.function = "sink";
        filter.state = v1::SUCCEEDED;
        auto listed = service_->List(filter);
        if (!listed.ok() || listed->size() != 2) return false;
        children.clear();
        for (const auto& child : *listed) {
          auto full = service_->Get(child.id());
          if (!full.ok()) return false;
          children.push_back(*full);
        }
        return true;
      },
      absl::Seconds(20)));
  int seen = 0;
  for (const v1::Invocation& child : children) {
    v1::DestinationRecord record;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(child.output(), &record).ok())
        << child.output();
    EXPECT_EQ(child.parent_id(), record.invocation_id());
    EXPECT_EQ(child.metadata().at("sluice-parent-id"), record.invocation_id());
    if (record.invocation_id() == ok->invocation_id) {
      ++seen;
      EXPECT_EQ(record.state(), v1::SUCCEEDED);
      EXPECT_EQ(record.response_payload(), "hello");
      EXPECT_EQ(record.request_payload(), "hello");
      EXPECT_EQ(child.metadata().at("traceparent"), traced.metadata[0].second);
    } else {
      ++seen;
      EXPECT_EQ(record.invocation_id(), *failed);
      EXPECT_EQ(record.state(), v1::FAILED);
      EXPECT_EQ(record.error().type(), "AlwaysFails");
      EXPECT_TRUE(record.dead_lettered());
    }
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(AsyncEngineTest, ManyParentsStartTheirDestinationsAtOnce) {
  // Regression: starting a destination while its parent's transition was
  // under way once invalidated the parent's in-memory record.
  Deploy("sink", "echo");
  v1::FunctionSpec spec = Retrying(1);
  spec.set_on_failure("sink");
  spec.set_concurrency(8);
  Deploy("fail", "fail", spec);
  constexpr int kParents = 200;
  std::vector<std::string> parents;
  for (int i = 0; i < kParents; ++i) {
    auto id = InvokeAsync("fail", absl::StrCat(i));
    ASSERT_TRUE(id.ok());
    parents.push_back(*id);
  }
  for (const std::string& id : parents) {
    AwaitState(id, v1::FAILED);
    auto stored = store_->GetInvocation(id);
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          stored = store_->GetInvocation(id);
          return stored.ok() && stored->state() == v1::FAILED;
        },
        absl::Seconds(10)));
    EXPECT_EQ(stored->id(), id);
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        InvocationFilter filter;
        filter.function = "sink";
        filter.state = v1::SUCCEEDED;
        filter.limit = kParents + 1;
        auto listed = service_->List(filter);
        return listed.ok() && listed->size() == kParents;
      },
      absl::Seconds(30)));
}

TEST_F(AsyncEngineTest, WatchersSeeProgressReports) {
  Deploy("progress", "progress");
  absl::Mutex mu;
  std::vector<uint32_t> percents;
  std::vector<std::string> messages;
  auto id = InvokeAsync("progress", "100");
  ASSERT_TRUE(id.ok());
  const uint64_t handle = watchers_.Subscribe(*id, [&](const v1::Invocation& inv) {
    if (!inv.has_progress()) return;
    absl::MutexLock lock(&mu);
    if (!percents.empty() && percents.back() == inv.progress().percent()) return;
    percents.push_back(inv.progress().percent());
    messages.push_back(inv.progress().message());
  });
  const v1::Invocation done = AwaitState(*id, v1::SUCCEEDED);
  watchers_.Unsubscribe(*id, handle);
  // The last report is kept with the finished invocation.
  EXPECT_EQ(done.progress().percent(), 100u);
  EXPECT_EQ(done.progress().message(), "step 4 of 4");
  EXPECT_EQ(done.progress().attempt(), 1u);
  absl::MutexLock lock(&mu);
  // The subscription may miss the first report; what it saw is in order.
  ASSERT_FALSE(percents.empty());
  EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end()));
  EXPECT_EQ(percents.back(), 100u);
}

TEST_F(AsyncEngineTest, RedriveQueuesDeadLettersAgainWithAFreshBudget) {
  Deploy("flaky", "flaky", Retrying(2));
  auto id = InvokeAsync("flaky", "1");  // succeeds on attempt 2
  ASSERT_TRUE(id.ok());
  Deploy("fail", "fail", Retrying(1));
  std::vector<std::string> failed_ids;
  for (int i = 0; i < 3; ++i) {
    auto f = InvokeAsync("fail", absl::StrCat(i));
    ASSERT_TRUE(f.ok());
    failed_ids.push_back(*f);
  }
  for (const std::string& f : failed_ids) AwaitState(f, v1::FAILED);
  AwaitState(*id, v1::SUCCEEDED);

  // Not dead-lettered: refused.
  v1::RedriveRequest not_dead;
  not_dead.set_id(*id);
  EXPECT_EQ(service_->Redrive(not_dead).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::RedriveRequest unknown;
  unknown.set_id("inv_000000000001aaaaaaaaaaaaaaaa");
  EXPECT_EQ(service_->Redrive(unknown).status().code(), absl::StatusCode::kNotFound);
  v1::RedriveRequest both;
  both.set_id(failed_ids[0]);
  both.set_function("fail");
  EXPECT_EQ(service_->Redrive(both).status().code(), absl::StatusCode::kInvalidArgument);

  // One by id.
  v1::RedriveRequest one;
  one.set_id(failed_ids[0]);
  auto redriven = service_->Redrive(one);
  ASSERT_TRUE(redriven.ok()) << redriven.status();
  EXPECT_THAT(*redriven, ElementsAre(failed_ids[0]));
  const v1::Invocation again = AwaitState(failed_ids[0], v1::FAILED);
  EXPECT_EQ(again.attempt(), 1u);  // counted afresh
  bool redrive_noted = false;
  for (const auto& change : again.timeline()) {
    if (absl::StrContains(change.reason(), "redriven after 1 attempts")) redrive_noted = true;
  }
  EXPECT_TRUE(redrive_noted);

  // All of a function's, oldest first.
  v1::RedriveRequest all;
  all.set_function("fail");
  auto everything = service_->Redrive(all);
  ASSERT_TRUE(everything.ok()) << everything.status();
  // Oldest first, in id order (ids made in one millisecond order randomly).
  std::vector<std::string> by_age = failed_ids;
  std::sort(by_age.begin(), by_age.end());
  EXPECT_THAT(*everything, ::testing::ElementsAreArray(by_age));
  for (const std::string& f : failed_ids) AwaitState(f, v1::FAILED);
  // A filter that matches nothing queues nothing.
  v1::RedriveRequest none;
  none.set_function("fail");
  none.set_error_type("NoSuchType");
  auto nothing = service_->Redrive(none);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
}

// The store shows an end before its commit's callback has run. A redrive
// in between must not find the invocation "already queued again".
TEST_F(AsyncEngineTest, ARedriveRightAfterTheEndIsStoredIsNotTurnedAway) {
  Deploy("fail", "fail", Retrying(1));
  auto id = InvokeAsync("fail", "");
  ASSERT_TRUE(id.ok());
  AwaitState(*id, v1::FAILED);
  // Once this empty commit's callbacks ran, so did the end's: nothing of
  // the first run is left in flight.
  ASSERT_TRUE(committer_->CommitAndWait(WriteBatch()).ok());
  // Callbacks run one after another on one thread: holding the RUNNING
  // state's publication holds the FAILED commit's callback behind it,
  // while the FAILED state itself is written. Subscribed before the
  // redrive below queues the run, so the RUNNING cannot be missed.
  absl::Notification running, release;
  std::atomic<bool> first_run{true};
  const uint64_t subscription =
      watchers_.Subscribe(*id, [&running, &release, &first_run](const v1::Invocation& inv) {
        if (inv.state() != v1::RUNNING || !first_run.exchange(false)) return;
        running.Notify();
        release.WaitForNotification();
      });
  v1::RedriveRequest first;
  first.set_id(*id);
  auto queued = service_->Redrive(first);
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_TRUE(running.WaitForNotificationWithTimeout(absl::Seconds(20)));
  AwaitState(*id, v1::FAILED);  // the redriven run's end, its callback held
  const uint64_t commits = committer_->commits();

  absl::StatusOr<std::vector<std::string>> redriven;
  absl::Notification redrive_returned;
  std::thread redrive([&] {
    v1::RedriveRequest request;
    request.set_id(*id);
    redriven = service_->Redrive(request);
    redrive_returned.Notify();
  });
  // The redrive's write is queued, or committed (when the end shared its
  // round with the RUNNING, that round's callbacks are the held ones), its
  // callback held; or, turned away, the redrive returns without writing.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return committer_->queued() > 0 || committer_->commits() > commits ||
               redrive_returned.HasBeenNotified();
      },
      absl::Seconds(20)));
  release.Notify();
  redrive.join();
  watchers_.Unsubscribe(*id, subscription);
  ASSERT_TRUE(redriven.ok()) << redriven.status();
  EXPECT_THAT(*redriven, ElementsAre(*id));
  // The end's late callback did not drop the redriven invocation: it runs
  // its fresh attempt and fails again, with every end in its timeline.
  const v1::Invocation again = AwaitState(*id, v1::FAILED);
  EXPECT_EQ(again.attempt(), 1u);
  EXPECT_THAT(States(again),
              ElementsAre(v1::PENDING, v1::RUNNING, v1::FAILED, v1::PENDING, v1::RUNNING,
                          v1::FAILED, v1::PENDING, v1::RUNNING, v1::FAILED));
}

TEST_F(AsyncEngineTest, RedriveRestartsTheEventAgeClock) {
  v1::FunctionSpec spec;
  *spec.mutable_max_event_age() = google::protobuf::util::TimeUtil::SecondsToDuration(3600);
  Deploy("echo", "echo", spec);
  // Dead-lettered two hours ago: older than max_event_age.
  const absl::Time then = absl::Now() - absl::Hours(2);
  v1::Invocation old;
  old.set_id(NewInvocationId(then));
  old.set_function("echo");
  old.set_state(v1::FAILED);
  old.set_dead_lettered(true);
  old.set_attempt(3);
  old.set_payload("still wanted");
  *old.mutable_created_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(then));
  *old.mutable_queued_at() = old.created_at();
  WriteBatch batch;
  batch.PutInvocation(old);
  ASSERT_TRUE(store_->Commit(batch).ok());
  v1::RedriveRequest request;
  request.set_id(old.id());
  ASSERT_TRUE(service_->Redrive(request).ok());
  const v1::Invocation done = AwaitState(old.id(), v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "still wanted");
  EXPECT_EQ(done.attempt(), 1u);
}

// ScriptedExecutor stands in for a worker that does not stop when told to —
// a fault (a process stuck in the kernel) that cannot be caused on purpose
// here. Attempt 1 blocks, ignoring its deadline, until released; later
// attempts answer at once.
class ScriptedExecutor : public Executor {
 public:
  ExecutionResult Execute(const ExecutionRequest& request) override {
    if (request.attempt == 1) {
      first_started_.Notify();
      release_.WaitForNotification();
      returned_.Notify();
      return ExecutionResult::Success("late answer of attempt 1");
    }
    return ExecutionResult::Success(absl::StrCat("answer of attempt ", request.attempt));
  }
  absl::Notification first_started_;
  absl::Notification release_;
  absl::Notification returned_;
};

class ScriptedFactory : public ExecutorFactory {
 public:
  explicit ScriptedFactory(std::shared_ptr<ScriptedExecutor> executor) : executor_(executor) {}
  absl::Status Validate(const v1::FunctionSpec&, const std::string&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<Executor>> Create(const v1::Function&,
                                                   const std::string&) override {
    return std::static_pointer_cast<Executor>(executor_);
  }

 private:
  std::shared_ptr<ScriptedExecutor> executor_;
};

class LateCompletionTest : public EngineFixture {
 protected:
  // InFlight reads sluice_invocations_in_flight of `function`.
  double InFlight(const std::string& function) {
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "sluice_invocations_in_flight") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "function" && label.value == function) return metric.gauge.value;
        }
      }
    }
    return -1;
  }

  std::unique_ptr<ExecutorFactory> MakeExecutors() override {
    return std::make_unique<ScriptedFactory>(executor_);
  }
  std::shared_ptr<ScriptedExecutor> executor_ = std::make_shared<ScriptedExecutor>();
};

TEST_F(LateCompletionTest, ALateCompletionOfAnAbandonedAttemptIsIgnored) {
  v1::FunctionSpec spec = Retrying(3);
  *spec.mutable_timeout() = Millis(100);
  Deploy("stuck", "echo", spec);
  auto id = InvokeAsync("stuck", "x");
  ASSERT_TRUE(id.ok());
  executor_->first_started_.WaitForNotification();
  // Attempt 1 passes its deadline; attempt 2 runs and succeeds while
  // attempt 1 is still inside the executor.
  const v1::Invocation done = AwaitState(*id, v1::SUCCEEDED);
  EXPECT_EQ(done.output(), "answer of attempt 2");
  EXPECT_EQ(done.attempt(), 2u);
  EXPECT_EQ(done.timeline(2).attempt(), 1u);
  EXPECT_THAT(done.timeline(2).reason(), HasSubstr("timed out"));
  // Now attempt 1 comes back with an answer of its own: it must change
  // nothing.
  executor_->release_.Notify();
  executor_->returned_.WaitForNotification();
  // The attempt is over once the dispatcher has counted it out.
  ASSERT_TRUE(testing::WaitFor([&] { return InFlight("stuck") == 0; }, absl::Seconds(10)));
  auto after = service_->Get(*id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->output(), "answer of attempt 2");
  EXPECT_EQ(after->timeline_size(), done.timeline_size());
  auto stored = store_->GetInvocation(*id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->output(), "answer of attempt 2");
}

TEST_F(AsyncEngineTest, DrainRefusesNewWorkAndLetsRunningAttemptsFinish) {
  v1::FunctionSpec spec;
  spec.set_concurrency(1);
  Deploy("sleep", "sleep", spec);
  auto running = InvokeAsync("sleep", "300");
  ASSERT_TRUE(running.ok());
  AwaitState(*running, v1::RUNNING);
  auto queued = InvokeAsync("sleep", "1");
  ASSERT_TRUE(queued.ok());
  EXPECT_TRUE(service_->Drain(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(InvokeAsync("sleep", "1").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(InvokeSync("sleep", "1").status().code(), absl::StatusCode::kUnavailable);
  // The running attempt finished and was recorded; the queued one waits in
  // the store for the next start.
  const v1::Invocation finished = AwaitState(*running, v1::SUCCEEDED);
  EXPECT_EQ(finished.attempt(), 1u);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto stored = store_->GetInvocation(*running);
        return stored.ok() && stored->state() == v1::SUCCEEDED;
      },
      absl::Seconds(10)));
  auto stored = store_->GetInvocation(*queued);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::PENDING);
  StopEngine();
  StartEngine();
  ASSERT_TRUE(service_->Recover().ok());
  AwaitState(*queued, v1::SUCCEEDED);
}

}  // namespace
}  // namespace sluice
