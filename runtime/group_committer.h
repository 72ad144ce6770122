// GroupCommitter: group commit in front of a Store, so that writers arriving
// together share one durable sync instead of paying for one each.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/store.h"

namespace sluice {

class StoreProbe;

// GroupCommitter queues write batches and commits them from one dedicated
// thread: each round takes every batch queued so far, merges them in
// submission order into one WriteBatch (where a later write of an
// invocation replaces an earlier one, only the later is kept: see
// WriteBatch::DropSupersededInvocationPuts) and calls Store::Commit once. Every
// batch of a round gets that commit's status, so one failed commit (for
// example one malformed write) fails every batch merged with it.
//
// The batches' callbacks run on a second thread, the callback thread, one
// round after another in submission order, while the commit thread goes on
// with the next round: a round's sync overlaps the previous round's
// callbacks (in a busy server, answering the callers of the round). At most
// kMaxRoundsAwaitingCallbacks committed rounds wait for their callbacks; the
// commit thread waits for the callback thread beyond that.
//
// A round is synced to disk when any of its batches asks for it
// (WriteBatch::sync, the default), or when writes committed without a sync
// have waited kMaxSyncDelay; when the queue runs dry with such writes
// waiting, the commit thread syncs them (Store::Sync) after at most
// kMaxSyncDelay. So an unsynced write survives a crash of the machine at
// most kMaxSyncDelay (plus one commit) after it was committed.
//
// With a commit delay (off unless given to the constructor), a round that
// holds a synced batch, after a synced round that merged at least
// kCommitSiblings synced batches (many callers waiting on the disk at once),
// waits before it is written while callers keep coming: until more synced
// batches are queued than that round merged, or until none arrived for a
// lull (the delay / kLullsPerDelay: every caller that was coming has come),
// or at most the delay. One sync then serves the callers that arrive
// meanwhile, as PostgreSQL's commit_delay and commit_siblings do. Asking for
// one more than the last round lets rounds grow under a steady load until
// the delay bounds them; when a fixed number of callers are all queued, the
// wait ends one lull later. A lone caller never waits. The delay may also be
// bounded by the disk: at most a given number of times the average duration
// of the recent synced commits. A wait much longer than the commit it saves
// costs the callers more than the commit would, so on a disk that syncs fast
// the wait shrinks with the commit.
//
// Thread-safe. The Store (and the StoreProbe, if any) is not owned and must
// outlive the GroupCommitter.
//
// Example:
//   GroupCommitter committer(store);
//   WriteBatch batch;
//   batch.PutInvocation(invocation);
//   committer.Submit(std::move(batch), [](absl::Status status) { ... });
class GroupCommitter {
 public:
  static constexpr absl::Duration kMaxSyncDelay = absl::Milliseconds(100);
  static constexpr size_t kMaxRoundsAwaitingCallbacks = 1;
  static constexpr size_t kCommitSiblings = 8;
  // A commit delay ends at a lull: when no synced batch arrived for the
  // delay / kLullsPerDelay.
  static constexpr int kLullsPerDelay = 4;
  // The commit delay the server uses: at most 2 ms more latency for an
  // acknowledgement, and only under load, while callers keep coming (a lull
  // is 0.5 ms). At concurrency 64 it takes an fsync from 17–19 callers to
  // 20–22 at about the same throughput, and at 16 from 5–6 to 6–8.
  static constexpr absl::Duration kServingCommitDelay = absl::Microseconds(2000);
  // ... and at most twice the recent synced commits' duration. Where a
  // busy round's synced commit takes about 0.5 ms, that still gives 25–29
  // callers an fsync at concurrency 64 (31–38 with the 2 ms), and answers
  // 10% more of them per second; at concurrency 16, 27% more.
  static constexpr int kServingDelayCommits = 2;

  explicit GroupCommitter(Store* store);
  // As above, and reports every Store::Commit (its duration and how many
  // batches it merged) to `probe`, which may be null.
  GroupCommitter(Store* store, StoreProbe* probe);
  // As above, with a commit delay (see the class comment); zero turns it off.
  // With `delay_commits` > 0, a wait is also at most `delay_commits` times
  // the average duration of the recent synced commits.
  GroupCommitter(Store* store, StoreProbe* probe, absl::Duration commit_delay,
                 int delay_commits = 0);
  // ~GroupCommitter commits every batch submitted before it began (and any
  // that their callbacks submit), runs their callbacks, and joins both
  // threads. Submitting concurrently with the destructor from other threads
  // is not allowed.
  ~GroupCommitter();

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Submit queues `batch` and returns at once, without waiting for I/O.
  // `done` is called exactly once, on the callback thread and with no lock
  // held, with OK once the batch is committed (durable as batch.sync()
  // asks, see Store::Commit) or with the commit's error. Callbacks run in
  // submission order, each after every earlier batch's. `done` should be
  // quick, as later callbacks wait for it; it may call Submit but must not
  // call CommitAndWait.
  void Submit(WriteBatch batch, absl::AnyInvocable<void(absl::Status)> done);

  // CommitAndWait submits `batch` and blocks until it is committed and the
  // callbacks of every batch submitted before it ran; it returns the
  // commit's status. Must not be called on the callback thread (that is,
  // from a `done` callback).
  absl::Status CommitAndWait(WriteBatch batch);

  // commits returns how many times Store::Commit has been called.
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  // syncs returns how many commits were synced, plus the Store::Sync calls.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // queued returns how many submitted batches wait for a round.
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    WriteBatch batch;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  // A committed round whose callbacks have not run yet.
  struct Committed {
    std::vector<Pending> round;
    absl::Status status;
  };

  // Run is the commit thread: one round per wake-up, until stopping_ and
  // nothing is pending, committed or running its callbacks.
  void Run();
  // RunCallbacks is the callback thread: runs committed rounds' callbacks
  // until the commit thread has ended and none are left.
  void RunCallbacks();
  // SyncNow syncs what was committed without a sync (Store::Sync).
  void SyncNow();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pending_.empty() || (stopping_ && committed_.empty() && !running_callbacks_);
  }
  // AwaitSiblings is the commit delay's wait (see the class comment).
  void AwaitSiblings() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CommitDelay is how long AwaitSiblings may wait in all.
  absl::Duration CommitDelay() const;
  bool SiblingsQueuedOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || pending_synced_ > synced_in_last_round_;
  }
  bool CallerArrivedOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || pending_synced_ != synced_seen_;
  }
  bool CallbacksHaveRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return committed_.size() < kMaxRoundsAwaitingCallbacks;
  }
  bool HasCallbacksOrEnded() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !committed_.empty() || commit_thread_ended_;
  }

  // Constant after construction.
  Store* const store_;
  StoreProbe* const probe_;  // may be null
  const absl::Duration commit_delay_;
  const int delay_commits_;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> syncs_{0};

  // Used by the commit thread only.
  bool unsynced_ = false;  // writes committed since the last sync
  absl::Time last_sync_;   // when the last sync returned
  // A moving average of the synced commits' durations; zero before the
  // first. Read by AwaitSiblings, which runs on the commit thread.
  absl::Duration synced_commit_average_;

  mutable absl::Mutex mu_;
  // Batches submitted and not yet taken by a round, in submission order.
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // How many of pending_ ask for a sync.
  size_t pending_synced_ ABSL_GUARDED_BY(mu_) = 0;
  // How many synced batches the last synced round merged.
  size_t synced_in_last_round_ ABSL_GUARDED_BY(mu_) = 0;
  // pending_synced_ when AwaitSiblings last looked.
  size_t synced_seen_ ABSL_GUARDED_BY(mu_) = 0;
  // Committed rounds waiting for the callback thread, oldest first.
  std::deque<Committed> committed_ ABSL_GUARDED_BY(mu_);
  // The callback thread is running a round it took from committed_.
  bool running_callbacks_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the destructor.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the commit thread returns; the callback thread then ends too.
  bool commit_thread_ended_ ABSL_GUARDED_BY(mu_) = false;

  // Last members: started once everything above is initialized.
  std::thread callback_thread_;
  std::thread thread_;
};

}  // namespace sluice
