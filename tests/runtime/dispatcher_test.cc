#include "runtime/dispatcher.h"

#include <algorithm>
#include <atomic>
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

namespace sluice {
namespace {

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

class DispatcherTest : public ::testing::Test {
 protected:
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
  std::thread opener([&] { gate.Open(); });
  dispatcher->Shutdown();
  opener.join();
  EXPECT_EQ(ran.load(), 1);  // the running task finished
  EXPECT_EQ(dropped.load(), 3);
  EXPECT_EQ(dispatcher->Submit("f", {1, 10}, Task{[] {}, nullptr}).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sluice
