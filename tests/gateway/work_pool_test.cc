#include "gateway/work_pool.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(WorkPoolTest, RunsEveryScheduledJob) {
  std::atomic<int> ran{0};
  {
    WorkPool pool(3, 1000);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.Schedule([&] { ++ran; }).ok());
  }  // the destructor runs what is queued
  EXPECT_EQ(ran.load(), 500);
}

TEST(WorkPoolTest, FullQueueIsRefusedWithoutWaiting) {
  WorkPool pool(1, 2);
  absl::Notification started, release;
  ASSERT_TRUE(pool.Schedule([&] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
  ASSERT_TRUE(pool.Schedule([] {}).ok());
  ASSERT_TRUE(pool.Schedule([] {}).ok());
  const absl::Status full = pool.Schedule([] {});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  release.Notify();
}

TEST(WorkPoolTest, OneThreadRunsJobsInOrder) {
  std::vector<int> order;
  {
    WorkPool pool(1, 100);
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(pool.Schedule([&order, i] { order.push_back(i); }).ok());
  }
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace sluice
