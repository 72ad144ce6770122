// Invocation ids: the format, the time they carry, and uniqueness across
// threads.
#include "runtime/ids.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(IdsTest, AnIdIsThePrefixTheMillisecondsAndRandomHex) {
  const absl::Time at = absl::FromUnixMillis(0x18c2a3b4c5dLL);
  const std::string id = NewInvocationId(at);
  ASSERT_EQ(id.size(), 4u + 12 + 16) << id;
  EXPECT_EQ(id.substr(0, 16), "inv_018c2a3b4c5d") << id;
  EXPECT_TRUE(IsWellFormedInvocationId(id)) << id;
  EXPECT_NE(NewInvocationId(at), id) << "the random part differs";
  EXPECT_FALSE(IsWellFormedInvocationId("inv_018c2a3b4c5dXXXXXXXXXXXXXXXX"));
  EXPECT_FALSE(IsWellFormedInvocationId("inv_018c2a3b4c5d"));
}

TEST(IdsTest, IdsFromManyThreadsAreUnique) {
  constexpr int kThreads = 8;
  constexpr int kEach = 5000;
  absl::Mutex mu;
  absl::flat_hash_set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < kEach; ++i) mine.push_back(NewInvocationId(absl::UnixEpoch()));
      absl::MutexLock lock(&mu);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace sluice
