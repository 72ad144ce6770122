// ReplyBatcher: finishes RPCs on a gRPC thread, many at a time.
#pragma once

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/alarm.h"

namespace sluice {

// ReplyBatcher runs replies (closures that call a reactor's Finish) posted by
// threads that are not gRPC's, such as the store's commit thread or a
// dispatcher thread, on one of gRPC's own threads, all posted so far in one
// go. gRPC then writes the answers that share a connection in one send,
// where a Finish from a foreign thread pays a send of its own, plus the
// locking and wake-ups around it, and the thread that answers (a commit or
// dispatcher thread) gets back to its own work at once.
//
// Replies run in the order they were posted, each exactly once, also when
// the batcher is being destroyed (the destructor waits for them). A reply
// must not block. Thread-safe.
class ReplyBatcher {
 public:
  ReplyBatcher() = default;
  ReplyBatcher(const ReplyBatcher&) = delete;
  ReplyBatcher& operator=(const ReplyBatcher&) = delete;
  // Waits until every posted reply has run.
  ~ReplyBatcher();

  // Reply runs `reply` at once when the calling thread is inside a
  // HandlerScope (it is gRPC's, answering within the handler), else posts it.
  void Reply(absl::AnyInvocable<void() &&> reply);

  // HandlerScope marks the calling thread, for its lifetime, as a gRPC
  // thread running a method handler. Scopes nest.
  class HandlerScope {
   public:
    HandlerScope();
    ~HandlerScope();
    HandlerScope(const HandlerScope&) = delete;
    HandlerScope& operator=(const HandlerScope&) = delete;

   private:
    const bool outer_;
  };

 private:
  void Post(absl::AnyInvocable<void() &&> reply);

  // State is shared with the alarm callback of a scheduled run, so that it
  // outlives the run's last unlock even when the batcher is destroyed the
  // moment the run has finished.
  struct State {
    absl::Mutex mu;
    std::vector<absl::AnyInvocable<void() &&>> posted ABSL_GUARDED_BY(mu);
    // A run is scheduled or running; Post schedules one only when not.
    bool scheduled ABSL_GUARDED_BY(mu) = false;
    // The alarm of the scheduled run. The run takes it out and frees it
    // when it ends: gRPC keeps a fired alarm's callback alive until it has
    // returned.
    std::unique_ptr<grpc::Alarm> alarm ABSL_GUARDED_BY(mu);
  };
  // Runs on a gRPC thread: the replies posted so far, until none are left.
  static void RunPosted(const std::shared_ptr<State>& state);

  const std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace sluice
