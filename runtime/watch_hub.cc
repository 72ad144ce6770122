#include "runtime/watch_hub.h"

namespace sluice {

uint64_t WatchHub::Subscribe(const std::string& id, Callback callback) {
  absl::MutexLock lock(&mu_);
  const uint64_t handle = next_handle_++;
  subscribers_[id].emplace(handle, std::move(callback));
  return handle;
}

void WatchHub::Unsubscribe(const std::string& id, uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  it->second.erase(handle);
  if (it->second.empty()) subscribers_.erase(it);
}

void WatchHub::Publish(const v1::Invocation& invocation) {
  // Callbacks run under the lock: that is what makes Unsubscribe a barrier.
  // They are required not to block.
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(invocation.id());
  if (it == subscribers_.end()) return;
  for (auto& [handle, callback] : it->second) callback(invocation);
}

}  // namespace sluice
