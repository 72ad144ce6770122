#include "runtime/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "runtime/retry_info.h"
#include "tests/support/manual_clock.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using testing::ManualClock;

// Gate blocks tasks until opened.
class Gate {
 public:
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&open_));
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

// Recorder collects task names in the order they ran.
class Recorder {
 public:
  Task Record(std::string name, v1::Priority priority = v1::PRIORITY_NORMAL) {
    return Task{[this, name] {
                  absl::MutexLock lock(&mu_);
                  order_.push_back(name);
                },
                nullptr, priority};
  }
  // WaitFor waits (up to 30 s) until `n` tasks ran and returns their order.
  std::vector<std::string> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return order_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(30));
    return order_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
};

class DispatcherTest : public ::testing::Test {
 protected:
  // Block occupies the only slot of `function` (concurrency 1) until `gate`
  // opens; returns once the blocker runs.
  void Block(Dispatcher& dispatcher, const std::string& function, Gate& gate,
             uint32_t max_queue = 100) {
    absl::Notification started;
    ASSERT_TRUE(dispatcher
                    .Submit(function, {1, max_queue},
                            Task{[&] {
                                   started.Notify();
                                   gate.Wait();
                                 },
                                 nullptr})
                    .ok());
    started.WaitForNotification();
  }

  prometheus::Registry registry_;
  InvocationProbe probe_{registry_};
};

TEST_F(DispatcherTest, RunsTasksOfOneFunctionInSubmissionOrder) {
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  absl::Mutex mu;
  std::vector<int> order;
  absl::BlockingCounter done(50);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(dispatcher
                    .Submit("f", {1, 100},
                            Task{[&, i] {
                                   {
                                     absl::MutexLock lock(&mu);
                                     order.push_back(i);
                                   }
                                   done.DecrementCount();
                                 },
                                 nullptr})
                    .ok());
  }
  done.Wait();
  std::vector<int> expected(50);
  for (int i = 0; i < 50; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

TEST_F(DispatcherTest, NeverRunsMoreThanTheConcurrencyLimit) {
  Dispatcher dispatcher(8, &probe_, Clock::Real());
  std::atomic<int> running{0}, max_running{0};
  absl::BlockingCounter done(40);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(dispatcher
                    .Submit("f", {3, 100},
                            Task{[&] {
                                   const int now = ++running;
                                   int seen = max_running.load();
                                   while (now > seen &&
                                          !max_running.compare_exchange_weak(seen, now)) {
                                   }
                                   absl::SleepFor(absl::Milliseconds(1));  // work, not waiting
                                   --running;
                                   done.DecrementCount();
                                 },
                                 nullptr})
                    .ok());
  }
  done.Wait();
  EXPECT_LE(max_running.load(), 3);
  EXPECT_GE(max_running.load(), 2);
}

TEST_F(DispatcherTest, FullQueueIsResourceExhaustedAndReservationsCount) {
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  Gate gate;
  absl::Notification started;
  ASSERT_TRUE(dispatcher
                  .Submit("f", {1, 2},
                          Task{[&] {
                                 started.Notify();
                                 gate.Wait();
                               },
                               nullptr})
                  .ok());
  started.WaitForNotification();
  ASSERT_TRUE(dispatcher.Reserve("f", {1, 2}).ok());
  ASSERT_TRUE(dispatcher.Submit("f", {1, 2}, Task{[] {}, nullptr}).ok());
  absl::Status full = dispatcher.Submit("f", {1, 2}, Task{[] {}, nullptr});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), ::testing::HasSubstr("\"f\" is full"));
  EXPECT_EQ(dispatcher.QueueDepth("f"), 2u);
  dispatcher.Unreserve("f");
  EXPECT_EQ(dispatcher.QueueDepth("f"), 1u);
  EXPECT_TRUE(dispatcher.Submit("f", {1, 2}, Task{[] {}, nullptr}).ok());
  // Another function's queue is separate.
  EXPECT_TRUE(dispatcher.Submit("g", {1, 2}, Task{[] {}, nullptr}).ok());
  gate.Open();
}

TEST_F(DispatcherTest, FloodedFunctionDoesNotStarveAnother) {
  // One thread, so every start is a scheduling decision.
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  Gate gate;
  absl::Notification blocker_started;
  ASSERT_TRUE(dispatcher
                  .Submit("flood", {1, 10000},
                          Task{[&] {
                                 blocker_started.Notify();
                                 gate.Wait();
                               },
                               nullptr})
                  .ok());
  blocker_started.WaitForNotification();
  absl::Mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string name) {
    return Task{[&, name] {
                  absl::MutexLock lock(&mu);
                  order.push_back(name);
                },
                nullptr};
  };
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(dispatcher.Submit("flood", {1, 10000}, record("flood")).ok());
  ASSERT_TRUE(dispatcher.Submit("trickle", {1, 10}, record("trickle")).ok());
  gate.Open();
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](std::vector<std::string>* o) { return o->size() == 1001; }, &order));
  // The trickle's task was queued behind 1000 flood tasks but runs within the
  // first two starts: the functions take turns.
  const auto pos = std::find(order.begin(), order.end(), "trickle") - order.begin();
  EXPECT_LE(pos, 1);
}

TEST_F(DispatcherTest, ShutdownDropsQueuedTasksAndRefusesNewOnes) {
  auto dispatcher = std::make_unique<Dispatcher>(1, &probe_, Clock::Real());
  Gate gate;
  absl::Notification started;
  std::atomic<int> dropped{0}, ran{0};
  ASSERT_TRUE(dispatcher
                  ->Submit("f", {1, 10},
                           Task{[&] {
                                  started.Notify();
                                  gate.Wait();
                                  ++ran;
                                },
                                nullptr})
                  .ok());
  started.WaitForNotification();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(dispatcher->Submit("f", {1, 10}, Task{[&] { ++ran; }, [&] { ++dropped; }}).ok());
  }
  // Let the running task finish only once Shutdown has begun (new work is
  // refused), so that the queued tasks cannot start first.
  std::thread opener([&] {
    while (true) {
      const absl::Status probe = dispatcher->Reserve("probe", {1, 1000});
      if (probe.code() == absl::StatusCode::kUnavailable) break;
      if (probe.ok()) dispatcher->Unreserve("probe");
      absl::SleepFor(absl::Milliseconds(1));  // poll interval
    }
    gate.Open();
  });
  dispatcher->Shutdown();
  opener.join();
  EXPECT_EQ(ran.load(), 1);  // the running task finished
  EXPECT_EQ(dropped.load(), 3);
  EXPECT_EQ(dispatcher->Submit("f", {1, 10}, Task{[] {}, nullptr}).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(DispatcherTest, OldestWaitsReportTheOldestQueuedTaskPerFunction) {
  ManualClock clock;
  Dispatcher dispatcher(1, &probe_, &clock);
  Gate gate;
  Block(dispatcher, "f", gate);
  ASSERT_TRUE(dispatcher.Submit("f", {1, 10}, Task{[] {}, nullptr, v1::PRIORITY_LOW}).ok());
  clock.Advance(absl::Seconds(3));
  ASSERT_TRUE(dispatcher.Submit("f", {1, 10}, Task{[] {}, nullptr, v1::PRIORITY_HIGH}).ok());
  clock.Advance(absl::Seconds(2));
  auto waits = dispatcher.OldestWaits();
  std::map<std::string, absl::Duration> by_function(waits.begin(), waits.end());
  // The low-priority task is the oldest, whatever its level.
  EXPECT_EQ(by_function.at("f"), absl::Seconds(5));
  gate.Open();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        for (const auto& [function, wait] : dispatcher.OldestWaits()) {
          if (function == "f") return wait == absl::ZeroDuration();
        }
        return false;
      },
      absl::Seconds(10)));
}

TEST_F(DispatcherTest, HigherPriorityStartsFirstAndSamePriorityInSubmissionOrder) {
  ManualClock clock;  // stands still: no aging
  Dispatcher dispatcher(1, &probe_, &clock);
  Gate gate;
  Block(dispatcher, "f", gate);
  Recorder rec;
  const struct {
    const char* name;
    v1::Priority priority;
  } tasks[] = {
      {"low1", v1::PRIORITY_LOW},          {"normal1", v1::PRIORITY_NORMAL},
      {"high1", v1::PRIORITY_HIGH},        {"unspecified", v1::PRIORITY_UNSPECIFIED},
      {"critical", v1::PRIORITY_CRITICAL}, {"high2", v1::PRIORITY_HIGH},
      {"low2", v1::PRIORITY_LOW},          {"normal2", v1::PRIORITY_NORMAL},
  };
  for (const auto& t : tasks) {
    ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record(t.name, t.priority)).ok());
  }
  gate.Open();
  EXPECT_THAT(rec.WaitFor(8), ::testing::ElementsAre("critical", "high1", "high2", "normal1",
                                                     "unspecified", "normal2", "low1", "low2"));
}

TEST_F(DispatcherTest, WaitingRaisesPriorityOneLevelPerAgingStep) {
  ManualClock clock;
  Dispatcher dispatcher(DispatcherOptions{.threads = 1, .aging_step = absl::Seconds(10)}, &probe_,
                        &clock);
  Gate gate;
  Block(dispatcher, "f", gate);
  Recorder rec;
  // The LOW task waits 29 s: two whole steps, LOW + 2 = HIGH, one short of CRITICAL.
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("old-low", v1::PRIORITY_LOW)).ok());
  clock.Advance(absl::Seconds(29));
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("critical", v1::PRIORITY_CRITICAL)).ok());
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("high", v1::PRIORITY_HIGH)).ok());
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("normal", v1::PRIORITY_NORMAL)).ok());
  gate.Open();
  // Aged to HIGH, the old LOW task ties with the fresh HIGH one and, being
  // older, goes first; it still yields to CRITICAL and passes NORMAL.
  EXPECT_THAT(rec.WaitFor(4), ::testing::ElementsAre("critical", "old-low", "high", "normal"));
}

TEST_F(DispatcherTest, LowPriorityWaitingLongEnoughOvertakesCritical) {
  ManualClock clock;
  Dispatcher dispatcher(DispatcherOptions{.threads = 1, .aging_step = absl::Seconds(10)}, &probe_,
                        &clock);
  Gate gate;
  Block(dispatcher, "f", gate);
  Recorder rec;
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("old-low", v1::PRIORITY_LOW)).ok());
  clock.Advance(absl::Seconds(30));  // three steps: LOW -> CRITICAL
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("critical", v1::PRIORITY_CRITICAL)).ok());
  gate.Open();
  EXPECT_THAT(rec.WaitFor(2), ::testing::ElementsAre("old-low", "critical"));
}

TEST_F(DispatcherTest, InfiniteAgingStepTurnsAgingOff) {
  ManualClock clock;
  Dispatcher dispatcher(DispatcherOptions{.threads = 1, .aging_step = absl::InfiniteDuration()},
                        &probe_, &clock);
  Gate gate;
  Block(dispatcher, "f", gate);
  Recorder rec;
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("old-low", v1::PRIORITY_LOW)).ok());
  clock.Advance(absl::Hours(24));
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, rec.Record("normal", v1::PRIORITY_NORMAL)).ok());
  gate.Open();
  EXPECT_THAT(rec.WaitFor(2), ::testing::ElementsAre("normal", "old-low"));
}

TEST_F(DispatcherTest, PrioritiesDoNotBreakFairnessAcrossFunctions) {
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  Gate gate;
  Block(dispatcher, "flood", gate, 10000);
  Recorder rec;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        dispatcher.Submit("flood", {1, 10000}, rec.Record("flood", v1::PRIORITY_CRITICAL)).ok());
  }
  ASSERT_TRUE(dispatcher.Submit("trickle", {1, 10}, rec.Record("trickle", v1::PRIORITY_LOW)).ok());
  gate.Open();
  const std::vector<std::string> order = rec.WaitFor(201);
  const auto pos = std::find(order.begin(), order.end(), "trickle") - order.begin();
  EXPECT_LE(pos, 1);  // another function's CRITICAL work does not outrank it
}

TEST_F(DispatcherTest, TotalBoundRefusesAcrossFunctionsAndNamesTheBound) {
  Dispatcher dispatcher(DispatcherOptions{.threads = 1, .max_queued_total = 3}, &probe_,
                        Clock::Real());
  Gate gate;
  Block(dispatcher, "a", gate);  // running, so not counted as waiting
  ASSERT_TRUE(dispatcher.Submit("a", {1, 100}, Task{[] {}, nullptr}).ok());
  ASSERT_TRUE(dispatcher.Reserve("b", {1, 100}).ok());
  ASSERT_TRUE(dispatcher.Submit("c", {1, 100}, Task{[] {}, nullptr}).ok());
  EXPECT_EQ(dispatcher.TotalQueued(), 3u);

  const absl::Status full = dispatcher.Submit("d", {1, 100}, Task{[] {}, nullptr});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), ::testing::HasSubstr("across all functions"));
  const std::optional<absl::Duration> delay = RetryDelayOf(full);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GE(*delay, Dispatcher::kMinRetryDelay);
  EXPECT_LE(*delay, Dispatcher::kMaxRetryDelay);
  EXPECT_EQ(dispatcher.QueueDepth("d"), 0u);

  // Giving a place back admits one more; recovery work passes the bound.
  dispatcher.Unreserve("b");
  EXPECT_TRUE(dispatcher.Submit("d", {1, 100}, Task{[] {}, nullptr}).ok());
  dispatcher.SubmitUnbounded("e", {1, 100}, Task{[] {}, nullptr});
  EXPECT_EQ(dispatcher.TotalQueued(), 4u);
  gate.Open();
}

TEST_F(DispatcherTest, FullQueueCarriesRetryDelayFromRunTimes) {
  ManualClock clock;
  Dispatcher dispatcher(1, &probe_, &clock);
  // Three tasks that each "run" 2 s on the manual clock teach the estimate.
  absl::BlockingCounter ran(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(dispatcher
                    .Submit("f", {1, 3},
                            Task{[&] {
                                   clock.Advance(absl::Seconds(2));
                                   ran.DecrementCount();
                                 },
                                 nullptr})
                    .ok());
  }
  ran.Wait();
  ASSERT_TRUE(dispatcher.AwaitIdle(absl::Now() + absl::Seconds(10)));
  Gate gate;
  Block(dispatcher, "f", gate, 3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(dispatcher.Submit("f", {1, 3}, Task{[] {}, nullptr}).ok());
  }

  const absl::Status full = dispatcher.Reserve("f", {1, 3});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), ::testing::HasSubstr("\"f\" is full"));
  const std::optional<absl::Duration> delay = RetryDelayOf(full);
  ASSERT_TRUE(delay.has_value());
  // 2 s per task x 3 waiting / concurrency 1.
  EXPECT_NEAR(absl::ToDoubleSeconds(*delay), 6.0, 0.01);

  // With concurrency 3 the same queue drains three times as fast.
  const absl::Status wider = dispatcher.Reserve("f", {3, 3});
  ASSERT_EQ(wider.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NEAR(absl::ToDoubleSeconds(RetryDelayOf(wider).value_or(absl::ZeroDuration())), 2.0, 0.01);
  gate.Open();
}

TEST_F(DispatcherTest, FreshFunctionRefusalUsesDefaultRunTime) {
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  Gate gate;
  Block(dispatcher, "f", gate, 1);
  ASSERT_TRUE(dispatcher.Submit("f", {1, 1}, Task{[] {}, nullptr}).ok());
  const absl::Status full = dispatcher.Reserve("f", {1, 1});
  ASSERT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RetryDelayOf(full), Dispatcher::kDefaultRunTime);  // 1 s x 1 waiting / 1
  gate.Open();
}

TEST(RetryDelayEstimateTest, ScalesWithWorkAheadAndClamps) {
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Seconds(1), 6, 2), absl::Seconds(3));
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Milliseconds(1), 1, 1),
            Dispatcher::kMinRetryDelay);
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Seconds(10), 1000, 1), Dispatcher::kMaxRetryDelay);
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Hours(1), size_t{1} << 62, 1),
            Dispatcher::kMaxRetryDelay);  // no overflow
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Seconds(1), 0, 1), Dispatcher::kMinRetryDelay);
  EXPECT_EQ(Dispatcher::RetryDelayEstimate(absl::Seconds(1), 4, 0), absl::Seconds(4));
}

TEST(RetryInfoTest, PayloadRoundTripsAndSurvivesInRpcStatus) {
  absl::Status status = absl::ResourceExhaustedError("full");
  EXPECT_FALSE(RetryDelayOf(status).has_value());
  SetRetryDelay(status, absl::Milliseconds(1234));
  EXPECT_EQ(RetryDelayOf(status), absl::Milliseconds(1234));
  const google::rpc::Status rpc = RpcStatusOf(status);
  EXPECT_EQ(rpc.code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(rpc.message(), "full");
  EXPECT_EQ(RetryDelayOfDetails(rpc.SerializeAsString()), absl::Milliseconds(1234));
  EXPECT_FALSE(RetryDelayOfDetails("").has_value());
  EXPECT_FALSE(RetryDelayOfDetails("\xff\xff garbage").has_value());
  EXPECT_EQ(RpcStatusOf(absl::NotFoundError("x")).details_size(), 0);
}

TEST_F(DispatcherTest, CloseDropsQueuedTasksRefusesNewOnesAndLetsRunningOnesFinish) {
  Dispatcher dispatcher(1, &probe_, Clock::Real());
  Gate gate;
  absl::Notification started;
  std::atomic<int> ran{0}, dropped{0};
  ASSERT_TRUE(dispatcher
                  .Submit("f", {1, 10},
                          Task{[&] {
                                 started.Notify();
                                 gate.Wait();
                                 ++ran;
                               },
                               nullptr})
                  .ok());
  started.WaitForNotification();
  ASSERT_TRUE(dispatcher.Reserve("f", {1, 10}).ok());  // submitted after Close
  std::vector<size_t> depth_seen_by_drop;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(dispatcher
                    .Submit("f", {1, 10},
                            Task{[&] { ++ran; },
                                 [&] {
                                   // Called outside the lock: calling back in
                                   // does not deadlock.
                                   depth_seen_by_drop.push_back(dispatcher.QueueDepth("f"));
                                   ++dropped;
                                 }})
                    .ok());
  }
  dispatcher.Close();
  EXPECT_EQ(dropped.load(), 3);                          // at once, while a task still runs
  EXPECT_THAT(depth_seen_by_drop, ::testing::Each(1u));  // only the reservation

  const absl::Status refused = dispatcher.Submit("f", {1, 10}, Task{[] {}, nullptr});
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("draining"));
  EXPECT_EQ(dispatcher.Reserve("g", {1, 10}).code(), absl::StatusCode::kUnavailable);
  dispatcher.SubmitReserved("f", Task{[&] { ++ran; }, [&] { ++dropped; }});
  dispatcher.SubmitUnbounded("f", {1, 10}, Task{[&] { ++ran; }, [&] { ++dropped; }});
  EXPECT_EQ(dropped.load(), 5);
  EXPECT_EQ(dispatcher.QueueDepth("f"), 0u);

  EXPECT_FALSE(dispatcher.AwaitIdle(absl::Now() + absl::Milliseconds(50)));  // still running
  gate.Open();
  EXPECT_TRUE(dispatcher.AwaitIdle(absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(ran.load(), 1);  // only the task that was running
  dispatcher.Close();        // idempotent
  dispatcher.Shutdown();
  dispatcher.Shutdown();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(dropped.load(), 5);
}

TEST_F(DispatcherTest, AwaitIdleOnIdleDispatcherReturnsAtOnce) {
  Dispatcher dispatcher(2, &probe_, Clock::Real());
  EXPECT_TRUE(dispatcher.AwaitIdle(absl::Now()));
  absl::Notification done;
  ASSERT_TRUE(dispatcher.Submit("f", {1, 10}, Task{[&] { done.Notify(); }, nullptr}).ok());
  done.WaitForNotification();
  EXPECT_TRUE(dispatcher.AwaitIdle(absl::Now() + absl::Seconds(30)));
}

// QuickTask returns a task that counts its runs and notes whether it ran
// on the calling thread.
Task QuickTask(std::atomic<int>& runs, std::thread::id* ran_on = nullptr) {
  return Task{[&runs, ran_on] {
                if (ran_on != nullptr) *ran_on = std::this_thread::get_id();
                ++runs;
              },
              nullptr};
}

// Measure runs one task of `function` through the queue and waits until it
// has finished, so that the dispatcher knows how long the function's tasks
// run (`run` may advance a manual clock to make it slow).
void Measure(
    Dispatcher& dispatcher, const std::string& function, const QueueLimits& limits,
    absl::AnyInvocable<void()> run = [] {}) {
  absl::Notification ran;
  ASSERT_TRUE(dispatcher
                  .Submit(function, limits,
                          Task{[&] {
                                 run();
                                 ran.Notify();
                               },
                               nullptr})
                  .ok());
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(dispatcher.AwaitIdle(absl::Now() + absl::Seconds(30)));
}

TEST_F(DispatcherTest, RunInlineRunsAQuickFunctionOnTheCallersThread) {
  ManualClock clock;
  Dispatcher dispatcher(2, &probe_, &clock);
  std::atomic<int> runs{0};
  // Never measured yet: the first task goes through the queue.
  Task first = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {4, 100}, first));
  EXPECT_EQ(runs.load(), 0);
  Measure(dispatcher, "f", {4, 100});
  // Measured quick (no time passes on the manual clock): runs inline.
  std::thread::id ran_on;
  Task second = QuickTask(runs, &ran_on);
  EXPECT_TRUE(dispatcher.RunInline("f", {4, 100}, second));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_F(DispatcherTest, RunInlineNeverPassesWaitingWorkOrExceedsConcurrency) {
  ManualClock clock;
  Dispatcher dispatcher(2, &probe_, &clock);
  std::atomic<int> runs{0};
  Measure(dispatcher, "f", {1, 100});

  Gate gate;
  Block(dispatcher, "f", gate);  // the only slot is taken
  Task busy = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {1, 100}, busy)) << "over the concurrency limit";
  ASSERT_TRUE(dispatcher.Submit("f", {1, 100}, std::move(busy)).ok());  // now one waits
  Task passing = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {1, 100}, passing)) << "a task waits";
  gate.Open();
  Measure(dispatcher, "f", {1, 100});  // runs after the waiting one
  EXPECT_EQ(runs.load(), 1);

  // A reservation also holds a place in line.
  ASSERT_TRUE(dispatcher.Reserve("f", {1, 100}).ok());
  Task behind = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {1, 100}, behind)) << "a reserved place is ahead";
  dispatcher.Unreserve("f");
  EXPECT_TRUE(dispatcher.RunInline("f", {1, 100}, behind));
  EXPECT_EQ(runs.load(), 2);

  dispatcher.Close();
  Task closed = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {1, 100}, closed)) << "after Close";
  EXPECT_TRUE(static_cast<bool>(closed.run)) << "a refused task is left intact";
}

TEST_F(DispatcherTest, RunInlineAloneWaitsForTheFunctionsOtherTasks) {
  ManualClock clock;
  Dispatcher dispatcher(2, &probe_, &clock);
  std::atomic<int> runs{0};
  Measure(dispatcher, "f", {4, 100});
  Gate gate;
  Block(dispatcher, "f", gate);  // one of four slots is taken
  Task alone = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("f", {4, 100}, alone, /*alone=*/true))
      << "another task of the function runs";
  EXPECT_TRUE(static_cast<bool>(alone.run)) << "a refused task is left intact";
  Task shared = QuickTask(runs);
  EXPECT_TRUE(dispatcher.RunInline("f", {4, 100}, shared)) << "a free slot is enough without alone";
  EXPECT_EQ(runs.load(), 1);
  gate.Open();
  ASSERT_TRUE(dispatcher.AwaitIdle(absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(dispatcher.RunInline("f", {4, 100}, alone, /*alone=*/true)) << "nothing else runs";
  EXPECT_EQ(runs.load(), 2);
}

TEST_F(DispatcherTest, RunInlineLeavesSlowFunctionsToTheQueue) {
  ManualClock clock;
  Dispatcher dispatcher(2, &probe_, &clock);
  std::atomic<int> runs{0};
  Measure(dispatcher, "slow", {4, 100}, [&] { clock.Advance(Dispatcher::kInlineRunTime * 2); });
  Task next = QuickTask(runs);
  EXPECT_FALSE(dispatcher.RunInline("slow", {4, 100}, next));
  EXPECT_EQ(runs.load(), 0);
}

TEST_F(DispatcherTest, RunInlineHoldsTheSlotWhileItRuns) {
  ManualClock clock;
  Dispatcher dispatcher(2, &probe_, &clock);
  Measure(dispatcher, "f", {1, 100});
  // While the inline task runs, a task submitted from inside it must wait
  // for the slot, and starts once the inline task returned.
  std::atomic<bool> inline_done{false};
  std::atomic<bool> queued_saw_inline_done{false};
  absl::Notification queued_ran;
  Task outer{[&] {
               ASSERT_TRUE(dispatcher
                               .Submit("f", {1, 100},
                                       Task{[&] {
                                              queued_saw_inline_done = inline_done.load();
                                              queued_ran.Notify();
                                            },
                                            nullptr})
                               .ok());
               EXPECT_EQ(dispatcher.QueueDepth("f"), 1u);
               inline_done = true;
             },
             nullptr};
  ASSERT_TRUE(dispatcher.RunInline("f", {1, 100}, outer));
  ASSERT_TRUE(queued_ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(queued_saw_inline_done.load());
}

}  // namespace
}  // namespace sluice
