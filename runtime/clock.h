// Clock: the source of time for everything in runtime/, injected so that
// deadlines and timestamps can be tested without sleeping.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sluice {

// Clock tells the current wall-clock time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // RealClock returns a process-wide clock backed by absl::Now(). Never null.
  static Clock* Real();
};

}  // namespace sluice
