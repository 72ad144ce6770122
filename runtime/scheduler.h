// Scheduler: fires the background invocations of schedule triggers at the
// times of their cron expressions.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/clock.h"
#include "runtime/cron.h"
#include "runtime/invocation_service.h"
#include "runtime/store.h"
#include "runtime/triggers.h"
#include "sluice/v1/events.pb.h"

namespace sluice {

// Scheduler is thread-safe. Its collaborators are not owned and must
// outlive it.
//
// A fire records its invocation and the schedule's last fire time
// (Table::kSchedules) in one durable commit, so no fire time is fired twice,
// also across restarts. Fire times that pass while the server is down
// follow the trigger's MissedFires policy; fire times that pass while a fire
// is still being recorded (or between two FireDue calls) are fired once.
class Scheduler {
 public:
  Scheduler(Store* store, TriggerRegistry* triggers, InvocationService* invocations, Clock* clock);
  // Waits for the fires being recorded to be answered.
  ~Scheduler();

  // Start loads every schedule and its last fire time, and fires once for
  // missed times where the policy says so. Call once, after the invocation
  // engine recovered.
  absl::Status Start();

  // FireDue fires every schedule whose next fire time is not after now.
  // Call about once a second: it is how fires happen.
  void FireDue();

  // Update takes a created, replaced or deleted trigger into account (a
  // changed schedule fires first at its next time after now). Give it to
  // TriggerRegistry::SetListener.
  void Update(const std::string& name);

  // Describe fills in `trigger`'s last and next fire times, when it is a
  // schedule this scheduler knows.
  void Describe(v1::Trigger& trigger) const;

 private:
  struct Entry {
    CronSchedule cron;
    std::string function;
    v1::Trigger trigger;
    absl::Time last_fire = absl::InfinitePast();  // InfinitePast: never
    absl::Time next_fire = absl::InfiniteFuture();
    bool firing = false;  // a fire is being recorded
  };

  // Due is a fire decided under mu_ and submitted without it.
  struct Due {
    std::string name;
    absl::Time at;
    InvokeArgs args;
  };

  // Take marks a fire of `name` for time `at` as under way, moves its next
  // fire time past `now`, and returns it for Submit.
  Due Take(const std::string& name, Entry& entry, absl::Time at, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submit records `due`'s invocation with the schedule's last fire time.
  void Submit(Due due) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  Store* const store_;
  TriggerRegistry* const triggers_;
  InvocationService* const invocations_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Fires submitted and not yet answered.
  size_t submitting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sluice
