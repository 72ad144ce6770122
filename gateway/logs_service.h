// LogsService: the sluice.v1.Logs gRPC service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "runtime/function_logs.h"
#include "sluice/v1/logs.grpc.pb.h"

namespace sluice {

// LogsServiceLimits bound what one Tail stream holds for a client that reads
// more slowly than its function prints. When either bound is passed, the
// oldest unsent lines are dropped and the client gets one line with stream
// "sluice" saying how many.
struct LogsServiceLimits {
  size_t max_buffered_lines = 10000;
  size_t max_buffered_bytes = 32 * 1024 * 1024;
};

// LogsService serves Tail from a FunctionLogs. Thread-safe. `logs` must
// outlive the service and every stream it serves (that is, the grpc::Server
// must be shut down first).
class LogsService final : public v1::Logs::CallbackService {
 public:
  // kDefaultTailLines is how many lines Tail sends when the request does not
  // say.
  static constexpr uint32_t kDefaultTailLines = 100;

  // ExistsFunction says whether a function is deployed. It is called on gRPC
  // threads and must not block (an in-memory lookup).
  using ExistsFunction = std::function<bool(const std::string& function)>;

  // A null `exists` treats every validly named function as deployed.
  LogsService(FunctionLogs* logs, ExistsFunction exists, LogsServiceLimits limits = {});

  // Tail: INVALID_ARGUMENT naming "function" for a bad name, NOT_FOUND when
  // `exists` says no; else the tail, then with follow every new line until
  // the client cancels or Shutdown.
  grpc::ServerWriteReactor<v1::LogEntry>* Tail(grpc::CallbackServerContext* context,
                                               const v1::TailLogsRequest* request) override;

  // Shutdown ends every open stream with UNAVAILABLE and refuses new ones the
  // same way, so that following clients do not hold up the server's
  // shutdown. Call it before grpc::Server::Shutdown.
  void Shutdown();

 private:
  class TailReactor;

  // StreamEnded forgets `stream`, which is done.
  void StreamEnded(TailReactor* stream);

  // Constant after construction.
  FunctionLogs* const logs_;
  const ExistsFunction exists_;
  const LogsServiceLimits limits_;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Open streams; each removes itself in OnDone, before it is freed.
  absl::flat_hash_set<TailReactor*> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
