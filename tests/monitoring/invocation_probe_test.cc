// Tests of InvocationProbe, read back through Registry::Collect().
#include "monitoring/invocation_probe.h"

#include <optional>
#include <string>
#include <thread>
#include <vector>

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

// The series of family `name` whose labels are exactly `labels`, from a fresh
// collection; nullopt when the family or the series is absent.
std::optional<ClientMetric> FindSeries(const prometheus::Registry& registry,
                                       const std::string& name, MetricType type,
                                       const std::vector<prometheus::ClientMetric::Label>& labels) {
  for (const MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    EXPECT_EQ(family.type, type) << name;
    for (const ClientMetric& metric : family.metric) {
      if (metric.label == labels) return metric;
    }
  }
  return std::nullopt;
}

// The number of series in family `name`; 0 when the family is absent.
size_t SeriesCount(const prometheus::Registry& registry, const std::string& name) {
  for (const MetricFamily& family : registry.Collect()) {
    if (family.name == name) return family.metric.size();
  }
  return 0;
}

std::vector<ClientMetric::Label> Fn(const std::string& function) {
  return {{"function", function}};
}

std::vector<ClientMetric::Label> FnOutcome(const std::string& function,
                                           const std::string& outcome) {
  return {{"function", function}, {"outcome", outcome}};
}

class InvocationProbeTest : public ::testing::Test {
 protected:
  double GaugeValue(const std::string& name, const std::string& function) {
    auto series = FindSeries(registry_, name, MetricType::Gauge, Fn(function));
    EXPECT_TRUE(series.has_value()) << name << "{function=" << function << "}";
    return series ? series->gauge.value : -1;
  }
  double CounterValue(const std::string& name, const std::vector<ClientMetric::Label>& labels) {
    auto series = FindSeries(registry_, name, MetricType::Counter, labels);
    EXPECT_TRUE(series.has_value()) << name;
    return series ? series->counter.value : -1;
  }
  ClientMetric::Histogram HistogramOf(const std::string& name, const std::string& function) {
    auto series = FindSeries(registry_, name, MetricType::Histogram, Fn(function));
    EXPECT_TRUE(series.has_value()) << name << "{function=" << function << "}";
    return series ? series->histogram : ClientMetric::Histogram{};
  }

  prometheus::Registry registry_;
  InvocationProbe probe_{registry_};
};

TEST_F(InvocationProbeTest, EnqueueStartFinishMovesGaugesUpAndDown) {
  probe_.OnEnqueued("echo");
  probe_.OnEnqueued("echo");
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 2);
  EXPECT_EQ(GaugeValue("sluice_invocations_in_flight", "echo"), 0);

  probe_.OnStarted("echo", absl::Milliseconds(3));
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 1);
  EXPECT_EQ(GaugeValue("sluice_invocations_in_flight", "echo"), 1);

  probe_.OnFinished("echo", "success", absl::Milliseconds(20));
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 1);
  EXPECT_EQ(GaugeValue("sluice_invocations_in_flight", "echo"), 0);
  EXPECT_EQ(CounterValue("sluice_invocations_total", FnOutcome("echo", "success")), 1);
}

TEST_F(InvocationProbeTest, RetriesDeadLettersAndOldestPendingAgeArePerFunction) {
  probe_.OnRetry("echo");
  probe_.OnRetry("echo");
  probe_.OnDeadLettered("echo");
  probe_.SetOldestPendingAge("echo", absl::Milliseconds(1500));
  probe_.SetOldestPendingAge("resize", absl::Seconds(-3));  // a clock step back
  EXPECT_EQ(CounterValue("sluice_retries_total", Fn("echo")), 2);
  EXPECT_EQ(CounterValue("sluice_dead_letters_total", Fn("echo")), 1);
  EXPECT_EQ(GaugeValue("sluice_oldest_pending_age_seconds", "echo"), 1.5);
  EXPECT_EQ(GaugeValue("sluice_oldest_pending_age_seconds", "resize"), 0);
  probe_.SetOldestPendingAge("echo", absl::ZeroDuration());
  EXPECT_EQ(GaugeValue("sluice_oldest_pending_age_seconds", "echo"), 0);
}

TEST_F(InvocationProbeTest, DroppedInvocationLeavesQueueWithoutRunning) {
  probe_.OnEnqueued("echo");
  probe_.OnDropped("echo");
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 0);
  EXPECT_EQ(GaugeValue("sluice_invocations_in_flight", "echo"), 0);
  EXPECT_EQ(SeriesCount(registry_, "sluice_invocations_total"), 0u);
  EXPECT_EQ(HistogramOf("sluice_queue_wait_seconds", "echo").sample_count, 0u);
}

TEST_F(InvocationProbeTest, HistogramsCountAndSumSecondsIntoBuckets) {
  probe_.OnEnqueued("resize");
  probe_.OnEnqueued("resize");
  probe_.OnStarted("resize", absl::Microseconds(50));
  probe_.OnStarted("resize", absl::Milliseconds(250));
  probe_.OnFinished("resize", "success", absl::Milliseconds(1500));
  probe_.OnFinished("resize", "error", absl::Seconds(400));

  ClientMetric::Histogram wait = HistogramOf("sluice_queue_wait_seconds", "resize");
  EXPECT_EQ(wait.sample_count, 2u);
  EXPECT_DOUBLE_EQ(wait.sample_sum, 0.25005);
  ASSERT_FALSE(wait.bucket.empty());
  // The first bucket is 100 microseconds; the last is +Inf.
  EXPECT_DOUBLE_EQ(wait.bucket.front().upper_bound, 0.0001);
  EXPECT_EQ(wait.bucket.front().cumulative_count, 1u);
  EXPECT_EQ(wait.bucket.back().cumulative_count, 2u);

  ClientMetric::Histogram duration = HistogramOf("sluice_invocation_duration_seconds", "resize");
  EXPECT_EQ(duration.sample_count, 2u);
  EXPECT_DOUBLE_EQ(duration.sample_sum, 401.5);
  ASSERT_GE(duration.bucket.size(), 2u);
  // 400 s is beyond the largest finite bound (300 s): counted only in +Inf.
  const auto& last_finite = duration.bucket[duration.bucket.size() - 2];
  EXPECT_DOUBLE_EQ(last_finite.upper_bound, 300);
  EXPECT_EQ(last_finite.cumulative_count, 1u);
  EXPECT_EQ(duration.bucket.back().cumulative_count, 2u);
}

TEST_F(InvocationProbeTest, NegativeDurationsCountAsZero) {
  probe_.OnEnqueued("echo");
  probe_.OnStarted("echo", absl::Seconds(-2));
  probe_.OnFinished("echo", "success", absl::Seconds(-1));
  EXPECT_EQ(HistogramOf("sluice_queue_wait_seconds", "echo").sample_sum, 0);
  EXPECT_EQ(HistogramOf("sluice_invocation_duration_seconds", "echo").sample_sum, 0);
}

TEST_F(InvocationProbeTest, OutcomesAreSeparateSeries) {
  for (int i = 0; i < 3; ++i) {
    probe_.OnEnqueued("echo");
    probe_.OnStarted("echo", absl::ZeroDuration());
    probe_.OnFinished("echo", "success", absl::Milliseconds(1));
  }
  probe_.OnEnqueued("echo");
  probe_.OnStarted("echo", absl::ZeroDuration());
  probe_.OnFinished("echo", "timeout", absl::Seconds(30));

  EXPECT_EQ(CounterValue("sluice_invocations_total", FnOutcome("echo", "success")), 3);
  EXPECT_EQ(CounterValue("sluice_invocations_total", FnOutcome("echo", "timeout")), 1);
  EXPECT_FALSE(FindSeries(registry_, "sluice_invocations_total", MetricType::Counter,
                          FnOutcome("echo", "error"))
                   .has_value());
  EXPECT_EQ(SeriesCount(registry_, "sluice_invocations_total"), 2u);
  EXPECT_EQ(HistogramOf("sluice_invocation_duration_seconds", "echo").sample_count, 4u);
}

TEST_F(InvocationProbeTest, FunctionsAreSeparateSeries) {
  probe_.OnEnqueued("echo");
  probe_.OnEnqueued("resize");
  probe_.OnEnqueued("resize");
  probe_.OnRejected("resize");

  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 1);
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "resize"), 2);
  EXPECT_EQ(CounterValue("sluice_invocations_rejected_total", Fn("resize")), 1);
  EXPECT_EQ(CounterValue("sluice_invocations_rejected_total", Fn("echo")), 0);
}

TEST_F(InvocationProbeTest, RejectionsCountWithoutTouchingTheQueue) {
  probe_.OnRejected("echo");
  probe_.OnRejected("echo");
  EXPECT_EQ(CounterValue("sluice_invocations_rejected_total", Fn("echo")), 2);
  EXPECT_EQ(GaugeValue("sluice_queue_depth", "echo"), 0);
}

TEST_F(InvocationProbeTest, AllFamiliesHaveHelpText) {
  // A family is collected once it has a series.
  probe_.OnEnqueued("echo");
  probe_.OnStarted("echo", absl::Milliseconds(1));
  probe_.OnFinished("echo", "success", absl::Milliseconds(1));
  probe_.OnRejected("echo");
  const std::vector<std::string> expected = {
      "sluice_invocations_total",     "sluice_invocation_duration_seconds",
      "sluice_queue_wait_seconds",    "sluice_queue_depth",
      "sluice_invocations_in_flight", "sluice_invocations_rejected_total"};
  const std::vector<MetricFamily> families = registry_.Collect();
  for (const std::string& name : expected) {
    bool found = false;
    for (const MetricFamily& family : families) {
      if (family.name != name) continue;
      found = true;
      EXPECT_FALSE(family.help.empty()) << name;
    }
    EXPECT_TRUE(found) << name;
  }
}

TEST_F(InvocationProbeTest, ProbesSharingARegistryAddUp) {
  InvocationProbe other(registry_);
  probe_.OnRejected("echo");
  other.OnRejected("echo");
  EXPECT_EQ(CounterValue("sluice_invocations_rejected_total", Fn("echo")), 2);
}

TEST_F(InvocationProbeTest, ConcurrentEventsAreAllCounted) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      // Two threads share each function, so first use races too.
      const std::string function = "fn" + std::to_string(t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        probe_.OnEnqueued(function);
        probe_.OnStarted(function, absl::Microseconds(1));
        probe_.OnFinished(function, i % 2 == 0 ? "success" : "error", absl::Microseconds(1));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (const std::string function : {"fn0", "fn1"}) {
    EXPECT_EQ(CounterValue("sluice_invocations_total", FnOutcome(function, "success")), kPerThread);
    EXPECT_EQ(CounterValue("sluice_invocations_total", FnOutcome(function, "error")), kPerThread);
    EXPECT_EQ(HistogramOf("sluice_queue_wait_seconds", function).sample_count, 2u * kPerThread);
    EXPECT_EQ(GaugeValue("sluice_queue_depth", function), 0);
    EXPECT_EQ(GaugeValue("sluice_invocations_in_flight", function), 0);
  }
}

}  // namespace
}  // namespace sluice
