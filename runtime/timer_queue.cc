#include "runtime/timer_queue.h"

namespace sluice {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

uint64_t TimerQueue::Schedule(absl::Time when, absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  const uint64_t handle = next_handle_++;
  timers_.emplace(std::make_pair(when, handle), std::move(fn));
  when_.emplace(handle, when);
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
      mu_.Await(absl::Condition(
          +[](TimerQueue* q)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return q->stop_ || !q->timers_.empty(); },
          this));
      continue;
    }
    auto first = timers_.begin();
    const absl::Time when = first->first.first;
    if (absl::Now() < when) {
      // Wakes early when a sooner timer is added or on stop.
      const size_t count = timers_.size();
      struct Args {
        TimerQueue* q;
        size_t count;
        absl::Time when;
      } args{this, count, when};
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                  return a->q->stop_ || a->q->timers_.size() != a->count ||
                                         a->q->timers_.begin()->first.first != a->when;
                                },
                                &args),
                            when);
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
