// EventPublisher: publishing an event — deduplication by (source, id) and
// fan-out to every matching event trigger as background invocations.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "monitoring/trace_context.h"
#include "runtime/clock.h"
#include "runtime/invocation_service.h"
#include "runtime/store.h"
#include "runtime/triggers.h"
#include "sluice/v1/events.pb.h"

namespace sluice {

struct EventPublisherOptions {
  // A repeated (source, id) within this long of the first is dropped.
  absl::Duration dedupe_window = absl::Hours(24);
  // Largest event accepted (its serialized size, data included).
  size_t max_event_bytes = 6 * 1024 * 1024;
};

// EventPublisher is thread-safe. Its collaborators are not owned and must
// outlive it.
class EventPublisher {
 public:
  EventPublisher(EventPublisherOptions options, Store* store, TriggerRegistry* triggers,
                 InvocationService* invocations, Clock* clock);
  // Waits for the publishes being recorded to be answered.
  ~EventPublisher();

  // Publish validates `event` (INVALID_ARGUMENT naming the field, see
  // NormalizeEvent and ValidateTopic) and records it: its deduplication key
  // and one PENDING invocation per matching trigger (the event's data as
  // payload, its attributes as metadata, see EventMetadata), in one durable
  // commit; `done` is called once that is durable. A (source, id) seen
  // within the window answers duplicate and starts nothing; concurrent
  // publishes of one (source, id) share the first one's outcome. Admission
  // errors of any invocation (a full queue: RESOURCE_EXHAUSTED) refuse the
  // whole event. May block on the store.
  void Publish(std::string topic, v1::CloudEvent event, const TraceContext& trace,
               absl::AnyInvocable<void(absl::StatusOr<v1::PublishResponse>)> done);

  // Sweep deletes up to `limit` deduplication keys older than the window,
  // resuming where the last call stopped; returns how many it deleted.
  // Call periodically (blocks on the store).
  absl::StatusOr<size_t> Sweep(size_t limit = 1000);

 private:
  using Done = absl::AnyInvocable<void(absl::StatusOr<v1::PublishResponse>)>;
  // Answer ends the publish of `key`: its own caller gets `result`, the
  // callers that waited for it get duplicate (or the same error).
  void Answer(const std::string& key, Done done, absl::StatusOr<v1::PublishResponse> result)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const EventPublisherOptions options_;
  Store* const store_;
  TriggerRegistry* const triggers_;
  InvocationService* const invocations_;
  Clock* const clock_;

  absl::Mutex mu_;
  // Keys whose first publish is being recorded -> callers that repeated it.
  absl::flat_hash_map<std::string, std::vector<Done>> in_flight_ ABSL_GUARDED_BY(mu_);
  std::string sweep_cursor_ ABSL_GUARDED_BY(mu_);
  // Publishes whose commit is not answered yet.
  size_t recording_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sluice
