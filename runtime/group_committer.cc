// GroupCommitter: one commit thread, one Store::Commit per round.
#include "runtime/group_committer.h"

#include <utility>

#include "absl/synchronization/notification.h"

namespace sluice {

GroupCommitter::GroupCommitter(Store* store) : store_(store), thread_([this] { Run(); }) {}

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
    absl::Status status;
    if (!merged.empty()) {
      status = store_->Commit(merged);
      commits_.fetch_add(1, std::memory_order_relaxed);
    }
    for (Pending& pending : round) std::move(pending.done)(status);
  }
}

}  // namespace sluice
