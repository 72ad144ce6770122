#include "runtime/timer_queue.h"

namespace sluice {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.Signal();
  }
  thread_.join();
}

uint64_t TimerQueue::Schedule(absl::Time when, absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  const uint64_t handle = next_handle_++;
  timers_.emplace(std::make_pair(when, handle), std::move(fn));
  when_.emplace(handle, when);
  if (when < sleeping_until_) wake_.Signal();
  return handle;
}

bool TimerQueue::Cancel(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = when_.find(handle);
  if (it == when_.end()) return false;
  timers_.erase(std::make_pair(it->second, handle));
  when_.erase(it);
  return true;
}

void TimerQueue::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (timers_.empty()) {
      sleeping_until_ = absl::InfiniteFuture();
      wake_.Wait(&mu_);
      sleeping_until_ = absl::InfinitePast();
      continue;
    }
    auto first = timers_.begin();
    const absl::Time when = first->first.first;
    if (absl::Now() < when) {
      sleeping_until_ = when;
      wake_.WaitWithDeadline(&mu_, when);
      sleeping_until_ = absl::InfinitePast();
      continue;
    }
    absl::AnyInvocable<void()> fn = std::move(first->second);
    when_.erase(first->first.second);
    timers_.erase(first);
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace sluice
