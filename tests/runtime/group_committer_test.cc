// GroupCommitter: concurrent writers share commits, errors reach every
// writer of a failed commit, and destruction drains the queue.
#include "runtime/group_committer.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/store_probe.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "runtime/memory_store.h"
#include "runtime/store.h"
#include "tests/support/forwarding_store.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kDeadline = absl::Seconds(30);

// GatedStore forwards to another Store, except that its first Commit waits
// until OpenGate, so batches pile up behind it, and that every Commit can
// be made to fail. Thread-safe. The gate gives up after kDeadline so that a
// failed test ends instead of hanging.
class GatedStore : public testing::ForwardingStore {
 public:
  explicit GatedStore(Store* inner, absl::Status commit_result = absl::OkStatus())
      : ForwardingStore(inner), commit_result_(std::move(commit_result)) {}

  absl::Status Commit(const WriteBatch& batch) override {
    {
      absl::MutexLock lock(&mu_);
      commit_sizes_.push_back(batch.size());
      if (commit_sizes_.size() == 1) mu_.AwaitWithTimeout(absl::Condition(&gate_open_), kDeadline);
    }
    // A slow disk: the time a commit takes is what is simulated here.
    absl::SleepFor(commit_time_);
    if (!commit_result_.ok()) return commit_result_;
    return inner()->Commit(batch);
  }

  // WaitForFirstCommit returns whether the first Commit started (and is
  // waiting at the gate) before the deadline.
  bool WaitForFirstCommit() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &GatedStore::FirstCommitStarted), kDeadline);
  }

  // set_commit_time makes every later Commit take at least `time`, as on a
  // disk that syncs slowly. Call before the first Commit.
  void set_commit_time(absl::Duration time) { commit_time_ = time; }

  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }

  // commit_sizes returns the number of writes in each Commit so far.
  std::vector<size_t> commit_sizes() {
    absl::MutexLock lock(&mu_);
    return commit_sizes_;
  }

 private:
  bool FirstCommitStarted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !commit_sizes_.empty();
  }

  const absl::Status commit_result_;
  absl::Duration commit_time_;  // set before the first Commit
  absl::Mutex mu_;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<size_t> commit_sizes_ ABSL_GUARDED_BY(mu_);
};

// CountedStore forwards to another Store and lets a test wait for a number
// of commits. Thread-safe.
class CountedStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::Status Commit(const WriteBatch& batch) override {
    absl::Status status = inner()->Commit(batch);
    absl::MutexLock lock(&mu_);
    ++commits_;
    return status;
  }

  // WaitForCommits returns whether `count` commits returned before kDeadline.
  bool WaitForCommits(int count) {
    absl::MutexLock lock(&mu_);
    awaited_ = count;
    return mu_.AwaitWithTimeout(absl::Condition(this, &CountedStore::Reached), kDeadline);
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return commits_ >= awaited_; }

  absl::Mutex mu_;
  int commits_ ABSL_GUARDED_BY(mu_) = 0;
  int awaited_ ABSL_GUARDED_BY(mu_) = 0;
};

// Outcomes collects the statuses passed to `done` callbacks. Thread-safe.
class Outcomes {
 public:
  absl::AnyInvocable<void(absl::Status)> Callback(int n) {
    return [this, n](absl::Status status) {
      absl::MutexLock lock(&mu_);
      statuses_[n] = std::move(status);
      ++count_;
    };
  }

  // WaitFor returns whether `count` callbacks ran before the deadline. One
  // waiter at a time.
  bool WaitFor(int count) {
    absl::MutexLock lock(&mu_);
    awaited_ = count;
    return mu_.AwaitWithTimeout(absl::Condition(this, &Outcomes::Reached), kDeadline);
  }

  int count() {
    absl::MutexLock lock(&mu_);
    return count_;
  }

  std::map<int, absl::Status> statuses() {
    absl::MutexLock lock(&mu_);
    return statuses_;
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ >= awaited_; }

  absl::Mutex mu_;
  std::map<int, absl::Status> statuses_ ABSL_GUARDED_BY(mu_);
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  int awaited_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string InvocationId(int n) { return absl::StrFormat("inv_%012x%016x", 1000 + n, n); }

WriteBatch BatchFor(int n) {
  v1::Invocation invocation;
  invocation.set_id(InvocationId(n));
  invocation.set_function("echo");
  invocation.set_state(v1::PENDING);
  WriteBatch batch;
  batch.PutInvocation(invocation);
  return batch;
}

// HeldRound is a committer over a gated memory store whose first commit
// (of batch 0, outcome 0) waits at the gate, so that whatever is submitted
// next queues up for one round; OpenGate lets both rounds go.
struct HeldRound {
  HeldRound() {
    committer.Submit(BatchFor(0), outcomes.Callback(0));
    EXPECT_TRUE(gated.WaitForFirstCommit());
  }

  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated{store.get()};
  Outcomes outcomes;
  GroupCommitter committer{&gated};
};

TEST(GroupCommitterTest, ConcurrentWritersShareOneCommit) {
  constexpr int kThreads = 64;
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get());
  Outcomes outcomes;
  GroupCommitter committer(&gated);

  // Batch 0 holds the commit thread at the gate while the others queue up.
  committer.Submit(BatchFor(0), outcomes.Callback(0));
  ASSERT_TRUE(gated.WaitForFirstCommit());
  std::vector<std::thread> writers;
  for (int n = 1; n <= kThreads; ++n) {
    writers.emplace_back([&, n] { committer.Submit(BatchFor(n), outcomes.Callback(n)); });
  }
  for (std::thread& writer : writers) writer.join();
  gated.OpenGate();

  ASSERT_TRUE(outcomes.WaitFor(kThreads + 1)) << outcomes.count() << " done";
  for (const auto& [n, status] : outcomes.statuses())
    EXPECT_TRUE(status.ok()) << n << ": " << status;
  for (int n = 0; n <= kThreads; ++n) {
    EXPECT_TRUE(store->GetInvocation(InvocationId(n)).ok()) << n;
  }
  EXPECT_LT(committer.commits(), static_cast<uint64_t>(kThreads + 1));
  EXPECT_EQ(committer.commits(), 2u);
  EXPECT_THAT(gated.commit_sizes(), ElementsAre(1u, static_cast<size_t>(kThreads)));
}

TEST(GroupCommitterTest, LaterWriteOfAnInvocationInTheSameRoundReplacesTheEarlier) {
  HeldRound held;
  auto& [store, gated, outcomes, committer] = held;
  // Queued behind the gate, so one round: invocation 1 started and
  // finished, invocation 2 written once.
  v1::Invocation running;
  running.set_id(InvocationId(1));
  running.set_function("echo");
  running.set_state(v1::RUNNING);
  v1::Invocation succeeded = running;
  succeeded.set_state(v1::SUCCEEDED);
  WriteBatch start;
  start.PutInvocation(running);
  WriteBatch end;
  end.PutInvocation(succeeded);
  end.Append(BatchFor(2));
  committer.Submit(std::move(start), outcomes.Callback(1));
  committer.Submit(std::move(end), outcomes.Callback(2));
  gated.OpenGate();

  ASSERT_TRUE(outcomes.WaitFor(3));
  for (const auto& [n, status] : outcomes.statuses()) EXPECT_TRUE(status.ok()) << n;
  EXPECT_THAT(gated.commit_sizes(), ElementsAre(1u, 2u));  // the RUNNING write was dropped
  absl::StatusOr<v1::Invocation> stored = store->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::SUCCEEDED);
  EXPECT_TRUE(store->GetInvocation(InvocationId(2)).ok());
}

TEST(WriteBatchTest, DropSupersededInvocationPutsKeepsOnlyWhatDecidesTheOutcome) {
  auto put = [](int n, v1::InvocationState state) {
    v1::Invocation inv;
    inv.set_id(InvocationId(n));
    inv.set_state(state);
    return inv;
  };
  WriteBatch batch;
  batch.PutInvocation(put(1, v1::PENDING));    // replaced by the put below: dropped
  batch.PutInvocation(put(2, v1::PENDING));    // replaced by the delete: dropped
  batch.PutInvocation(put(1, v1::RUNNING));    // the last put of 1: kept
  batch.DeleteInvocation(InvocationId(2));     // kept
  batch.PutInvocation(put(3, v1::SUCCEEDED));  // alone: kept
  batch.DeleteIdempotencyKey("echo", "k");     // other kinds are never dropped
  batch.DropSupersededInvocationPuts();
  ASSERT_EQ(batch.size(), 4u);
  EXPECT_EQ(batch.ops()[0].kind, WriteBatch::Op::Kind::kPutInvocation);
  EXPECT_EQ(batch.ops()[0].invocation->state(), v1::RUNNING);
  EXPECT_EQ(batch.ops()[1].kind, WriteBatch::Op::Kind::kDeleteInvocation);
  EXPECT_EQ(batch.ops()[2].invocation->id(), InvocationId(3));
  EXPECT_EQ(batch.ops()[3].kind, WriteBatch::Op::Kind::kDeleteIdempotencyKey);
}

TEST(WriteBatchTest, AnUpdateSupersedesOnlyUpdatesAndIsSupersededByPutsAndDeletes) {
  auto inv = [](int n, v1::InvocationState state) {
    v1::Invocation invocation;
    invocation.set_id(InvocationId(n));
    invocation.set_state(state);
    return std::make_shared<const v1::Invocation>(invocation);
  };
  WriteBatch batch;
  batch.PutInvocation(inv(1, v1::PENDING));       // its payload is kept by the updates: kept
  batch.UpdateInvocation(inv(1, v1::RUNNING));    // updated again below: dropped
  batch.UpdateInvocation(inv(2, v1::RUNNING));    // replaced by the put below: dropped
  batch.UpdateInvocation(inv(1, v1::SUCCEEDED));  // the last update of 1: kept
  batch.PutInvocation(inv(2, v1::PENDING));       // kept
  batch.UpdateInvocation(inv(3, v1::RUNNING));    // replaced by the delete: dropped
  batch.DeleteInvocation(InvocationId(3));        // kept
  batch.DropSupersededInvocationPuts();
  ASSERT_EQ(batch.size(), 4u);
  EXPECT_EQ(batch.ops()[0].kind, WriteBatch::Op::Kind::kPutInvocation);
  EXPECT_EQ(batch.ops()[0].invocation->state(), v1::PENDING);
  EXPECT_EQ(batch.ops()[1].kind, WriteBatch::Op::Kind::kUpdateInvocation);
  EXPECT_EQ(batch.ops()[1].invocation->state(), v1::SUCCEEDED);
  EXPECT_EQ(batch.ops()[2].kind, WriteBatch::Op::Kind::kPutInvocation);
  EXPECT_EQ(batch.ops()[2].invocation->id(), InvocationId(2));
  EXPECT_EQ(batch.ops()[3].kind, WriteBatch::Op::Kind::kDeleteInvocation);
}

// SyncRecordingStore forwards to another Store and records whether each
// Commit was synced and how often Sync was called. Thread-safe.
class SyncRecordingStore : public testing::ForwardingStore {
 public:
  explicit SyncRecordingStore(Store* inner) : ForwardingStore(inner) {}

  absl::Status Commit(const WriteBatch& batch) override {
    absl::MutexLock lock(&mu_);
    commit_syncs_.push_back(batch.sync());
    return inner()->Commit(batch);
  }
  absl::Status Sync() override {
    absl::MutexLock lock(&mu_);
    ++syncs_;
    return inner()->Sync();
  }
  std::vector<bool> commit_syncs() {
    absl::MutexLock lock(&mu_);
    return commit_syncs_;
  }
  // WaitForSyncs returns whether Sync was called `n` times before the
  // deadline.
  bool WaitForSyncs(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return syncs_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kDeadline);
  }

 private:
  absl::Mutex mu_;
  std::vector<bool> commit_syncs_ ABSL_GUARDED_BY(mu_);
  int syncs_ ABSL_GUARDED_BY(mu_) = 0;
};

WriteBatch UnsyncedBatchFor(int n) {
  WriteBatch batch = BatchFor(n);
  batch.set_sync(false);
  return batch;
}

TEST(GroupCommitterTest, UnsyncedWritesAreSyncedSoonAfterTheQueueRunsDry) {
  std::unique_ptr<Store> store = NewMemoryStore();
  SyncRecordingStore recording(store.get());
  const absl::Time start = absl::Now();  // the commit thread counts from its start
  GroupCommitter committer(&recording);
  ASSERT_TRUE(committer.CommitAndWait(UnsyncedBatchFor(1)).ok());
  EXPECT_THAT(recording.commit_syncs(), ElementsAre(false));
  EXPECT_EQ(committer.syncs(), 0u);
  // Nothing else comes: the commit thread syncs on its own.
  ASSERT_TRUE(recording.WaitForSyncs(1));
  EXPECT_GE(absl::Now() - start, GroupCommitter::kMaxSyncDelay);
}

TEST(GroupCommitterTest, ARoundWithOneSyncedBatchIsSynced) {
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get());
  SyncRecordingStore recording(&gated);
  Outcomes outcomes;
  GroupCommitter committer(&recording);
  committer.Submit(BatchFor(0), outcomes.Callback(0));
  ASSERT_TRUE(gated.WaitForFirstCommit());
  committer.Submit(UnsyncedBatchFor(1), outcomes.Callback(1));
  committer.Submit(BatchFor(2), outcomes.Callback(2));  // an acknowledgement
  committer.Submit(UnsyncedBatchFor(3), outcomes.Callback(3));
  gated.OpenGate();
  ASSERT_TRUE(outcomes.WaitFor(4));
  EXPECT_THAT(recording.commit_syncs(), ElementsAre(true, true));
  EXPECT_EQ(committer.syncs(), 2u);
}

TEST(GroupCommitterTest, AnEmptySyncedBatchSyncsWhatCameBefore) {
  std::unique_ptr<Store> store = NewMemoryStore();
  SyncRecordingStore recording(store.get());
  GroupCommitter committer(&recording);
  ASSERT_TRUE(committer.CommitAndWait(UnsyncedBatchFor(1)).ok());
  // A barrier: once it returns, what was committed before is synced.
  ASSERT_TRUE(committer.CommitAndWait(WriteBatch()).ok());
  EXPECT_THAT(recording.commit_syncs(), ElementsAre(false));
  EXPECT_TRUE(recording.WaitForSyncs(1));
}

TEST(GroupCommitterTest, CommitAndWaitFromManyThreads) {
  constexpr int kThreads = 16;
  constexpr int kBatchesPerThread = 20;
  std::unique_ptr<Store> store = NewMemoryStore();
  GroupCommitter committer(store.get());

  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kBatchesPerThread; ++i) {
        absl::Status status = committer.CommitAndWait(BatchFor(t * kBatchesPerThread + i));
        EXPECT_TRUE(status.ok()) << status;
      }
    });
  }
  for (std::thread& writer : writers) writer.join();

  for (int n = 0; n < kThreads * kBatchesPerThread; ++n) {
    EXPECT_TRUE(store->GetInvocation(InvocationId(n)).ok()) << n;
  }
  EXPECT_GE(committer.commits(), 1u);
  EXPECT_LE(committer.commits(), static_cast<uint64_t>(kThreads * kBatchesPerThread));
}

TEST(GroupCommitterTest, FailedCommitFailsEveryBatchInIt) {
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get(), absl::UnavailableError("disk gone"));
  Outcomes outcomes;
  GroupCommitter committer(&gated);

  committer.Submit(BatchFor(0), outcomes.Callback(0));
  ASSERT_TRUE(gated.WaitForFirstCommit());
  for (int n = 1; n <= 3; ++n) committer.Submit(BatchFor(n), outcomes.Callback(n));
  gated.OpenGate();

  ASSERT_TRUE(outcomes.WaitFor(4));
  std::map<int, absl::Status> statuses = outcomes.statuses();
  ASSERT_EQ(statuses.size(), 4u);
  for (const auto& [n, status] : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << n << ": " << status;
    EXPECT_FALSE(store->GetInvocation(InvocationId(n)).ok()) << n;
  }
  EXPECT_THAT(gated.commit_sizes(), ElementsAre(1u, 3u));
}

TEST(GroupCommitterTest, MalformedBatchFailsItsWholeRound) {
  HeldRound held;
  auto& [store, gated, outcomes, committer] = held;
  committer.Submit(BatchFor(1), outcomes.Callback(1));
  WriteBatch malformed;
  malformed.PutInvocation(v1::Invocation());  // no id
  committer.Submit(std::move(malformed), outcomes.Callback(2));
  gated.OpenGate();

  ASSERT_TRUE(outcomes.WaitFor(3));
  std::map<int, absl::Status> statuses = outcomes.statuses();
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument) << statuses[1];
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kInvalidArgument) << statuses[2];
  EXPECT_FALSE(store->GetInvocation(InvocationId(1)).ok());

  // The committer keeps working after a failed round.
  EXPECT_TRUE(committer.CommitAndWait(BatchFor(3)).ok());
  EXPECT_TRUE(store->GetInvocation(InvocationId(3)).ok());
}

TEST(GroupCommitterTest, DestructorCommitsPendingBatches) {
  constexpr int kBatches = 10;
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get());
  Outcomes outcomes;
  auto committer = std::make_unique<GroupCommitter>(&gated);

  committer->Submit(BatchFor(0), outcomes.Callback(0));
  ASSERT_TRUE(gated.WaitForFirstCommit());
  for (int n = 1; n < kBatches; ++n) committer->Submit(BatchFor(n), outcomes.Callback(n));
  // The destructor starts while batches 1.. wait behind the gate.
  std::thread opener([&] { gated.OpenGate(); });
  committer.reset();
  opener.join();

  EXPECT_EQ(outcomes.count(), kBatches);
  for (const auto& [n, status] : outcomes.statuses())
    EXPECT_TRUE(status.ok()) << n << ": " << status;
  for (int n = 0; n < kBatches; ++n) {
    EXPECT_TRUE(store->GetInvocation(InvocationId(n)).ok()) << n;
  }
}

TEST(GroupCommitterTest, DoneMaySubmitMore) {
  std::unique_ptr<Store> store = NewMemoryStore();
  Outcomes outcomes;
  GroupCommitter committer(store.get());

  committer.Submit(BatchFor(0), [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    committer.Submit(BatchFor(1), outcomes.Callback(1));
  });

  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_TRUE(outcomes.statuses()[1].ok());
  EXPECT_TRUE(store->GetInvocation(InvocationId(1)).ok());
}

TEST(GroupCommitterTest, CallbacksRunInOrderWhileLaterRoundsCommit) {
  std::unique_ptr<Store> store = NewMemoryStore();
  CountedStore counted(store.get());
  Outcomes outcomes;
  GroupCommitter committer(&counted);
  absl::Notification in_callback;
  absl::Notification release;
  committer.Submit(BatchFor(0), [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    in_callback.Notify();
    ASSERT_TRUE(release.WaitForNotificationWithTimeout(kDeadline));
  });
  ASSERT_TRUE(in_callback.WaitForNotificationWithTimeout(kDeadline));
  // Batch 0's callback holds the callback thread; batch 1 still commits.
  committer.Submit(BatchFor(1), outcomes.Callback(1));
  ASSERT_TRUE(counted.WaitForCommits(2)) << "a held callback held up a commit";
  EXPECT_TRUE(store->GetInvocation(InvocationId(1)).ok()) << "a held callback held up a commit";
  EXPECT_EQ(outcomes.count(), 0) << "a callback ran before an earlier batch's";
  release.Notify();
  ASSERT_TRUE(outcomes.WaitFor(1));
  EXPECT_TRUE(outcomes.statuses()[1].ok());
}

TEST(GroupCommitterTest, EmptyBatchSucceedsWithoutCommitting) {
  std::unique_ptr<Store> store = NewMemoryStore();
  GroupCommitter committer(store.get());

  EXPECT_TRUE(committer.CommitAndWait(WriteBatch()).ok());
  EXPECT_EQ(committer.commits(), 0u);
  EXPECT_TRUE(committer.CommitAndWait(BatchFor(0)).ok());
  EXPECT_EQ(committer.commits(), 1u);
}

// CounterValue returns the value of the unlabelled counter `name`, or -1.
double CounterValue(const prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name && family.metric.size() == 1) return family.metric[0].counter.value;
  }
  return -1;
}

// HistogramCount returns the sample count of the unlabelled histogram `name`.
uint64_t HistogramCount(const prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name && family.metric.size() == 1) {
      return family.metric[0].histogram.sample_count;
    }
  }
  return 0;
}

TEST(GroupCommitterTest, ProbeCountsCommitsAndMergedBatches) {
  constexpr int kQueued = 10;
  prometheus::Registry registry;
  StoreProbe probe(registry);
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get());
  Outcomes outcomes;
  {
    GroupCommitter committer(&gated, &probe);
    committer.Submit(BatchFor(0), outcomes.Callback(0));
    ASSERT_TRUE(gated.WaitForFirstCommit());
    for (int n = 1; n <= kQueued; ++n) committer.Submit(BatchFor(n), outcomes.Callback(n));
    gated.OpenGate();
    ASSERT_TRUE(outcomes.WaitFor(kQueued + 1)) << outcomes.count() << " done";
    // An empty batch commits nothing and is not counted.
    EXPECT_TRUE(committer.CommitAndWait(WriteBatch()).ok());
  }

  // Round one: batch 0 alone; round two: the kQueued batches queued behind it.
  EXPECT_EQ(CounterValue(registry, "sluice_store_commits_total"), 2);
  EXPECT_EQ(CounterValue(registry, "sluice_store_batches_total"), kQueued + 1);
  EXPECT_EQ(HistogramCount(registry, "sluice_store_commit_seconds"), 2u);
}

TEST(GroupCommitterTest, ProbeCountsFailedCommitsToo) {
  prometheus::Registry registry;
  StoreProbe probe(registry);
  std::unique_ptr<Store> store = NewMemoryStore();
  GatedStore gated(store.get(), absl::UnavailableError("disk gone"));
  gated.OpenGate();
  GroupCommitter committer(&gated, &probe);
  EXPECT_EQ(committer.CommitAndWait(BatchFor(1)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CounterValue(registry, "sluice_store_commits_total"), 1);
  EXPECT_EQ(CounterValue(registry, "sluice_store_batches_total"), 1);
}

TEST(GroupCommitterTest, NullProbeIsAllowed) {
  std::unique_ptr<Store> store = NewMemoryStore();
  GroupCommitter committer(store.get(), nullptr);
  EXPECT_TRUE(committer.CommitAndWait(BatchFor(1)).ok());
  EXPECT_EQ(committer.commits(), 1u);
}

// BusyCommitter is a committer with a commit delay over a gated memory
// store, after one synced round that merged kCommitSiblings synced batches
// (1..kCommitSiblings, held behind batch 0 at the gate): the next round
// that holds a synced batch waits for siblings.
struct BusyCommitter {
  // With `commit_time`, every commit takes that long, and the delay is at
  // most `delay_commits` times the synced commits' average (if not zero).
  explicit BusyCommitter(absl::Duration commit_delay, int delay_commits = 0,
                         absl::Duration commit_time = absl::ZeroDuration())
      : gated(WithCommitTime(store.get(), commit_time)),
        committer(gated.get(), nullptr, commit_delay, delay_commits) {
    committer.Submit(BatchFor(0), outcomes.Callback(0));
    EXPECT_TRUE(gated->WaitForFirstCommit());
    for (int n = 1; n <= kSiblings; ++n) committer.Submit(BatchFor(n), outcomes.Callback(n));
    gated->OpenGate();
    EXPECT_TRUE(outcomes.WaitFor(kSiblings + 1));
  }

  static std::unique_ptr<GatedStore> WithCommitTime(Store* store, absl::Duration commit_time) {
    auto gated = std::make_unique<GatedStore>(store);
    gated->set_commit_time(commit_time);
    return gated;
  }

  static constexpr int kSiblings = static_cast<int>(GroupCommitter::kCommitSiblings);
  std::unique_ptr<Store> store = NewMemoryStore();
  std::unique_ptr<GatedStore> gated;
  Outcomes outcomes;
  GroupCommitter committer;
};

TEST(GroupCommitterTest, ACommitDelayGathersTheCallersOfABusyRound) {
  constexpr int kSiblings = BusyCommitter::kSiblings;
  BusyCommitter busy(kDeadline);
  // A lone caller after the busy round waits (up to the delay, and while
  // callers keep coming within a lull, both longer than the test) until
  // more synced batches than that round's are queued.
  for (int n = kSiblings + 1; n <= 2 * kSiblings + 1; ++n) {
    busy.committer.Submit(BatchFor(n), busy.outcomes.Callback(n));
  }
  ASSERT_TRUE(busy.outcomes.WaitFor(2 * kSiblings + 2));
  EXPECT_THAT(busy.gated->commit_sizes(),
              ElementsAre(1u, size_t{kSiblings}, size_t{kSiblings} + 1));
  for (int n = 0; n <= 2 * kSiblings + 1; ++n) {
    EXPECT_TRUE(busy.store->GetInvocation(InvocationId(n)).ok()) << n;
  }
}

TEST(GroupCommitterTest, ACommitDelayEndsWhenItRunsOut) {
  constexpr int kSiblings = BusyCommitter::kSiblings;
  BusyCommitter busy(absl::Milliseconds(1));
  ASSERT_TRUE(busy.committer.CommitAndWait(BatchFor(kSiblings + 1)).ok());
  EXPECT_THAT(busy.gated->commit_sizes(), ElementsAre(1u, size_t{kSiblings}, 1u));
}

TEST(GroupCommitterTest, ACommitDelayEndsAtALull) {
  constexpr int kSiblings = BusyCommitter::kSiblings;
  constexpr absl::Duration kDelay = absl::Seconds(2);
  const absl::Duration kLull = kDelay / GroupCommitter::kLullsPerDelay;
  BusyCommitter busy(kDelay);
  // No other caller comes: the lone caller waits one lull, not the delay.
  const absl::Time start = absl::Now();
  ASSERT_TRUE(busy.committer.CommitAndWait(BatchFor(kSiblings + 1)).ok());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, kLull);
  EXPECT_LT(waited, kDelay);
  EXPECT_THAT(busy.gated->commit_sizes(), ElementsAre(1u, size_t{kSiblings}, 1u));
}

TEST(GroupCommitterTest, ACommitDelayIsBoundedByTheCommitsItSaves) {
  constexpr int kSiblings = BusyCommitter::kSiblings;
  constexpr absl::Duration kCommitTime = absl::Milliseconds(40);
  // The delay alone would wait a lull of kDeadline / kLullsPerDelay; twice
  // the commit time (and some) is far less.
  BusyCommitter busy(kDeadline, /*delay_commits=*/2, kCommitTime);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(busy.committer.CommitAndWait(BatchFor(kSiblings + 1)).ok());
  const absl::Duration waited = absl::Now() - start;
  // It still waited: a lull of the shorter delay, then the commit.
  EXPECT_GE(waited, kCommitTime + 2 * kCommitTime / GroupCommitter::kLullsPerDelay);
  EXPECT_LT(waited, kDeadline / GroupCommitter::kLullsPerDelay / 4);
  EXPECT_THAT(busy.gated->commit_sizes(), ElementsAre(1u, size_t{kSiblings}, 1u));
}

TEST(GroupCommitterTest, ACommitDelayNeverHoldsALoneCaller) {
  std::unique_ptr<Store> store = NewMemoryStore();
  GroupCommitter committer(store.get(), nullptr, kDeadline);
  const absl::Time start = absl::Now();
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(committer.CommitAndWait(BatchFor(n)).ok());
  // Held, the first wait alone would take kDeadline.
  EXPECT_LT(absl::Now() - start, kDeadline / 2);
}

TEST(GroupCommitterTest, UnsyncedWritesDoNotWaitForACommitDelay) {
  constexpr int kSiblings = BusyCommitter::kSiblings;
  BusyCommitter busy(kDeadline);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(busy.committer.CommitAndWait(UnsyncedBatchFor(kSiblings + 1)).ok());
  EXPECT_LT(absl::Now() - start, kDeadline / 2);
  EXPECT_THAT(busy.gated->commit_sizes(), ElementsAre(1u, size_t{kSiblings}, 1u));
}

}  // namespace
}  // namespace sluice
