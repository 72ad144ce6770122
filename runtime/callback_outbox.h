// CallbackOutbox: what learns of the destination deliveries (topics and
// gRPC callbacks) that finished invocations write to the store.
#pragma once

#include <string>

#include "sluice/internal/callbacks.pb.h"

namespace sluice {

// The engine writes each delivery to table kCallbacks, keyed by the
// finished invocation's id, in the commit that ends the invocation, then
// calls Added once that commit is durable. Whoever delivers must also read
// the table when it starts: deliveries written before a crash, or before it
// was attached, are only there. Implementations are thread-safe.
class CallbackOutbox {
 public:
  virtual ~CallbackOutbox() = default;

  // Added: `delivery` is durable under `key`. Called from the store's commit
  // thread: must not block.
  virtual void Added(const std::string& key, internal::CallbackDelivery delivery) = 0;
};

}  // namespace sluice
