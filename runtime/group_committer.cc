// GroupCommitter: one commit thread, one Store::Commit per round.
#include "runtime/group_committer.h"

#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "monitoring/store_probe.h"

namespace sluice {

GroupCommitter::GroupCommitter(Store* store) : GroupCommitter(store, nullptr) {}

GroupCommitter::GroupCommitter(Store* store, StoreProbe* probe)
    : store_(store), probe_(probe), thread_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void GroupCommitter::Submit(WriteBatch batch, absl::AnyInvocable<void(absl::Status)> done) {
  absl::MutexLock lock(&mu_);
  pending_.push_back(Pending{std::move(batch), std::move(done)});
}

absl::Status GroupCommitter::CommitAndWait(WriteBatch batch) {
  absl::Notification committed;
  absl::Status result;
  Submit(std::move(batch), [&](absl::Status status) {
    result = std::move(status);
    committed.Notify();
  });
  committed.WaitForNotification();
  return result;
}

void GroupCommitter::Run() {
  last_sync_ = absl::Now();
  for (;;) {
    std::vector<Pending> round;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      if (unsynced_) {
        // Unsynced writes wait for a round that syncs, at most kMaxSyncDelay.
        mu_.AwaitWithDeadline(absl::Condition(this, &GroupCommitter::HasWorkOrStopping),
                              last_sync_ + kMaxSyncDelay);
      } else {
        mu_.Await(absl::Condition(this, &GroupCommitter::HasWorkOrStopping));
      }
      round.swap(pending_);
      stopping = stopping_;
    }
    if (round.empty()) {
      if (unsynced_) SyncNow();
      if (stopping) return;  // everything is committed and synced
      continue;
    }
    WriteBatch merged;
    merged.set_sync(false);
    for (Pending& pending : round) merged.Append(std::move(pending.batch));
    merged.DropSupersededInvocationPuts();
    if (unsynced_ && absl::Now() - last_sync_ >= kMaxSyncDelay) merged.set_sync(true);
    absl::Status status;
    if (!merged.empty()) {
      // Measured with the real clock: this is the latency of the write, not
      // a time the engine reasons about.
      const absl::Time start = absl::Now();
      status = store_->Commit(merged);
      const absl::Time end = absl::Now();
      if (probe_ != nullptr) probe_->OnCommit(end - start, round.size(), merged.sync());
      commits_.fetch_add(1, std::memory_order_relaxed);
      if (status.ok() && merged.sync()) {
        syncs_.fetch_add(1, std::memory_order_relaxed);
        unsynced_ = false;
        last_sync_ = end;
      } else if (status.ok()) {
        unsynced_ = true;
      }
    } else if (merged.sync() && unsynced_) {
      SyncNow();  // an empty batch that asks for a sync (a barrier)
    }
    for (Pending& pending : round) std::move(pending.done)(status);
  }
}

void GroupCommitter::SyncNow() {
  const absl::Time start = absl::Now();
  absl::Status status = store_->Sync();
  const absl::Time end = absl::Now();
  if (!status.ok()) {
    // The writes are in the log still; the next round tries again.
    last_sync_ = end;
    return;
  }
  if (probe_ != nullptr) probe_->OnSync(end - start);
  syncs_.fetch_add(1, std::memory_order_relaxed);
  unsynced_ = false;
  last_sync_ = end;
}

}  // namespace sluice
