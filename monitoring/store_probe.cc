// StoreProbe implementation: five unlabelled series, each resolved once at
// construction so that events take no family lock.
#include "monitoring/store_probe.h"

#include <algorithm>

#include "monitoring/buckets.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace sluice {

// The series; owned by the registry, which keeps them at one address.
struct StoreProbe::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : commit_seconds(prometheus::BuildHistogram()
                           .Name("sluice_store_commit_seconds")
                           .Help("Time of each commit to the store, one per group commit.")
                           .Register(registry)
                           .Add({}, LatencyBuckets())),
        commits(prometheus::BuildCounter()
                    .Name("sluice_store_commits_total")
                    .Help("Commits to the store, one per group commit.")
                    .Register(registry)
                    .Add({})),
        syncs(prometheus::BuildCounter()
                  .Name("sluice_store_syncs_total")
                  .Help("Times the store waited for the disk (fsync): synced commits, which "
                        "every acknowledgement waits for, and syncs of state changes "
                        "committed without one.")
                  .Register(registry)
                  .Add({})),
        batches(prometheus::BuildCounter()
                    .Name("sluice_store_batches_total")
                    .Help("Write batches merged into store commits; divided by "
                          "sluice_store_commits_total, the group-commit factor.")
                    .Register(registry)
                    .Add({})),
        retention_deleted(prometheus::BuildCounter()
                              .Name("sluice_retention_deleted_total")
                              .Help("Finished invocations deleted by retention after their TTL.")
                              .Register(registry)
                              .Add({})) {}

  prometheus::Histogram& commit_seconds;
  prometheus::Counter& commits;
  prometheus::Counter& syncs;
  prometheus::Counter& batches;
  prometheus::Counter& retention_deleted;
};

StoreProbe::StoreProbe(prometheus::Registry& registry)
    : metrics_(std::make_unique<Metrics>(registry)) {}

StoreProbe::~StoreProbe() = default;

void StoreProbe::OnCommit(absl::Duration duration, size_t batches, bool synced) {
  metrics_->commit_seconds.Observe(absl::ToDoubleSeconds(std::max(duration, absl::ZeroDuration())));
  metrics_->commits.Increment();
  metrics_->batches.Increment(static_cast<double>(batches));
  if (synced) metrics_->syncs.Increment();
}

void StoreProbe::OnSync(absl::Duration) { metrics_->syncs.Increment(); }

void StoreProbe::OnRetentionDeleted(size_t count) {
  if (count > 0) metrics_->retention_deleted.Increment(static_cast<double>(count));
}

}  // namespace sluice
