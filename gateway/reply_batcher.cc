#include "gateway/reply_batcher.h"

#include <utility>

#include "grpc/support/time.h"

namespace sluice {
namespace {

thread_local bool in_handler = false;

}  // namespace

ReplyBatcher::HandlerScope::HandlerScope() : outer_(in_handler) { in_handler = true; }

ReplyBatcher::HandlerScope::~HandlerScope() { in_handler = outer_; }

void ReplyBatcher::Reply(absl::AnyInvocable<void() &&> reply) {
  if (in_handler) {
    std::move(reply)();
    return;
  }
  Post(std::move(reply));
}

ReplyBatcher::~ReplyBatcher() {
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(
      +[](bool* scheduled) { return !*scheduled; }, &state_->scheduled));
}

void ReplyBatcher::Post(absl::AnyInvocable<void() &&> reply) {
  absl::MutexLock lock(&state_->mu);
  state_->posted.push_back(std::move(reply));
  if (state_->scheduled) return;
  state_->scheduled = true;
  // An alarm already due fires at once; gRPC runs its callback on one of
  // its executor threads.
  state_->alarm = std::make_unique<grpc::Alarm>();
  state_->alarm->Set(gpr_time_0(GPR_CLOCK_MONOTONIC), [state = state_](bool) { RunPosted(state); });
}

void ReplyBatcher::RunPosted(const std::shared_ptr<State>& state) {
  std::vector<absl::AnyInvocable<void() &&>> batch;
  std::unique_ptr<grpc::Alarm> fired;  // freed outside the lock
  while (true) {
    batch.clear();  // outside the lock: a reply's captures may be costly to free
    {
      absl::MutexLock lock(&state->mu);
      if (state->posted.empty()) {
        state->scheduled = false;
        fired = std::move(state->alarm);
        return;
      }
      batch.swap(state->posted);
    }
    for (auto& reply : batch) std::move(reply)();
  }
}

}  // namespace sluice
