#include "gateway/reply_batcher.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(ReplyBatcherTest, RunsEveryReplyOnceInPostingOrder) {
  absl::Mutex mu;
  std::vector<int> order;
  {
    ReplyBatcher replies;
    for (int i = 0; i < 2000; ++i) {
      replies.Reply([&mu, &order, i] {
        absl::MutexLock lock(&mu);
        order.push_back(i);
      });
    }
  }  // the destructor waits for every reply
  ASSERT_EQ(order.size(), 2000u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(order[i], i);
}

TEST(ReplyBatcherTest, PostedRepliesRunOnAnotherThread) {
  ReplyBatcher replies;
  absl::Notification ran;
  std::thread::id ran_on;
  replies.Reply([&] {
    ran_on = std::this_thread::get_id();
    ran.Notify();
  });
  ran.WaitForNotification();
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(ReplyBatcherTest, RepliesInsideAHandlerScopeRunInline) {
  ReplyBatcher replies;
  bool ran = false;
  {
    ReplyBatcher::HandlerScope outer;
    { ReplyBatcher::HandlerScope inner; }
    replies.Reply([&ran] { ran = true; });  // still inside the outer scope
    EXPECT_TRUE(ran);
  }
  absl::Notification posted;
  replies.Reply([&posted] { posted.Notify(); });
  posted.WaitForNotification();
}

TEST(ReplyBatcherTest, RepliesFromManyThreadsAllRun) {
  std::atomic<int> ran{0};
  {
    ReplyBatcher replies;
    std::vector<std::thread> posters;
    for (int t = 0; t < 8; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 500; ++i) replies.Reply([&ran] { ++ran; });
      });
    }
    for (std::thread& poster : posters) poster.join();
  }
  EXPECT_EQ(ran.load(), 4000);
}

TEST(ReplyBatcherTest, AReplyMayPostAnother) {
  absl::Notification second;
  ReplyBatcher replies;
  replies.Reply([&] { replies.Reply([&second] { second.Notify(); }); });
  second.WaitForNotification();
}

}  // namespace
}  // namespace sluice
