// InvocationProbe: the metrics of queueing and running invocations.
//
// Business logic reports events to the probe; only the probe touches
// prometheus-cpp. Thread-safe. The registry must outlive the probe. The series
// of a function appear at its first event and stay in the registry after the
// probe is destroyed. Label values are bounded: `function` is a deployed
// function's name and `outcome` one of a small fixed set, never an id or an
// error message. Negative durations count as zero.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "prometheus/registry.h"

namespace sluice {

class InvocationProbe {
 public:
  // Registers the families in `registry`. Precondition: `registry` holds no
  // family of the same name and another type; a registry with
  // InsertBehavior::Merge (the default) may be shared by several probes,
  // whose events then add up.
  explicit InvocationProbe(prometheus::Registry& registry);
  ~InvocationProbe();
  InvocationProbe(const InvocationProbe&) = delete;
  InvocationProbe& operator=(const InvocationProbe&) = delete;

  // An invocation of `function` entered its queue (sluice_queue_depth +1).
  void OnEnqueued(const std::string& function);
  // An invocation left the queue to run after waiting `waited`
  // (sluice_queue_depth -1, sluice_queue_wait_seconds observed,
  // sluice_invocations_in_flight +1).
  void OnStarted(const std::string& function, absl::Duration waited);
  // An invocation left the queue without running (cancelled, expired).
  void OnDropped(const std::string& function);
  // A started invocation ended with `outcome` ("success", "error",
  // "timeout", "cancelled") after running `duration`
  // (sluice_invocations_total{function,outcome} +1,
  // sluice_invocation_duration_seconds observed, in-flight -1).
  void OnFinished(const std::string& function, const std::string& outcome, absl::Duration duration);
  // An invocation was refused because the queue of `function` was full
  // (sluice_invocations_rejected_total{function} +1).
  void OnRejected(const std::string& function);
  // A failed attempt of a background invocation will be retried
  // (sluice_retries_total{function} +1).
  void OnRetry(const std::string& function);
  // A background invocation ended FAILED for good and was dead-lettered
  // (sluice_dead_letters_total{function} +1).
  void OnDeadLettered(const std::string& function);
  // The oldest invocation waiting in the queue of `function` has waited
  // `age` (sluice_oldest_pending_age_seconds{function}; zero: none waits).
  void SetOldestPendingAge(const std::string& function, absl::Duration age);

 private:
  class Families;
  std::unique_ptr<Families> families_;
};

}  // namespace sluice
