// GroupCommitter: one commit thread, one Store::Commit per round.
#include "runtime/group_committer.h"

#include <algorithm>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "monitoring/store_probe.h"
#include "runtime/thread_name.h"

namespace sluice {

GroupCommitter::GroupCommitter(Store* store) : GroupCommitter(store, nullptr) {}

GroupCommitter::GroupCommitter(Store* store, StoreProbe* probe)
    : GroupCommitter(store, probe, absl::ZeroDuration()) {}

GroupCommitter::GroupCommitter(Store* store, StoreProbe* probe, absl::Duration commit_delay,
                               int delay_commits)
    : store_(store),
      probe_(probe),
      commit_delay_(commit_delay),
      delay_commits_(delay_commits),
      callback_thread_([this] {
        NameThisThread("sluice-commitcb");
        RunCallbacks();
      }),
      thread_([this] {
        NameThisThread("sluice-commit");
        Run();
      }) {}

GroupCommitter::~GroupCommitter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  callback_thread_.join();
}

void GroupCommitter::Submit(WriteBatch batch, absl::AnyInvocable<void(absl::Status)> done) {
  absl::MutexLock lock(&mu_);
  if (batch.sync()) ++pending_synced_;
  pending_.push_back(Pending{std::move(batch), std::move(done)});
}

size_t GroupCommitter::queued() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
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
    size_t synced_batches = 0;  // in round
    bool ending = false;
    {
      absl::MutexLock lock(&mu_);
      if (unsynced_) {
        // Unsynced writes wait for a round that syncs, at most kMaxSyncDelay.
        mu_.AwaitWithDeadline(absl::Condition(this, &GroupCommitter::HasWorkOrStopping),
                              last_sync_ + kMaxSyncDelay);
      } else {
        mu_.Await(absl::Condition(this, &GroupCommitter::HasWorkOrStopping));
      }
      if (pending_synced_ > 0 && commit_delay_ > absl::ZeroDuration() &&
          synced_in_last_round_ >= kCommitSiblings) {
        AwaitSiblings();
      }
      if (!pending_.empty()) {
        // The round is taken once the callbacks have room for it: the
        // longer it waits, the more it merges.
        mu_.Await(absl::Condition(this, &GroupCommitter::CallbacksHaveRoom));
      }
      round.swap(pending_);
      synced_batches = pending_synced_;
      pending_synced_ = 0;
      // Stopping, and every callback ran: none can submit more.
      ending = round.empty() && HasWorkOrStopping();
    }
    if (round.empty()) {
      if (unsynced_) SyncNow();
      if (ending) {
        absl::MutexLock lock(&mu_);
        commit_thread_ended_ = true;
        return;
      }
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
        const absl::Duration took = end - start;
        synced_commit_average_ = synced_commit_average_ == absl::ZeroDuration()
                                     ? took
                                     : (synced_commit_average_ * 3 + took) / 4;
        syncs_.fetch_add(1, std::memory_order_relaxed);
        unsynced_ = false;
        last_sync_ = end;
      } else if (status.ok()) {
        unsynced_ = true;
      }
    } else if (merged.sync() && unsynced_) {
      SyncNow();  // an empty batch that asks for a sync (a barrier)
    }
    absl::MutexLock lock(&mu_);
    if (merged.sync()) synced_in_last_round_ = synced_batches;
    committed_.push_back(Committed{std::move(round), std::move(status)});
  }
}

absl::Duration GroupCommitter::CommitDelay() const {
  if (delay_commits_ <= 0 || synced_commit_average_ == absl::ZeroDuration()) return commit_delay_;
  return std::min(commit_delay_, synced_commit_average_ * delay_commits_);
}

void GroupCommitter::AwaitSiblings() {
  const absl::Duration delay = CommitDelay();
  const absl::Time deadline = absl::Now() + delay;
  const absl::Duration lull = delay / kLullsPerDelay;
  for (;;) {
    if (SiblingsQueuedOrStopping()) return;
    const absl::Time now = absl::Now();
    if (now >= deadline) return;
    synced_seen_ = pending_synced_;
    if (!mu_.AwaitWithDeadline(absl::Condition(this, &GroupCommitter::CallerArrivedOrStopping),
                               std::min(deadline, now + lull))) {
      return;  // a lull, or the delay ran out
    }
  }
}

void GroupCommitter::RunCallbacks() {
  for (;;) {
    Committed next;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &GroupCommitter::HasCallbacksOrEnded));
      if (committed_.empty()) return;  // the commit thread ended
      next = std::move(committed_.front());
      committed_.pop_front();
      running_callbacks_ = true;
    }
    for (Pending& pending : next.round) std::move(pending.done)(next.status);
    next.round.clear();  // destroy the batches and callbacks outside the lock
    absl::MutexLock lock(&mu_);
    running_callbacks_ = false;
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
