// ProbePoolEvents: reports one function's worker pool events to the
// WorkerProbe metrics.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "monitoring/worker_probe.h"
#include "runtime/worker_pool.h"

namespace sluice {

// ProbePoolEvents is thread-safe; the probe must outlive it.
class ProbePoolEvents final : public WorkerPoolEvents {
 public:
  ProbePoolEvents(WorkerProbe* probe, std::string function)
      : probe_(probe), function_(std::move(function)) {}

  void OnColdStart(absl::Duration took) override { probe_->OnColdStart(function_, took); }
  void OnWorkerCrashed() override { probe_->OnWorkerCrashed(function_); }
  void OnWorkers(int idle, int busy) override { probe_->OnWorkers(function_, idle, busy); }

 private:
  WorkerProbe* const probe_;
  const std::string function_;
};

// PoolEventsByFunction hands out one ProbePoolEvents per function, alive as
// long as this object. Thread-safe.
class PoolEventsByFunction {
 public:
  explicit PoolEventsByFunction(WorkerProbe* probe) : probe_(probe) {}

  WorkerPoolEvents* For(const std::string& function) {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<ProbePoolEvents>& events = events_[function];
    if (events == nullptr) events = std::make_unique<ProbePoolEvents>(probe_, function);
    return events.get();
  }

 private:
  WorkerProbe* const probe_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ProbePoolEvents>> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
