#include "monitoring/worker_probe.h"

#include <algorithm>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "monitoring/buckets.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace sluice {

// The registered families and the metrics of each function, added on the
// function's first event and never removed. Thread-safe.
struct WorkerProbe::Families {
  struct PerFunction {
    prometheus::Counter* cold_starts;
    prometheus::Histogram* cold_start_duration;
    prometheus::Counter* crashes;
    prometheus::Gauge* idle;
    prometheus::Gauge* busy;
  };

  explicit Families(prometheus::Registry& registry)
      : cold_starts(prometheus::BuildCounter()
                        .Name("sluice_cold_starts_total")
                        .Help("Worker processes started to serve an attempt or keep warm.")
                        .Register(registry)),
        cold_start_duration(prometheus::BuildHistogram()
                                .Name("sluice_cold_start_duration_seconds")
                                .Help("Time from starting a worker until it was ready.")
                                .Register(registry)),
        crashes(prometheus::BuildCounter()
                    .Name("sluice_worker_crashes_total")
                    .Help("Worker processes that died while running an attempt.")
                    .Register(registry)),
        workers(prometheus::BuildGauge()
                    .Name("sluice_workers")
                    .Help("Worker processes by state (idle or busy).")
                    .Register(registry)) {}

  PerFunction& For(const std::string& function) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    auto it = functions.find(function);
    if (it == functions.end()) {
      const prometheus::Labels labels{{"function", function}};
      it = functions
               .emplace(function,
                        PerFunction{&cold_starts.Add(labels),
                                    &cold_start_duration.Add(labels, LatencyBuckets()),
                                    &crashes.Add(labels),
                                    &workers.Add({{"function", function}, {"state", "idle"}}),
                                    &workers.Add({{"function", function}, {"state", "busy"}})})
               .first;
    }
    return it->second;
  }

  prometheus::Family<prometheus::Counter>& cold_starts;
  prometheus::Family<prometheus::Histogram>& cold_start_duration;
  prometheus::Family<prometheus::Counter>& crashes;
  prometheus::Family<prometheus::Gauge>& workers;
  absl::Mutex mu;
  // A node map: For hands out references that later inserts must not move.
  absl::node_hash_map<std::string, PerFunction> functions ABSL_GUARDED_BY(mu);
};

WorkerProbe::WorkerProbe(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(registry)) {}

WorkerProbe::~WorkerProbe() = default;

void WorkerProbe::OnColdStart(const std::string& function, absl::Duration took) {
  Families::PerFunction& m = families_->For(function);
  m.cold_starts->Increment();
  m.cold_start_duration->Observe(absl::ToDoubleSeconds(std::max(took, absl::ZeroDuration())));
}

void WorkerProbe::OnWorkerCrashed(const std::string& function) {
  families_->For(function).crashes->Increment();
}

void WorkerProbe::OnWorkers(const std::string& function, int idle, int busy) {
  Families::PerFunction& m = families_->For(function);
  m.idle->Set(idle);
  m.busy->Set(busy);
}

}  // namespace sluice
