#include "runtime/timer_queue.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(TimerQueueTest, RunsCallbacksInDeadlineOrder) {
  TimerQueue timers;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification last;
  const absl::Time base = absl::Now() + absl::Milliseconds(20);
  timers.Schedule(base + absl::Milliseconds(30), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(3);
    last.Notify();
  });
  timers.Schedule(base, [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  timers.Schedule(base + absl::Milliseconds(10), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
  });
  last.WaitForNotification();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueueTest, CancelledCallbackNeverRuns) {
  TimerQueue timers;
  std::atomic<bool> ran{false};
  absl::Notification after;
  const uint64_t handle =
      timers.Schedule(absl::Now() + absl::Milliseconds(10), [&] { ran = true; });
  EXPECT_TRUE(timers.Cancel(handle));
  timers.Schedule(absl::Now() + absl::Milliseconds(30), [&] { after.Notify(); });
  after.WaitForNotification();
  EXPECT_FALSE(ran.load());
  EXPECT_FALSE(timers.Cancel(handle));
}

TEST(TimerQueueTest, CancelAfterRunReturnsFalse) {
  TimerQueue timers;
  absl::Notification ran;
  const uint64_t handle = timers.Schedule(absl::Now(), [&] { ran.Notify(); });
  ran.WaitForNotification();
  EXPECT_FALSE(timers.Cancel(handle));
}

TEST(TimerQueueTest, EarlierTimerAddedLaterWakesTheQueue) {
  TimerQueue timers;
  absl::Notification soon;
  timers.Schedule(absl::Now() + absl::Hours(1), [] {});
  const absl::Time start = absl::Now();
  timers.Schedule(absl::Now() + absl::Milliseconds(5), [&] { soon.Notify(); });
  ASSERT_TRUE(soon.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(TimerQueueTest, CancelledEarliestTimerLeavesLaterOnesOnTime) {
  TimerQueue timers;
  // The thread sleeps until the first timer; cancelling it does not wake
  // the thread, which must still run the second at its time.
  const uint64_t first = timers.Schedule(absl::Now() + absl::Milliseconds(20), [] {});
  ASSERT_TRUE(timers.Cancel(first));
  absl::Notification second;
  timers.Schedule(absl::Now() + absl::Milliseconds(60), [&] { second.Notify(); });
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(TimerQueueTest, TimersScheduledAfterAnIdleSpellStillRun) {
  TimerQueue timers;
  for (int i = 0; i < 100; ++i) {
    const uint64_t handle = timers.Schedule(absl::Now() + absl::Minutes(5), [] {});
    ASSERT_TRUE(timers.Cancel(handle));  // the common case: an attempt ends in time
  }
  absl::Notification due;
  timers.Schedule(absl::Now() + absl::Milliseconds(5), [&] { due.Notify(); });
  EXPECT_TRUE(due.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace sluice
