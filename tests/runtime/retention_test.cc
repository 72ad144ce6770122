// RetentionCollector on MemoryStore and RocksDbStore: what expires goes with
// its idempotency key, what must stay stays, the scan resumes instead of
// rescanning, and a long run keeps the store bounded. Time is a manual clock.
#include "runtime/retention.h"

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/store_probe.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "runtime/clock.h"
#include "runtime/group_committer.h"
#include "runtime/memory_store.h"
#include "runtime/rocksdb_store.h"
#include "runtime/store.h"
#include "tests/runtime/store_factories.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scoped_temp_dir.h"

namespace sluice {
namespace {

using testing::ManualClock;

using ::testing::ElementsAre;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

// CountingStore forwards to another Store and counts the invocations that
// ScanInvocations returned. Thread-safe.
class CountingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  uint64_t scanned() const { return scanned_.load(); }

  absl::StatusOr<std::vector<v1::Invocation>> ScanInvocations(const std::string& after_id,
                                                              size_t limit) override {
    absl::StatusOr<std::vector<v1::Invocation>> page = inner()->ScanInvocations(after_id, limit);
    if (page.ok()) scanned_ += page->size();
    return page;
  }

 private:
  std::atomic<uint64_t> scanned_{0};
};

google::protobuf::Timestamp ToProto(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t seconds = absl::ToUnixSeconds(time);
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(
      static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return timestamp;
}

// InvocationId returns the n-th id in creation order, shaped like real ids.
std::string InvocationId(int n) { return absl::StrFormat("inv_%012x%016x", 1000 + n, 77 * n); }

v1::Invocation MakeInvocation(int n, v1::InvocationState state, absl::Time created,
                              absl::Time updated, const std::string& key = "") {
  v1::Invocation invocation;
  invocation.set_id(InvocationId(n));
  invocation.set_function("echo");
  invocation.set_state(state);
  *invocation.mutable_created_at() = ToProto(created);
  *invocation.mutable_updated_at() = ToProto(updated);
  invocation.set_idempotency_key(key);
  return invocation;
}

// Incompressible returns `size` pseudo-random bytes drawn from `seed`.
std::string Incompressible(size_t size, uint64_t seed) {
  std::string bytes(size, '\0');
  uint64_t state = seed * 0x9e3779b97f4a7c15u + 1;
  for (char& byte : bytes) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    byte = static_cast<char>(state >> 56);
  }
  return bytes;
}

double CounterValue(const prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name && family.metric.size() == 1) return family.metric[0].counter.value;
  }
  return -1;
}

template <typename Factory>
class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = factory_.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    counting_ = std::make_unique<CountingStore>(store_.get());
    committer_ = std::make_unique<GroupCommitter>(store_.get());
  }

  std::unique_ptr<RetentionCollector> Collector(RetentionCollector::Options options,
                                                StoreProbe* probe = nullptr) {
    return std::make_unique<RetentionCollector>(counting_.get(), committer_.get(), &clock_, options,
                                                probe);
  }

  void Put(const std::vector<v1::Invocation>& invocations) {
    WriteBatch batch;
    for (const v1::Invocation& invocation : invocations) {
      batch.PutInvocation(invocation);
      if (!invocation.idempotency_key().empty()) {
        batch.PutIdempotencyKey(invocation.function(), invocation.idempotency_key(),
                                invocation.id());
      }
    }
    ASSERT_TRUE(store_->Commit(batch).ok());
  }

  void MapKey(const std::string& key, const std::string& id) {
    WriteBatch batch;
    batch.PutIdempotencyKey("echo", key, id);
    ASSERT_TRUE(store_->Commit(batch).ok());
  }

  // Ids returns the ids of every stored invocation, oldest first.
  std::vector<std::string> Ids() {
    absl::StatusOr<std::vector<v1::Invocation>> all = store_->ScanInvocations("", 1'000'000);
    EXPECT_TRUE(all.ok()) << all.status();
    std::vector<std::string> ids;
    if (all.ok()) {
      for (const v1::Invocation& invocation : *all) ids.push_back(invocation.id());
    }
    return ids;
  }

  // KeyOf returns the id that `key` of echo maps to, or "<none>".
  std::string KeyOf(const std::string& key) {
    absl::StatusOr<std::string> id = store_->GetIdempotencyKey("echo", key);
    EXPECT_TRUE(id.ok() || absl::IsNotFound(id.status())) << id.status();
    return id.ok() ? *id : "<none>";
  }

  size_t Collect(RetentionCollector& collector, size_t max_deletes = 1'000'000) {
    absl::StatusOr<size_t> deleted = collector.CollectOnce(clock_.Now(), max_deletes);
    EXPECT_TRUE(deleted.ok()) << deleted.status();
    return deleted.ok() ? *deleted : 0;
  }

  RocksDbStore* rocks() { return Factory::rocks(store_.get()); }

  // Declared first, destroyed last: the store closes before its files go.
  Factory factory_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<CountingStore> counting_;
  std::unique_ptr<GroupCommitter> committer_;
  ManualClock clock_;
};

TYPED_TEST_SUITE(RetentionTest, StoreTypes, StoreTypeNames);

TYPED_TEST(RetentionTest, DeletesExpiredFinishedInvocationsAndTheirKeysOnly) {
  constexpr absl::Duration kTtl = absl::Hours(1);
  const absl::Time t = kStart;
  this->clock_.Advance(absl::Hours(10));
  const absl::Time now = this->clock_.Now();
  this->Put({
      MakeInvocation(1, v1::SUCCEEDED, t, t + absl::Minutes(1), "key-1"),
      MakeInvocation(2, v1::FAILED, t + absl::Minutes(1), t + absl::Minutes(2), "key-2"),
      // Finished long ago, but updated (e.g. redriven and failed) recently.
      MakeInvocation(3, v1::CANCELLED, t + absl::Minutes(2), now - absl::Minutes(30)),
      MakeInvocation(4, v1::PENDING, t + absl::Minutes(3), t + absl::Minutes(3), "key-4"),
      MakeInvocation(5, v1::RUNNING, t + absl::Minutes(4), t + absl::Minutes(4)),
      MakeInvocation(6, v1::SUCCEEDED, t + absl::Minutes(5), t + absl::Minutes(6), "key-6"),
      // Expires exactly now.
      MakeInvocation(7, v1::SUCCEEDED, t + absl::Minutes(7), now - kTtl),
      // Young.
      MakeInvocation(8, v1::SUCCEEDED, now - absl::Minutes(30), now - absl::Minutes(29), "key-8"),
  });
  // key-6 was re-pointed at a later invocation: it is not 6's to delete.
  this->MapKey("key-6", InvocationId(8));
  this->MapKey("key-other", InvocationId(1));

  prometheus::Registry registry;
  StoreProbe probe(registry);
  std::unique_ptr<RetentionCollector> collector =
      this->Collector({.ttl = kTtl, .page_size = 3, .batch_size = 2}, &probe);
  EXPECT_EQ(this->Collect(*collector), 4u);

  EXPECT_THAT(this->Ids(),
              ElementsAre(InvocationId(3), InvocationId(4), InvocationId(5), InvocationId(8)));
  EXPECT_EQ(this->KeyOf("key-1"), "<none>");
  EXPECT_EQ(this->KeyOf("key-2"), "<none>");
  EXPECT_EQ(this->KeyOf("key-4"), InvocationId(4));
  EXPECT_EQ(this->KeyOf("key-6"), InvocationId(8));
  EXPECT_EQ(this->KeyOf("key-8"), InvocationId(8));
  // A key of another name that maps to a deleted id is not the record's key.
  EXPECT_EQ(this->KeyOf("key-other"), InvocationId(1));
  EXPECT_EQ(CounterValue(registry, "sluice_retention_deleted_total"), 4);

  // Nothing more expires while time stands still.
  EXPECT_EQ(this->Collect(*collector), 0u);
  EXPECT_EQ(this->Ids().size(), 4u);
}

TYPED_TEST(RetentionTest, SkippedInvocationsAreRevisitedOncePerRevisitInterval) {
  constexpr absl::Duration kTtl = absl::Hours(1);
  constexpr absl::Duration kRevisit = absl::Minutes(10);
  const absl::Time t = kStart;
  this->Put({MakeInvocation(1, v1::PENDING, t, t, "key-1"),
             MakeInvocation(2, v1::SUCCEEDED, t, t + absl::Seconds(1)),
             MakeInvocation(3, v1::RUNNING, t, t + absl::Seconds(2)),
             MakeInvocation(4, v1::SUCCEEDED, t, t + absl::Seconds(3))});
  std::unique_ptr<RetentionCollector> collector =
      this->Collector({.ttl = kTtl, .page_size = 2, .revisit_interval = kRevisit});

  this->clock_.Advance(absl::Hours(2));
  EXPECT_EQ(this->Collect(*collector), 2u);
  EXPECT_THAT(this->Ids(), ElementsAre(InvocationId(1), InvocationId(3)));
  // Caught up: until a revisit is due, a call reads nothing old again.
  uint64_t scanned = this->counting_->scanned();
  EXPECT_EQ(this->Collect(*collector), 0u);
  EXPECT_EQ(this->counting_->scanned(), scanned);

  // 1 and 3 finish now; they stay for a TTL after that.
  const absl::Time finished = this->clock_.Now();
  this->Put({MakeInvocation(1, v1::SUCCEEDED, t, finished, "key-1"),
             MakeInvocation(3, v1::FAILED, t, finished)});
  this->clock_.Advance(kTtl - absl::Seconds(1));
  // A revisit is due: it reads 1 and 3 again, and they are not expired yet.
  scanned = this->counting_->scanned();
  EXPECT_EQ(this->Collect(*collector), 0u);
  EXPECT_EQ(this->counting_->scanned(), scanned + 2);
  EXPECT_EQ(this->Ids().size(), 2u);

  // Expired now, but the last revisit was a second ago: they wait for the
  // next one, and no call reads them meanwhile.
  this->clock_.Advance(absl::Seconds(1));
  scanned = this->counting_->scanned();
  EXPECT_EQ(this->Collect(*collector), 0u);
  this->clock_.Advance(kRevisit - absl::Seconds(2));
  EXPECT_EQ(this->Collect(*collector), 0u);
  EXPECT_EQ(this->counting_->scanned(), scanned);
  EXPECT_EQ(this->Ids().size(), 2u);

  this->clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(this->Collect(*collector), 2u);
  EXPECT_TRUE(this->Ids().empty());
  EXPECT_EQ(this->KeyOf("key-1"), "<none>");
}

TYPED_TEST(RetentionTest, MaxDeletesBoundsACallAndTheNextResumes) {
  const absl::Time t = kStart;
  std::vector<v1::Invocation> invocations;
  for (int n = 1; n <= 10; ++n) {
    invocations.push_back(MakeInvocation(n, v1::SUCCEEDED, t + absl::Seconds(n),
                                         t + absl::Seconds(n), absl::StrCat("key-", n)));
  }
  this->Put(invocations);
  this->clock_.Advance(absl::Hours(2));
  std::unique_ptr<RetentionCollector> collector =
      this->Collector({.ttl = absl::Hours(1), .page_size = 4, .batch_size = 2});

  EXPECT_EQ(this->Collect(*collector, 3), 3u);
  EXPECT_EQ(this->Ids().size(), 7u);
  EXPECT_EQ(this->Ids().front(), InvocationId(4));
  EXPECT_EQ(this->Collect(*collector, 3), 3u);
  EXPECT_EQ(this->Collect(*collector, 3), 3u);
  EXPECT_EQ(this->Collect(*collector, 3), 1u);
  EXPECT_EQ(this->Collect(*collector, 3), 0u);
  EXPECT_TRUE(this->Ids().empty());
  EXPECT_EQ(this->KeyOf("key-10"), "<none>");
  EXPECT_EQ(this->Collect(*collector, 0), 0u);
}

TYPED_TEST(RetentionTest, ClockOverloadUsesTheClock) {
  this->Put({MakeInvocation(1, v1::SUCCEEDED, kStart, kStart)});
  std::unique_ptr<RetentionCollector> collector = this->Collector({.ttl = absl::Minutes(5)});
  this->clock_.Advance(absl::Minutes(4));
  absl::StatusOr<size_t> deleted = collector->CollectOnce(100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0u);
  this->clock_.Advance(absl::Minutes(1));
  deleted = collector->CollectOnce(100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1u);
}

// Many rounds of traffic under an advancing clock: every round adds
// short-lived invocations (finished at once, with keys) and long-lived ones
// (PENDING or RUNNING for three TTLs), finishes the long-lived ones of long
// ago, then runs retention. The store must hold no more than the retention
// window, nothing may stay past ttl + revisit_interval, rounds must not
// rescan the old unfinished invocations except on revisits, and on RocksDB
// the live data must stay bounded after compaction.
TYPED_TEST(RetentionTest, LongRunStaysBounded) {
  constexpr int kRounds = 240;
  constexpr int kShortPerRound = 20;
  constexpr int kLongPerRound = 5;
  constexpr int kTtlRounds = 30;
  constexpr int kLongRounds = 3 * kTtlRounds;  // how long the long-lived run
  constexpr int kRevisitRounds = 10;
  constexpr size_t kPageSize = 32;
  constexpr size_t kPayloadBytes = 512;
  const absl::Duration kRound = absl::Minutes(1);
  const absl::Duration kTtl = kTtlRounds * kRound;
  const absl::Duration kRevisit = kRevisitRounds * kRound;

  std::unique_ptr<RetentionCollector> collector = this->Collector(
      {.ttl = kTtl, .page_size = kPageSize, .batch_size = 64, .revisit_interval = kRevisit});
  // The window: short-lived invocations created in the last TTL, long-lived
  // ones created in the last kLongRounds + TTL + revisit interval; one round
  // of slack each.
  const size_t kWindow = (kTtlRounds + 1) * kShortPerRound +
                         (kLongRounds + kTtlRounds + kRevisitRounds + 2) * kLongPerRound;
  // What a round reads when it is no revisit: what it deletes or newly skips,
  // about one round's worth, plus up to a page of young invocations per scan.
  const uint64_t kRoundScan = 2 * (kShortPerRound + kLongPerRound) + 2 * kPageSize;

  int next = 0;
  std::vector<std::pair<int, int>> long_lived;  // (round created, id)
  uint64_t bytes_at_steady_state = 0;
  size_t deleted_total = 0;
  int rescanning_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    const absl::Time now = this->clock_.Now();
    std::vector<v1::Invocation> batch;
    for (int i = 0; i < kShortPerRound; ++i, ++next) {
      v1::Invocation invocation = MakeInvocation(next, i % 3 == 0 ? v1::FAILED : v1::SUCCEEDED, now,
                                                 now, absl::StrCat("key-", next));
      invocation.set_payload(Incompressible(kPayloadBytes, next));
      batch.push_back(std::move(invocation));
    }
    for (int i = 0; i < kLongPerRound; ++i, ++next) {
      v1::Invocation invocation =
          MakeInvocation(next, i % 2 == 0 ? v1::PENDING : v1::RUNNING, now, now);
      invocation.set_payload(Incompressible(kPayloadBytes, next));
      batch.push_back(std::move(invocation));
      long_lived.emplace_back(round, next);
    }
    while (!long_lived.empty() && long_lived.front().first <= round - kLongRounds) {
      absl::StatusOr<v1::Invocation> stored =
          this->store_->GetInvocation(InvocationId(long_lived.front().second));
      ASSERT_TRUE(stored.ok()) << stored.status();
      stored->set_state(v1::SUCCEEDED);
      *stored->mutable_updated_at() = ToProto(now);
      batch.push_back(*std::move(stored));
      long_lived.erase(long_lived.begin());
    }
    this->Put(batch);

    const uint64_t scanned_before = this->counting_->scanned();
    deleted_total += this->Collect(*collector);
    const uint64_t scanned = this->counting_->scanned() - scanned_before;
    if (scanned > kRoundScan) ++rescanning_rounds;

    absl::StatusOr<std::vector<v1::Invocation>> all = this->store_->ScanInvocations("", 1'000'000);
    ASSERT_TRUE(all.ok()) << all.status();
    ASSERT_LE(all->size(), kWindow) << "round " << round;
    for (const v1::Invocation& invocation : *all) {
      const bool finished = invocation.state() != v1::PENDING && invocation.state() != v1::RUNNING;
      const absl::Time updated = absl::FromUnixSeconds(invocation.updated_at().seconds());
      ASSERT_FALSE(finished && updated + kTtl + kRevisit + kRound <= now)
          << "round " << round << ": " << invocation.id() << " overdue";
    }
    if (round > kLongRounds + kTtlRounds + kRevisitRounds) {
      // Steady state: the window is full, not just below the bound.
      EXPECT_GE(all->size(), static_cast<size_t>(kTtlRounds * kShortPerRound +
                                                 (kLongRounds + kTtlRounds) * kLongPerRound))
          << "round " << round;
    }
    if (RocksDbStore* rocks = this->rocks(); rocks != nullptr && round == 150) {
      ASSERT_TRUE(rocks->CompactAll().ok());
      bytes_at_steady_state = rocks->ApproximateLiveBytes();
    }
    this->clock_.Advance(kRound);
  }
  // Old unfinished invocations were re-read on revisits only.
  EXPECT_LE(rescanning_rounds, kRounds / kRevisitRounds + 2);
  // Everything before the window went, keys included.
  EXPECT_GE(deleted_total, static_cast<size_t>(next) - kWindow);
  EXPECT_EQ(this->KeyOf("key-0"), "<none>");
  EXPECT_EQ(this->KeyOf(absl::StrCat("key-", next - kLongPerRound - 1)),
            InvocationId(next - kLongPerRound - 1));

  if (RocksDbStore* rocks = this->rocks(); rocks != nullptr) {
    ASSERT_TRUE(rocks->CompactAll().ok());
    const uint64_t bytes = rocks->ApproximateLiveBytes();
    const uint64_t inserted = static_cast<uint64_t>(next) * kPayloadBytes;
    EXPECT_GT(bytes_at_steady_state,
              static_cast<uint64_t>(kTtlRounds * kShortPerRound) * kPayloadBytes);
    // Bounded: the same window as at steady state, far less than all written.
    EXPECT_LE(bytes, bytes_at_steady_state * 3 / 2)
        << "steady " << bytes_at_steady_state << " inserted " << inserted;
    EXPECT_LT(bytes, inserted / 3) << "inserted " << inserted;
  }
}

}  // namespace
}  // namespace sluice
