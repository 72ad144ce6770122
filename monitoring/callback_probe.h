// CallbackProbe: the metrics of destination deliveries to topics and gRPC
// callback endpoints (runtime/callback_deliverer.h).
#pragma once

#include <memory>

#include "absl/strings/string_view.h"
#include "prometheus/registry.h"

namespace sluice {

// CallbackProbe is thread-safe.
//   sluice_callback_deliveries_total{kind, result}: kind "topic" or "grpc";
//     result "delivered", "retried" (a failed attempt that will be retried),
//     "failed" (given up: attempts spent, or a record a topic refuses) or
//     "refused" (the endpoint is not in the allowlist).
//   sluice_callback_pending: deliveries waiting in the outbox.
class CallbackProbe {
 public:
  // Registers the families in `registry` (see StoreProbe for sharing).
  explicit CallbackProbe(prometheus::Registry& registry);
  ~CallbackProbe();
  CallbackProbe(const CallbackProbe&) = delete;
  CallbackProbe& operator=(const CallbackProbe&) = delete;

  void OnDelivery(absl::string_view kind, absl::string_view result);
  void SetPending(size_t pending);

 private:
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace sluice
