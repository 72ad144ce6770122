// CallbackReceiver: a real sluice.v1.Callbacks endpoint on a loopback port,
// for tests of gRPC callback destinations.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "sluice/v1/events.grpc.pb.h"

namespace sluice::testing {

// CallbackReceiver records every delivery and fails its first `failures`
// with UNAVAILABLE. Thread-safe.
class CallbackReceiver final : public v1::Callbacks::Service {
 public:
  explicit CallbackReceiver(int failures = 0) : failures_(failures) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~CallbackReceiver() override { server_->Shutdown(); }

  grpc::Status Deliver(grpc::ServerContext* context, const v1::DestinationRecord* record,
                       v1::DeliverResponse*) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(*record);
    if (auto it = context->client_metadata().find("traceparent");
        it != context->client_metadata().end()) {
      traceparents_.emplace_back(it->second.data(), it->second.size());
    }
    if (static_cast<int>(calls_.size()) <= failures_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not yet");
    }
    return grpc::Status::OK;
  }

  // endpoint is "127.0.0.1:PORT".
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<v1::DestinationRecord> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> traceparents() const {
    absl::MutexLock lock(&mu_);
    return traceparents_;
  }

 private:
  const int failures_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable absl::Mutex mu_;
  std::vector<v1::DestinationRecord> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> traceparents_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice::testing
