// RetentionCollector: a resumable scan in id order that deletes in batches
// and revisits skipped invocations now and then.
#include "runtime/retention.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "monitoring/store_probe.h"
#include "runtime/proto_time.h"

namespace sluice {
namespace {

bool IsTerminal(v1::InvocationState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

}  // namespace

RetentionCollector::RetentionCollector(Store* store, GroupCommitter* committer, Clock* clock,
                                       Options options, StoreProbe* probe)
    : store_(store),
      committer_(committer),
      clock_(clock),
      probe_(probe),
      options_(std::move(options)) {}

RetentionCollector::RetentionCollector(Store* store, GroupCommitter* committer, Clock* clock,
                                       absl::Duration ttl, StoreProbe* probe)
    : RetentionCollector(
          store, committer, clock,
          Options{.ttl = ttl, .revisit_interval = std::min(Options().revisit_interval, ttl)},
          probe) {}

absl::StatusOr<size_t> RetentionCollector::CollectOnce(size_t max_deletes) {
  return CollectOnce(clock_->Now(), max_deletes);
}

absl::StatusOr<size_t> RetentionCollector::CollectOnce(absl::Time now, size_t max_deletes) {
  const absl::Time cutoff = now - options_.ttl;
  const size_t page_size = std::max<size_t>(options_.page_size, 1);
  const size_t batch_size = std::max<size_t>(options_.batch_size, 1);
  size_t deleted = 0;
  size_t examined = 0;
  WriteBatch batch;
  size_t in_batch = 0;
  // The scan state when `batch` was begun. The cursor passes an invocation
  // as soon as it is put in the batch, so an error before the batch is
  // committed puts the state back: the next call looks at them again.
  std::string batch_cursor = cursor_;
  if (!revisit_began_.has_value()) revisit_began_ = now;
  std::optional<std::string> batch_revisit_from = revisit_from_;
  absl::Time batch_revisit_began = *revisit_began_;
  auto fail = [&](absl::Status status) {
    cursor_ = std::move(batch_cursor);
    revisit_from_ = std::move(batch_revisit_from);
    revisit_began_ = batch_revisit_began;
    return status;
  };
  bool revisited = false;  // at most one revisit per call: no endless loop
  while (deleted + in_batch < max_deletes && examined < options_.max_examined) {
    absl::StatusOr<std::vector<v1::Invocation>> page = store_->ScanInvocations(cursor_, page_size);
    if (!page.ok()) return fail(page.status());
    bool caught_up = page->empty();  // the end of the store
    for (const v1::Invocation& invocation : *page) {
      if (deleted + in_batch >= max_deletes || examined >= options_.max_examined) break;
      // This and every later invocation is too young to have expired.
      if (FromProtoTime(invocation.created_at()) > cutoff) {
        caught_up = true;
        break;
      }
      ++examined;
      const absl::Time last_update =
          std::max(FromProtoTime(invocation.updated_at()), FromProtoTime(invocation.created_at()));
      if (IsTerminal(invocation.state()) && last_update <= cutoff) {
        batch.DeleteInvocation(invocation.id());
        if (!invocation.idempotency_key().empty() && !invocation.function().empty() &&
            invocation.function().find('/') == std::string::npos) {
          absl::StatusOr<std::string> mapped =
              store_->GetIdempotencyKey(invocation.function(), invocation.idempotency_key());
          if (mapped.ok() && *mapped == invocation.id()) {
            batch.DeleteIdempotencyKey(invocation.function(), invocation.idempotency_key());
          } else if (!mapped.ok() && !absl::IsNotFound(mapped.status())) {
            return fail(mapped.status());
          }
        }
        ++in_batch;
      } else if (!revisit_from_.has_value()) {
        // The next revisit resumes just before this, the oldest skipped one.
        revisit_from_ = cursor_;
      }
      cursor_ = invocation.id();
      if (in_batch >= batch_size) {
        if (absl::Status status = Commit(std::move(batch), in_batch); !status.ok()) {
          return fail(std::move(status));
        }
        deleted += in_batch;
        batch = WriteBatch();
        in_batch = 0;
        batch_cursor = cursor_;
        batch_revisit_from = revisit_from_;
        batch_revisit_began = *revisit_began_;
      }
    }
    if (caught_up) {
      if (revisited || !CaughtUp(now)) break;
      revisited = true;
    }
  }
  if (in_batch > 0) {
    if (absl::Status status = Commit(std::move(batch), in_batch); !status.ok()) {
      return fail(std::move(status));
    }
    deleted += in_batch;
  }
  return deleted;
}

absl::Status RetentionCollector::Commit(WriteBatch batch, size_t count) {
  absl::Status status = committer_->CommitAndWait(std::move(batch));
  if (status.ok() && probe_ != nullptr) probe_->OnRetentionDeleted(count);
  return status;
}

bool RetentionCollector::CaughtUp(absl::Time now) {
  if (!revisit_from_.has_value() || now - *revisit_began_ < options_.revisit_interval) {
    // Resume here next time; the skipped ones wait for the revisit.
    return false;
  }
  cursor_ = *std::move(revisit_from_);
  revisit_from_.reset();
  revisit_began_ = now;
  return true;
}

}  // namespace sluice
