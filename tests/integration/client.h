// Small gRPC client helpers shared by the integration tests.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/functions.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/support/server_process.h"

namespace sluice::testing {

// DeployFile deploys `artifact_bytes` as function `name` over the Deploy
// stream, in chunks of `chunk` bytes.
inline grpc::Status Deploy(v1::Functions::Stub& stub, v1::FunctionSpec spec,
                           const std::string& artifact_bytes, v1::DeployResponse* response,
                           size_t chunk = 64 * 1024) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto writer = stub.Deploy(&context, response);
  v1::DeployRequest first;
  *first.mutable_spec()->mutable_spec() = std::move(spec);
  first.mutable_spec()->set_artifact_size(artifact_bytes.size());
  writer->Write(first);
  for (size_t off = 0; off < artifact_bytes.size(); off += chunk) {
    v1::DeployRequest part;
    part.set_chunk(artifact_bytes.substr(off, chunk));
    if (!writer->Write(part)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

inline grpc::Status DeployExample(v1::Functions::Stub& stub, const std::string& name,
                                  const std::string& example, v1::DeployResponse* response,
                                  v1::FunctionSpec spec = {}) {
  spec.set_name(name);
  return Deploy(stub, std::move(spec), ReadFileOrDie(ExamplePath(example)), response);
}

// GetInvocation fetches invocation `id`.
inline grpc::Status GetInvocation(v1::Invocations::Stub& stub, const std::string& id,
                                  v1::Invocation* out) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetInvocationRequest request;
  request.set_id(id);
  return stub.Get(&context, request, out);
}

}  // namespace sluice::testing
