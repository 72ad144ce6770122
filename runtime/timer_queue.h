// TimerQueue: runs callbacks at given times on one thread of its own.
#pragma once

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sluice {

// TimerQueue is thread-safe. Callbacks run on the timer thread, one at a
// time, and should be short. Pending callbacks are discarded on destruction.
class TimerQueue {
 public:
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Schedule runs `fn` at `when` (at once if past). Returns a handle for Cancel.
  uint64_t Schedule(absl::Time when, absl::AnyInvocable<void()> fn);
  // Cancel discards a callback that has not started. Returns false when it
  // already ran or is running.
  bool Cancel(uint64_t handle);

 private:
  void Loop();

  absl::Mutex mu_;
  // Signalled when a timer is due before the time the thread sleeps until,
  // and on stop. Cancel does not signal: the thread wakes at the old time,
  // finds nothing due and sleeps on, so the common schedule-then-cancel of
  // an attempt's timeout does not wake the timer thread at all.
  absl::CondVar wake_;
  // When the timer thread wakes next by itself (InfiniteFuture when it
  // waits for a signal; InfinitePast while it runs callbacks or is about
  // to look again).
  absl::Time sleeping_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Ordered by (time, handle).
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void()>> timers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::Time> when_ ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sluice
