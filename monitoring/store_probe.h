// StoreProbe: the metrics of the durable store: group commits and retention.
//
// Business logic (GroupCommitter, RetentionCollector) reports events to the
// probe; only the probe touches prometheus-cpp. The series carry no labels.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace sluice {

// StoreProbe is thread-safe. The registry must outlive it; the series stay in
// the registry after the probe is destroyed. Negative durations count as zero.
class StoreProbe {
 public:
  // Registers the families in `registry`. Precondition: `registry` holds no
  // family of the same name and another type; a registry with
  // InsertBehavior::Merge (the default) may be shared by several probes,
  // whose events then add up.
  explicit StoreProbe(prometheus::Registry& registry);
  ~StoreProbe();
  StoreProbe(const StoreProbe&) = delete;
  StoreProbe& operator=(const StoreProbe&) = delete;

  // One Store::Commit merged `batches` submitted batches and took
  // `duration`, whether it succeeded or not; `synced` when it waited for the
  // disk (sluice_store_commit_seconds observed, sluice_store_commits_total
  // +1, sluice_store_batches_total +batches, sluice_store_syncs_total +1 if
  // synced). batches_total / commits_total is the group-commit factor.
  void OnCommit(absl::Duration duration, size_t batches, bool synced);
  // One Store::Sync of writes committed without a sync took `duration`
  // (sluice_store_syncs_total +1).
  void OnSync(absl::Duration duration);
  // Retention deleted `count` finished invocations
  // (sluice_retention_deleted_total +count).
  void OnRetentionDeleted(size_t count);

 private:
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace sluice
