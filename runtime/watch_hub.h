// WatchHub: fans out invocation updates to the streams watching them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// WatchHub is thread-safe. Callbacks run on the publishing thread, in
// publication order for one invocation, and must not block or call back
// into the hub.
class WatchHub {
 public:
  using Callback = absl::AnyInvocable<void(const v1::Invocation&)>;

  // Subscribe calls `callback` with every update of invocation `id` published
  // from now on, until Unsubscribe. Returns a handle for Unsubscribe.
  uint64_t Subscribe(const std::string& id, Callback callback);
  // Unsubscribe stops calls to the subscription; when it returns, no call is
  // running or will run.
  void Unsubscribe(const std::string& id, uint64_t handle);
  // Publish delivers `invocation` to the subscribers of its id.
  void Publish(const v1::Invocation& invocation);

 private:
  absl::Mutex mu_;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, absl::flat_hash_map<uint64_t, Callback>> subscribers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
