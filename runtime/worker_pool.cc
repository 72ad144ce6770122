#include "runtime/worker_pool.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace sluice {

WorkerPool::WorkerPool(WorkerPoolOptions options, WorkerFactory factory, WorkerPoolEvents* events)
    : options_(options), factory_(std::move(factory)), events_(events) {}

WorkerPool::~WorkerPool() {
  std::deque<Idle> idle;
  {
    absl::MutexLock lock(&mu_);
    idle.swap(idle_);
    ReportLocked();
  }
  // Workers stop outside the lock.
}

absl::StatusOr<std::unique_ptr<Worker>> WorkerPool::StartWorker() {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Worker>> worker;
  {
    absl::MutexLock lock(&factory_mu_);
    worker = factory_();
  }
  if (worker.ok() && events_ != nullptr) events_->OnColdStart(absl::Now() - start);
  return worker;
}

ExecutionResult WorkerPool::Execute(const ExecutionRequest& request) {
  std::unique_ptr<Worker> worker;
  {
    absl::MutexLock lock(&mu_);
    // A worker can become unusable while idle (its process died, or a
    // lambda bootstrap misbehaved after answering): skip those.
    while (!idle_.empty() && worker == nullptr) {
      std::unique_ptr<Worker> candidate = std::move(idle_.back().worker);
      idle_.pop_back();
      if (candidate->Reusable()) {
        worker = std::move(candidate);
      } else {
        retired_.push_back(std::move(candidate));
      }
    }
    ++busy_;
    ReportLocked();
  }
  {
    std::vector<std::unique_ptr<Worker>> stale;
    absl::MutexLock lock(&mu_);
    stale.swap(retired_);
    // `stale` stops outside the lock (declared first, destroyed last).
  }
  const bool cold_start = worker == nullptr;
  if (cold_start) {
    absl::StatusOr<std::unique_ptr<Worker>> started = StartWorker();
    if (!started.ok()) {
      absl::MutexLock lock(&mu_);
      --busy_;
      ReportLocked();
      ExecutionResult failed =
          ExecutionResult::Error("WorkerStartFailed", std::string(started.status().message()));
      failed.cold_start = true;
      return failed;
    }
    worker = *std::move(started);
  }
  ExecutionResult result = worker->Run(request);
  result.cold_start = cold_start;
  const bool crashed = !worker->Reusable() && !result.ok && result.error_type == "Crash";
  if (crashed && events_ != nullptr) events_->OnWorkerCrashed();
  std::unique_ptr<Worker> retired;
  {
    absl::MutexLock lock(&mu_);
    --busy_;
    if (worker->Reusable() && !drained_) {
      idle_.push_back(Idle{std::move(worker), absl::Now()});
    } else {
      retired = std::move(worker);
    }
    ReportLocked();
  }
  return result;  // `retired` stops here, outside the lock
}

void WorkerPool::Maintain(absl::Time now) {
  std::vector<std::unique_ptr<Worker>> retired;
  int missing = 0;
  {
    absl::MutexLock lock(&mu_);
    while (!idle_.empty() && idle_.size() + busy_ > options_.min_warm &&
           now - idle_.front().since >= options_.idle_timeout) {
      retired.push_back(std::move(idle_.front().worker));
      idle_.pop_front();
    }
    if (!drained_) {
      missing = static_cast<int>(std::min(options_.min_warm, options_.max_workers)) -
                static_cast<int>(idle_.size()) - busy_;
    }
    ReportLocked();
  }
  retired.clear();
  for (int i = 0; i < missing; ++i) {
    absl::StatusOr<std::unique_ptr<Worker>> started = StartWorker();
    if (!started.ok()) return;  // tried again at the next Maintain
    absl::MutexLock lock(&mu_);
    if (drained_) return;
    idle_.push_back(Idle{*std::move(started), absl::Now()});
    ReportLocked();
  }
}

void WorkerPool::Drain() {
  std::deque<Idle> idle;  // stopped when this returns, outside the lock
  absl::MutexLock lock(&mu_);
  drained_ = true;
  idle.swap(idle_);
  ReportLocked();
}

bool WorkerPool::Warm() {
  absl::MutexLock lock(&mu_);
  return !idle_.empty();
}

int WorkerPool::idle_workers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

int WorkerPool::busy_workers() {
  absl::MutexLock lock(&mu_);
  return busy_;
}

void WorkerPool::ReportLocked() {
  if (events_ != nullptr) events_->OnWorkers(static_cast<int>(idle_.size()), busy_);
}

}  // namespace sluice
