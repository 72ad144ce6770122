// WorkerProbe: the metrics of worker processes: cold starts, crashes and how
// many workers are idle or busy.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace sluice {

// WorkerProbe is thread-safe. The registry must outlive it.
class WorkerProbe {
 public:
  explicit WorkerProbe(prometheus::Registry& registry);
  ~WorkerProbe();
  WorkerProbe(const WorkerProbe&) = delete;
  WorkerProbe& operator=(const WorkerProbe&) = delete;

  // A worker of `function` started and was ready after `took`
  // (sluice_cold_starts_total +1, sluice_cold_start_duration_seconds).
  void OnColdStart(const std::string& function, absl::Duration took);
  // A worker of `function` died while running an attempt
  // (sluice_worker_crashes_total +1).
  void OnWorkerCrashed(const std::string& function);
  // `function` now has `idle` idle and `busy` busy workers
  // (sluice_workers{function,state}).
  void OnWorkers(const std::string& function, int idle, int busy);

 private:
  struct Families;
  std::unique_ptr<Families> families_;
};

}  // namespace sluice
