// BareInvocations: the baseline the benchmarks measure Sluice against. The
// sluice.v1.Invocations API answered at once with nothing behind it: Invoke
// returns the payload as its output, InvokeAsync a fresh id. Nothing is
// stored, queued or run.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice::bench {

// BareInvocations implements Invoke and InvokeAsync with the callback API,
// as the gateway does; the other methods answer UNIMPLEMENTED. Thread-safe.
class BareInvocations final : public v1::Invocations::CallbackService {
 public:
  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const v1::InvokeRequest* request,
                                   v1::InvokeResponse* response) override {
    response->set_invocation_id(absl::StrCat("inv_", next_id_.fetch_add(1)));
    response->set_version(1);
    response->set_output(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* InvokeAsync(grpc::CallbackServerContext* context,
                                        const v1::InvokeRequest* /*request*/,
                                        v1::InvokeAsyncResponse* response) override {
    response->set_invocation_id(absl::StrCat("inv_", next_id_.fetch_add(1)));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace sluice::bench
