// Tests of StoreProbe, read back through Registry::Collect().
#include "monitoring/store_probe.h"

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace sluice {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The only series of family `name`, checked to be of `type` and unlabelled;
// nullopt when the family is absent.
std::optional<ClientMetric> Series(const prometheus::Registry& registry, const std::string& name,
                                   MetricType type) {
  for (const MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    EXPECT_EQ(family.type, type) << name;
    EXPECT_EQ(family.metric.size(), 1u) << name;
    if (family.metric.empty()) return std::nullopt;
    EXPECT_TRUE(family.metric[0].label.empty()) << name;
    return family.metric[0];
  }
  return std::nullopt;
}

double Counter(const prometheus::Registry& registry, const std::string& name) {
  std::optional<ClientMetric> series = Series(registry, name, MetricType::Counter);
  EXPECT_TRUE(series.has_value()) << name;
  return series ? series->counter.value : -1;
}

TEST(StoreProbeTest, SeriesExistAtZeroBeforeAnyEvent) {
  prometheus::Registry registry;
  StoreProbe probe(registry);
  EXPECT_EQ(Counter(registry, "sluice_store_commits_total"), 0);
  EXPECT_EQ(Counter(registry, "sluice_store_syncs_total"), 0);
  EXPECT_EQ(Counter(registry, "sluice_store_batches_total"), 0);
  EXPECT_EQ(Counter(registry, "sluice_retention_deleted_total"), 0);
  std::optional<ClientMetric> histogram =
      Series(registry, "sluice_store_commit_seconds", MetricType::Histogram);
  ASSERT_TRUE(histogram.has_value());
  EXPECT_EQ(histogram->histogram.sample_count, 0u);
}

TEST(StoreProbeTest, CommitsCountFsyncsBatchesAndLatency) {
  prometheus::Registry registry;
  StoreProbe probe(registry);
  probe.OnCommit(absl::Milliseconds(2), 5, /*synced=*/true);
  probe.OnCommit(absl::Milliseconds(3), 1, /*synced=*/false);
  probe.OnCommit(-absl::Seconds(1), 2, /*synced=*/true);  // a clock stepped back counts as zero
  probe.OnSync(absl::Milliseconds(1));

  EXPECT_EQ(Counter(registry, "sluice_store_commits_total"), 3);
  EXPECT_EQ(Counter(registry, "sluice_store_syncs_total"), 3);  // two synced commits, one sync
  EXPECT_EQ(Counter(registry, "sluice_store_batches_total"), 8);
  std::optional<ClientMetric> histogram =
      Series(registry, "sluice_store_commit_seconds", MetricType::Histogram);
  ASSERT_TRUE(histogram.has_value());
  EXPECT_EQ(histogram->histogram.sample_count, 3u);
  EXPECT_NEAR(histogram->histogram.sample_sum, 0.005, 1e-9);
  // The zero sample falls into the smallest bucket.
  ASSERT_FALSE(histogram->histogram.bucket.empty());
  EXPECT_EQ(histogram->histogram.bucket.front().cumulative_count, 1u);
}

TEST(StoreProbeTest, RetentionDeletesAddUp) {
  prometheus::Registry registry;
  StoreProbe probe(registry);
  probe.OnRetentionDeleted(3);
  probe.OnRetentionDeleted(0);
  probe.OnRetentionDeleted(4);
  EXPECT_EQ(Counter(registry, "sluice_retention_deleted_total"), 7);
}

TEST(StoreProbeTest, ProbesSharingARegistryAddUp) {
  prometheus::Registry registry;
  StoreProbe first(registry);
  StoreProbe second(registry);
  first.OnCommit(absl::Milliseconds(1), 2, true);
  second.OnCommit(absl::Milliseconds(1), 3, true);
  EXPECT_EQ(Counter(registry, "sluice_store_commits_total"), 2);
  EXPECT_EQ(Counter(registry, "sluice_store_batches_total"), 5);
}

}  // namespace
}  // namespace sluice
