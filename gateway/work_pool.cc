#include "gateway/work_pool.h"

#include <utility>

namespace sluice {

WorkPool::WorkPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::Schedule(absl::AnyInvocable<void()> job) {
  absl::MutexLock lock(&mu_);
  if (stop_) return absl::UnavailableError("the server is shutting down");
  if (jobs_.size() >= max_queued_) {
    return absl::ResourceExhaustedError("the server is busy; retry later");
  }
  jobs_.push_back(std::move(job));
  return absl::OkStatus();
}

void WorkPool::Loop() {
  while (true) {
    absl::AnyInvocable<void()> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkPool* p) ABSL_NO_THREAD_SAFETY_ANALYSIS { return p->stop_ || !p->jobs_.empty(); },
          this));
      if (jobs_.empty()) return;  // stopping, and everything queued has run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace sluice
