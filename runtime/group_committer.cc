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
  for (;;) {
    std::vector<Pending> round;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &GroupCommitter::HasWorkOrStopping));
      if (pending_.empty()) return;  // stopping_, and everything is committed
      round.swap(pending_);
    }
    WriteBatch merged;
    for (Pending& pending : round) merged.Append(std::move(pending.batch));
    merged.DropSupersededInvocationPuts();
    absl::Status status;
    if (!merged.empty()) {
      // Measured with the real clock: this is the latency of the write, not
      // a time the engine reasons about.
      const absl::Time start = absl::Now();
      status = store_->Commit(merged);
      if (probe_ != nullptr) probe_->OnCommit(absl::Now() - start, round.size());
      commits_.fetch_add(1, std::memory_order_relaxed);
    }
    for (Pending& pending : round) std::move(pending.done)(status);
  }
}

}  // namespace sluice
