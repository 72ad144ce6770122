// RetentionCollector: deletes finished background invocations once they are
// older than the retention TTL, so that the store does not grow forever.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/clock.h"
#include "runtime/group_committer.h"
#include "runtime/store.h"

namespace sluice {

class StoreProbe;

// RetentionCollector deletes terminal invocations (SUCCEEDED, FAILED,
// CANCELLED) whose updated_at + ttl <= now, each together with its
// idempotency key mapping when that mapping still names it. PENDING and
// RUNNING invocations are never deleted, however old.
//
// Scanning. Ids sort by creation time and updated_at >= created_at, so a
// scan in id order (oldest first) stops at the first invocation created
// after now - ttl: nothing from there on can be expired. A resume cursor
// remembers where the scan stopped, so each call reads only what expired
// since the last one (plus at most a page of younger invocations). The scan
// must skip invocations that are old but cannot go yet: unfinished ones, and
// finished ones updated recently (e.g. redriven). Those are looked at again
// by a revisit: once the scan has caught up with now - ttl and at least
// `revisit_interval` has passed since the last revisit began, the cursor
// goes back to just before the oldest invocation skipped since then
// (everything before it was deleted). So an expired invocation is deleted
// within ttl + revisit_interval of its last update (given calls often enough
// and max_deletes large enough), and the skipped ones are re-read once per
// revisit_interval, not on every call. This relies on new invocations getting
// ids after those of invocations created before now - ttl, which holds unless
// the clock steps back by more than the TTL; an invocation created behind the
// cursor by such a step is found by the first revisit after it, if it comes
// after the oldest skipped id, else when the collector is recreated.
//
// Idempotency keys. The mapping is read, and deleted in the same commit as
// the invocation only if it names the invocation. A mapping re-pointed
// between that read and the commit would be lost; this cannot happen as long
// as keys are only re-pointed after the invocation they name has gone.
//
// Thread-compatible: call from one thread (a maintenance thread). The Store,
// GroupCommitter, Clock and StoreProbe are not owned and must outlive the
// collector.
class RetentionCollector {
 public:
  struct Options {
    // How long a finished invocation is kept after its last update. > 0.
    absl::Duration ttl = absl::Hours(24 * 7);
    // Invocations read per ScanInvocations call. > 0.
    size_t page_size = 256;
    // Deletions per GroupCommitter commit. > 0.
    size_t batch_size = 128;
    // Invocations looked at per CollectOnce call, deleted or not, so that one
    // call stays short even when many old invocations must be skipped. > 0.
    size_t max_examined = 10000;
    // Least time between revisits of skipped invocations (see above).
    absl::Duration revisit_interval = absl::Hours(1);
  };

  // `probe` may be null.
  RetentionCollector(Store* store, GroupCommitter* committer, Clock* clock, Options options,
                     StoreProbe* probe = nullptr);
  // Same as above with default options but `ttl`, and a revisit interval
  // no longer than the ttl (so a short ttl is honoured within about 2 ttl).
  RetentionCollector(Store* store, GroupCommitter* committer, Clock* clock, absl::Duration ttl,
                     StoreProbe* probe = nullptr);

  RetentionCollector(const RetentionCollector&) = delete;
  RetentionCollector& operator=(const RetentionCollector&) = delete;

  // CollectOnce deletes up to `max_deletes` expired invocations as of `now`,
  // continuing where the previous call stopped, and returns how many it
  // deleted. Fewer than `max_deletes` (even 0) does not mean nothing is left:
  // a call also ends after max_examined invocations, and skipped invocations
  // wait for the next revisit. `now` should not go back between calls.
  // Errors come from the store or the commit; what was committed before an
  // error stays deleted, and the next call resumes safely.
  absl::StatusOr<size_t> CollectOnce(absl::Time now, size_t max_deletes);
  // CollectOnce as of the clock's now.
  absl::StatusOr<size_t> CollectOnce(size_t max_deletes);

  const Options& options() const { return options_; }

 private:
  // Commit deletes `batch` (holding `count` invocations) and reports them.
  absl::Status Commit(WriteBatch batch, size_t count);
  // CaughtUp is called when the scan reached an invocation created after
  // now - ttl or the end of the store. It starts a revisit, and returns true,
  // when one is due.
  bool CaughtUp(absl::Time now);

  // Constant after construction.
  Store* const store_;
  GroupCommitter* const committer_;
  Clock* const clock_;
  StoreProbe* const probe_;
  const Options options_;

  // The scan resumes after this id (empty: from the oldest).
  std::string cursor_;
  // When an invocation was skipped since the last revisit began: the cursor
  // from which the next revisit starts, to see the oldest skipped one again.
  std::optional<std::string> revisit_from_;
  // When the last revisit (or the first call) began; nullopt before the
  // first call.
  std::optional<absl::Time> revisit_began_;
};

}  // namespace sluice
