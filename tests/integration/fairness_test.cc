// Fairness across functions on a real server: a function flooded with
// 10,000 background invocations does not delay another function's
// invocations, which start as soon as a thread frees up.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using testing::InvokeAsync;

constexpr int kThreads = 4;         // the server's executor threads
constexpr int kFloodCount = 10000;  // flood invocations
constexpr int kTrickleCount = 20;   // trickle invocations
constexpr char kFloodMs[] = "20";   // each flood invocation sleeps this long:
                                    // the flood drains at most 200 per second

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// QueueWait is the time from "queued" (PENDING) to the start of attempt 1
// (RUNNING). While the
// invocation has not started, it is the time from "queued" to `now` (a lower
// bound of the wait to come). nullopt when the timeline has no "queued".
std::optional<absl::Duration> QueueWait(const v1::Invocation& inv, absl::Time now) {
  std::optional<absl::Time> queued, started;
  for (const v1::StateChange& change : inv.timeline()) {
    if (change.state() == v1::PENDING && change.reason() == "queued" && !queued) {
      queued = TimeOf(change.time());
    }
    // "attempt 1 started" (or "attempt 1 of N started").
    if (change.state() == v1::RUNNING && change.attempt() <= 1 &&
        absl::StartsWith(change.reason(), "attempt 1 ") && !started) {
      started = TimeOf(change.time());
    }
  }
  if (!queued) return std::nullopt;
  return started.value_or(now) - *queued;
}

absl::Duration Percentile(std::vector<absl::Duration> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

class FairnessTest : public testing::ServerTest {
 protected:
  FairnessTest() : ServerTest({"--executor-threads", std::to_string(kThreads)}) {}

  // WaitSucceeded waits until every invocation in `ids` finished, expects
  // SUCCEEDED, and returns their queue waits.
  std::vector<absl::Duration> WaitSucceeded(const std::vector<std::string>& ids,
                                            absl::Duration timeout) {
    std::vector<absl::Duration> waits;
    for (const std::string& id : ids) {
      v1::Invocation inv;
      const bool done = testing::WaitFor(
          [&] {
            return testing::GetInvocation(*invocations_, id, &inv).ok() &&
                   inv.state() != v1::PENDING && inv.state() != v1::RUNNING;
          },
          timeout);
      EXPECT_TRUE(done) << id << " did not finish";
      EXPECT_EQ(inv.state(), v1::SUCCEEDED) << inv.ShortDebugString();
      std::optional<absl::Duration> wait = QueueWait(inv, absl::Now());
      EXPECT_TRUE(wait.has_value()) << inv.ShortDebugString();
      if (wait) waits.push_back(*wait);
    }
    return waits;
  }
};

TEST_F(FairnessTest, TrickleIsNotDelayedByAFloodedFunction) {
  v1::DeployResponse deployed;
  v1::FunctionSpec flood;
  flood.set_concurrency(kThreads);  // the flood alone can occupy every thread
  flood.set_max_queue(20000);
  ASSERT_TRUE(testing::DeployExample(*functions_, "flood", "sleep", &deployed, flood).ok());
  v1::FunctionSpec trickle;
  trickle.set_concurrency(1);
  trickle.set_max_queue(100);
  ASSERT_TRUE(testing::DeployExample(*functions_, "trickle", "echo", &deployed, trickle).ok());

  // Warm the flood's workers, then flood from several client threads at once.
  for (int i = 0; i < kThreads; ++i) {
    std::string id;
    ASSERT_TRUE(InvokeAsync(*invocations_, "flood", kFloodMs, &id).ok());
  }
  const absl::Time flood_start = absl::Now();
  constexpr int kClients = 4;
  std::vector<std::vector<std::string>> flood_ids(kClients);
  std::atomic<int> flood_failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::Invocations::NewStub(channel_);
      for (int i = c; i < kFloodCount; i += kClients) {
        std::string id;
        if (InvokeAsync(*stub, "flood", kFloodMs, &id).ok()) {
          flood_ids[c].push_back(id);
        } else {
          ++flood_failures;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  ASSERT_EQ(flood_failures.load(), 0);
  std::printf("flood: %d invocations queued in %s\n", kFloodCount,
              absl::FormatDuration(absl::Now() - flood_start).c_str());

  // The trickle, spaced out while the flood drains.
  v1::InvokeResponse warm;  // starts trickle's worker before the measurement
  {
    grpc::ClientContext context;
    v1::InvokeRequest request;
    request.set_function("trickle");
    ASSERT_TRUE(invocations_->Invoke(&context, request, &warm).ok());
  }
  std::vector<std::string> trickle_ids;
  for (int i = 0; i < kTrickleCount; ++i) {
    std::string id;
    ASSERT_TRUE(InvokeAsync(*invocations_, "trickle", absl::StrCat("t", i), &id).ok());
    trickle_ids.push_back(id);
    absl::SleepFor(absl::Milliseconds(50));  // pacing of the load, not a wait for a state
  }
  // The flood must still be draining, or the trickle proved nothing.
  v1::Invocation last_flood;
  ASSERT_TRUE(
      testing::GetInvocation(*invocations_, flood_ids[kClients - 1].back(), &last_flood).ok());
  ASSERT_EQ(last_flood.state(), v1::PENDING)
      << "the flood drained before the trickle was sent: " << last_flood.ShortDebugString();

  const std::vector<absl::Duration> trickle_waits = WaitSucceeded(trickle_ids, absl::Seconds(30));
  ASSERT_EQ(trickle_waits.size(), static_cast<size_t>(kTrickleCount));

  // A sample of the flood, spread over its queue order. The test does not
  // wait for the flood to drain: an invocation still waiting counts with
  // the time it has waited so far, so the median is a lower bound.
  std::vector<absl::Duration> flood_waits;
  const absl::Time now = absl::Now();
  for (int c = 0; c < kClients; ++c) {
    for (size_t i = 0; i < flood_ids[c].size(); i += 100) {
      v1::Invocation inv;
      ASSERT_TRUE(testing::GetInvocation(*invocations_, flood_ids[c][i], &inv).ok());
      std::optional<absl::Duration> wait = QueueWait(inv, now);
      ASSERT_TRUE(wait.has_value()) << inv.ShortDebugString();
      flood_waits.push_back(*wait);
    }
  }

  const absl::Duration trickle_p50 = Percentile(trickle_waits, 0.5);
  const absl::Duration trickle_max = Percentile(trickle_waits, 1.0);
  const absl::Duration flood_p50 = Percentile(flood_waits, 0.5);
  std::printf("queue wait: trickle p50 %s max %s; flood p50 %s max %s (%zu sampled); total %s\n",
              absl::FormatDuration(trickle_p50).c_str(), absl::FormatDuration(trickle_max).c_str(),
              absl::FormatDuration(flood_p50).c_str(),
              absl::FormatDuration(Percentile(flood_waits, 1.0)).c_str(), flood_waits.size(),
              absl::FormatDuration(absl::Now() - flood_start).c_str());
  // Bounds relative to the flood, so a slow (sanitized, shared) machine
  // does not fail the test; the median is also bounded absolutely.
  EXPECT_LT(trickle_p50, absl::Milliseconds(100));
  EXPECT_LT(trickle_p50 * 100, flood_p50);
  EXPECT_LT(trickle_max * 10, flood_p50);
}

}  // namespace
}  // namespace sluice
