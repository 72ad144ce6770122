// CallbackDeliverer: delivers the records of finished invocations whose
// destination is a topic ("topic:NAME": published as an event) or a gRPC
// endpoint ("grpc://HOST:PORT": sent to sluice.v1.Callbacks/Deliver), from
// the outbox the engine writes in the commit that ends each invocation.
//
// At least once: a delivery leaves the outbox only after it succeeded (or
// was given up), so a crash in between delivers it again. Topic deliveries
// use the invocation's id as the event id, so the event deduplication drops
// such a repeat; callback endpoints should drop repeats by invocation_id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "monitoring/callback_probe.h"
#include "runtime/callback_outbox.h"
#include "runtime/destination.h"
#include "runtime/event_publisher.h"
#include "runtime/store.h"

namespace sluice {

struct CallbackDelivererOptions {
  // The gRPC endpoints deliveries may call; others are given up ("refused").
  CallbackAllowlist allowlist;
  // Attempts per delivery, the first included, before it is given up.
  uint32_t max_attempts = 10;
  // Backoff before attempt n+1: initial_backoff * 2^(n-1), at most
  // max_backoff, with full jitter down to half.
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  // A callback that does not answer within this fails the attempt.
  absl::Duration call_timeout = absl::Seconds(10);
  // Deliveries in flight at once.
  size_t max_in_flight = 64;
};

// CallbackDeliverer is thread-safe. Store, publisher and probe are not
// owned and must outlive it; the probe may be null.
class CallbackDeliverer final : public CallbackOutbox {
 public:
  CallbackDeliverer(CallbackDelivererOptions options, Store* store, EventPublisher* publisher,
                    CallbackProbe* probe);
  // Stops, as Stop does.
  ~CallbackDeliverer() override;

  // Start reads the outbox and starts delivering. Attach the deliverer to
  // the engine (InvocationService::SetCallbackOutbox) before Start, so that
  // no delivery falls between the two. UNAVAILABLE when the store cannot be
  // read. Call once.
  absl::Status Start();

  // Stop cancels the calls in flight and waits for them and for the
  // delivering thread. Deliveries not done stay in the outbox for the next
  // start. Idempotent.
  void Stop();

  // Added queues a delivery the engine wrote (CallbackOutbox).
  void Added(const std::string& key, internal::CallbackDelivery delivery) override;

  // Pending returns how many deliveries are in the outbox.
  size_t Pending() const;

 private:
  struct Item {
    internal::CallbackDelivery delivery;
    absl::Time due;
    bool in_flight = false;
  };
  struct Outcome {
    std::string key;
    absl::Status status;
    bool permanent = false;  // retrying cannot help
  };

  void Run();
  // Begin starts delivering `delivery`; its outcome reaches Finish.
  void Begin(const std::string& key, const internal::CallbackDelivery& delivery);
  void Publish(const std::string& key, const Destination& destination,
               const internal::CallbackDelivery& delivery);
  void Call(const std::string& key, const Destination& destination,
            const internal::CallbackDelivery& delivery);
  // Finish hands an outcome to the delivering thread.
  void Finish(Outcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  // Apply records an outcome in the store and in items_.
  void Apply(const Outcome& outcome) ABSL_LOCKS_EXCLUDED(mu_);
  bool Wakeful() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target);

  // Constant after construction.
  const CallbackDelivererOptions options_;
  Store* const store_;
  EventPublisher* const publisher_;
  CallbackProbe* const probe_;

  mutable absl::Mutex mu_;
  std::map<std::string, Item> items_ ABSL_GUARDED_BY(mu_);
  std::vector<Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);

  // Used by the delivering thread only.
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::thread thread_;
};

}  // namespace sluice
