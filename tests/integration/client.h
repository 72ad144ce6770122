// Small gRPC client helpers shared by the integration tests.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
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

// InvokeAsync queues `payload` for `function` (30 s deadline); `*id`, when
// given, gets the invocation id.
inline grpc::Status InvokeAsync(v1::Invocations::Stub& stub, const std::string& function,
                                const std::string& payload, std::string* id = nullptr) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::InvokeRequest request;
  request.set_function(function);
  request.set_payload(payload);
  v1::InvokeAsyncResponse response;
  grpc::Status s = stub.InvokeAsync(&context, request, &response);
  if (id != nullptr) *id = response.invocation_id();
  return s;
}

// ServerTest runs one real `sluice serve` per test, with its own data dir,
// and gRPC stubs to it. Subclasses may pass extra serve flags.
class ServerTest : public ::testing::Test {
 protected:
  explicit ServerTest(std::vector<std::string> serve_flags = {})
      : serve_flags_(std::move(serve_flags)) {}

  void SetUp() override {
    dir_ = MakeTempDir();
    auto server = ServerProcess::Start(dir_ + "/data", serve_flags_, serve_env_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = server_->Channel();
    functions_ = v1::Functions::NewStub(channel_);
    invocations_ = v1::Invocations::NewStub(channel_);
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // DeployOk deploys example `example` as function `name` (with `spec`'s
  // settings), failing the test if that fails.
  void DeployOk(const std::string& name, const std::string& example, v1::FunctionSpec spec = {}) {
    v1::DeployResponse deployed;
    grpc::Status s = DeployExample(*functions_, name, example, &deployed, spec);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // AwaitState waits up to 30 seconds for invocation `id` to be in `state`
  // (failing the test otherwise) and returns it as last read.
  v1::Invocation AwaitState(const std::string& id, v1::InvocationState state) {
    v1::Invocation inv;
    EXPECT_TRUE(
        WaitFor([&] { return GetInvocation(*invocations_, id, &inv).ok() && inv.state() == state; },
                absl::Seconds(30)))
        << id << " is " << v1::InvocationState_Name(inv.state());
    return inv;
  }

  const std::vector<std::string> serve_flags_;
  // Extra environment ("K=V") for the server; set before SetUp runs.
  std::vector<std::string> serve_env_;
  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Functions::Stub> functions_;
  std::unique_ptr<v1::Invocations::Stub> invocations_;
};

}  // namespace sluice::testing
