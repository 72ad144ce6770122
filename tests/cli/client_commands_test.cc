// Tests of the client subcommands end to end against a fake in-process
// server that implements the public API with canned answers.
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sluice/v1/functions.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/cli/cli_runner.h"

namespace sluice::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// FakeFunctions records deploys and answers Get/List/Delete from fixed data.
class FakeFunctions final : public v1::Functions::Service {
 public:
  grpc::Status Deploy(grpc::ServerContext*, grpc::ServerReader<v1::DeployRequest>* reader,
                      v1::DeployResponse* response) override {
    v1::DeployRequest request;
    if (!reader->Read(&request) || !request.has_spec()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec first");
    }
    std::lock_guard lock(mu_);
    DeployRecord record;
    record.spec = request.spec();
    while (reader->Read(&request)) {
      record.artifact += request.chunk();
      record.largest_chunk = std::max(record.largest_chunk, request.chunk().size());
      ++record.chunks;
    }
    if (record.spec.spec().name() == "rejected") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec.concurrency: 5000 too large");
    }
    deploys_.push_back(record);
    v1::Function& function = *response->mutable_function();
    *function.mutable_spec() = record.spec.spec();
    function.set_version(deploys_.size());
    function.set_sha256(record.spec.sha256());
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext*, const v1::GetFunctionRequest* request,
                   v1::Function* function) override {
    if (request->name() != "echo") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "function \"" + request->name() + "\" not found");
    }
    function->mutable_spec()->set_name("echo");
    function->set_version(request->version() == 0 ? 7 : request->version());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListFunctionsRequest*,
                    v1::ListFunctionsResponse* response) override {
    v1::Function& function = *response->add_functions();
    function.mutable_spec()->set_name("echo");
    function.mutable_spec()->set_runtime(v1::RUNTIME_NATIVE);
    function.set_version(2);
    function.set_sha256("aaaabbbbccccddddeeee");
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext*, const v1::DeleteFunctionRequest* request,
                      v1::DeleteFunctionResponse* response) override {
    if (request->name() != "echo") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such");
    response->set_versions_deleted(2);
    return grpc::Status::OK;
  }

  struct DeployRecord {
    v1::DeploySpec spec;
    std::string artifact;
    size_t chunks = 0;
    size_t largest_chunk = 0;
  };

  std::vector<DeployRecord> deploys() {
    std::lock_guard lock(mu_);
    return deploys_;
  }

 private:
  std::mutex mu_;
  std::vector<DeployRecord> deploys_;
};

v1::Invocation MakeInvocation(const std::string& id, v1::InvocationState state) {
  v1::Invocation invocation;
  invocation.set_id(id);
  invocation.set_function("echo");
  invocation.set_version(1);
  invocation.set_state(state);
  return invocation;
}

void AddChange(v1::Invocation& invocation, v1::InvocationState state, const std::string& reason) {
  v1::StateChange& change = *invocation.add_timeline();
  change.set_state(state);
  change.set_reason(reason);
  change.mutable_time()->set_seconds(1714564800 + invocation.timeline_size());
  invocation.set_state(state);
}

// FakeInvocations answers by function name or invocation id:
//   function "echo" echoes the payload, "fail" fails as the function,
//   "missing" is NOT_FOUND, "busy" RESOURCE_EXHAUSTED;
//   invocation "inv-ok" succeeds, "inv-fail" fails, "inv-cut" is cut short;
//   List serves kListed invocations in pages of at most kPageCap.
class FakeInvocations final : public v1::Invocations::Service {
 public:
  static constexpr int kListed = 5;
  static constexpr int kPageCap = 2;

  grpc::Status Invoke(grpc::ServerContext* context, const v1::InvokeRequest* request,
                      v1::InvokeResponse* response) override {
    Record(*request);
    if (request->function() == "fail") {
      context->AddTrailingMetadata("sluice-error-type", "ValueError");
      return grpc::Status(grpc::StatusCode::UNKNOWN, "ValueError: bad input");
    }
    if (request->function() == "missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "function \"missing\" not found");
    }
    if (request->function() == "busy") {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue of busy is full");
    }
    response->set_output(request->payload());
    response->set_version(1);
    return grpc::Status::OK;
  }

  grpc::Status InvokeAsync(grpc::ServerContext*, const v1::InvokeRequest* request,
                           v1::InvokeAsyncResponse* response) override {
    Record(*request);
    response->set_invocation_id("inv-42");
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext*, const v1::GetInvocationRequest* request,
                   v1::Invocation* invocation) override {
    if (request->id() != "inv-ok") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such id");
    *invocation = Succeeded();
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext*, const v1::WatchInvocationRequest* request,
                     grpc::ServerWriter<v1::Invocation>* writer) override {
    v1::Invocation invocation = MakeInvocation(request->id(), v1::PENDING);
    AddChange(invocation, v1::PENDING, "queued");
    if (request->id() == "inv-missing") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no");
    writer->Write(invocation);
    if (request->id() == "inv-cut") return grpc::Status::OK;
    AddChange(invocation, v1::RUNNING, "attempt 1 started");
    writer->Write(invocation);
    if (request->id() == "inv-fail") {
      AddChange(invocation, v1::FAILED, "attempt 1 failed");
      invocation.mutable_error()->set_type("Timeout");
      invocation.mutable_error()->set_message("took longer than 1s");
    } else {
      AddChange(invocation, v1::SUCCEEDED, "attempt 1 succeeded");
      invocation.set_output("done!");
    }
    writer->Write(invocation);
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListInvocationsRequest* request,
                    v1::ListInvocationsResponse* response) override {
    {
      std::lock_guard lock(mu_);
      list_requests_.push_back(*request);
    }
    int start = request->page_token().empty() ? 0 : std::stoi(request->page_token());
    const int end =
        std::min({kListed, start + static_cast<int>(request->page_size()), start + kPageCap});
    for (int i = start; i < end; ++i) {
      *response->add_invocations() = MakeInvocation("inv-" + std::to_string(i), v1::SUCCEEDED);
    }
    if (end < kListed) response->set_next_page_token(std::to_string(end));
    return grpc::Status::OK;
  }

  grpc::Status Cancel(grpc::ServerContext*, const v1::CancelInvocationRequest* request,
                      v1::Invocation* invocation) override {
    if (request->id() == "inv-ok") {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "inv-ok has already finished");
    }
    *invocation = MakeInvocation(request->id(), v1::CANCELLED);
    return grpc::Status::OK;
  }

  static v1::Invocation Succeeded() {
    v1::Invocation invocation = MakeInvocation("inv-ok", v1::PENDING);
    AddChange(invocation, v1::PENDING, "queued");
    AddChange(invocation, v1::RUNNING, "attempt 1 started");
    AddChange(invocation, v1::SUCCEEDED, "attempt 1 succeeded");
    invocation.set_attempt(1);
    invocation.set_output("result text");
    return invocation;
  }

  v1::InvokeRequest last_request() {
    std::lock_guard lock(mu_);
    return last_request_;
  }
  std::vector<v1::ListInvocationsRequest> list_requests() {
    std::lock_guard lock(mu_);
    return list_requests_;
  }

 private:
  void Record(const v1::InvokeRequest& request) {
    std::lock_guard lock(mu_);
    last_request_ = request;
  }

  std::mutex mu_;
  v1::InvokeRequest last_request_;
  std::vector<v1::ListInvocationsRequest> list_requests_;
};

class ClientCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&functions_);
    builder.RegisterService(&invocations_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override { server_->Shutdown(); }

  // Sluice runs a client command against the fake server.
  CliResult Sluice(std::vector<std::string> args, const std::string& stdin_text = "",
                   bool stdin_is_tty = true) {
    args.insert(args.begin(), {"--server", address_});
    return RunSluice(args, stdin_text, stdin_is_tty);
  }

  std::string TempFile(const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }

  FakeFunctions functions_;
  FakeInvocations invocations_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(ClientCommandsTest, InvokePrintsTheOutputBytesUnchanged) {
  const CliResult result = Sluice({"invoke", "echo", "--data", "hi\nthere"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "hi\nthere");
  EXPECT_THAT(result.err, IsEmpty());
}

TEST_F(ClientCommandsTest, InvokeSendsVersionMetadataAndStdin) {
  const CliResult result = Sluice(
      {"invoke", "echo", "--version", "3", "--meta", "a=1", "--meta", "b=2"}, "piped", false);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const v1::InvokeRequest request = invocations_.last_request();
  EXPECT_EQ(request.function(), "echo");
  EXPECT_EQ(request.version(), 3u);
  EXPECT_EQ(request.payload(), "piped");
  EXPECT_EQ(request.metadata().at("a"), "1");
  EXPECT_EQ(request.metadata().at("b"), "2");
}

TEST_F(ClientCommandsTest, InvokeDataFromFile) {
  const std::string bytes("\x00\x01payload", 9);
  const CliResult result = Sluice({"invoke", "echo", "--data", "@" + TempFile("in.bin", bytes)});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(invocations_.last_request().payload(), bytes);
  EXPECT_EQ(result.out, bytes);
}

TEST_F(ClientCommandsTest, FunctionErrorExitsOne) {
  const CliResult result = Sluice({"invoke", "fail", "--data", "x"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "error: function failed: ValueError: bad input\n");
  EXPECT_THAT(result.out, IsEmpty());
}

TEST_F(ClientCommandsTest, ServerErrorsMapToExitCodes) {
  CliResult result = Sluice({"invoke", "missing", "--data", "x"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, AllOf(StartsWith("error: "), HasSubstr("\"missing\" not found")));

  result = Sluice({"invoke", "busy", "--data", "x"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, HasSubstr("overloaded"));

  result = Sluice({"cancel", "inv-ok"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, HasSubstr("already finished"));
}

TEST_F(ClientCommandsTest, UnreachableServerExitsFourNamingTheAddress) {
  server_->Shutdown();
  const CliResult result = Sluice({"invoke", "echo", "--data", "x"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, AllOf(HasSubstr(address_), HasSubstr("SLUICE_SERVER")));
}

TEST_F(ClientCommandsTest, AsyncPrintsTheInvocationId) {
  CliResult result = Sluice({"invoke", "echo", "--async", "--data", "x"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "inv-42\n");

  result = Sluice({"invoke", "echo", "--async", "--data", "x", "-o", "json"});
  EXPECT_EQ(result.out, "{\"invocationId\":\"inv-42\"}\n");
}

TEST_F(ClientCommandsTest, GetShowsTheTimelineAndOutput) {
  const CliResult result = Sluice({"get", "inv-ok"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, AllOf(HasSubstr("function:     echo@1"), HasSubstr("SUCCEEDED"),
                                HasSubstr("PENDING    queued"), HasSubstr("result text")));
  EXPECT_EQ(Sluice({"get", "inv-nope"}).exit_code, 3);
}

TEST_F(ClientCommandsTest, WatchPrintsEachChangeAndExitsByTerminalState) {
  CliResult result = Sluice({"watch", "inv-ok"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("PENDING    queued\n"));
  EXPECT_THAT(result.out, HasSubstr("RUNNING    attempt 1 started\n"));
  EXPECT_THAT(result.out, HasSubstr("SUCCEEDED  attempt 1 succeeded\n"));
  EXPECT_THAT(result.out, HasSubstr("done!"));
  // Each change printed once although every snapshot repeats the timeline.
  EXPECT_EQ(result.out.find("queued"), result.out.rfind("queued"));

  result = Sluice({"watch", "inv-fail"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, HasSubstr("FAILED     attempt 1 failed"));
  EXPECT_EQ(result.err, "error: function failed: Timeout: took longer than 1s\n");

  result = Sluice({"watch", "inv-cut"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, HasSubstr("before the invocation finished"));

  EXPECT_EQ(Sluice({"watch", "inv-missing"}).exit_code, 3);
}

TEST_F(ClientCommandsTest, WatchJsonPrintsOneObjectPerUpdate) {
  const CliResult result = Sluice({"-o", "json", "watch", "inv-ok"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 3);
  EXPECT_THAT(result.out, StartsWith("{\"id\":\"inv-ok\""));
}

TEST_F(ClientCommandsTest, InvocationsFollowsPagesUpToTheLimit) {
  CliResult result =
      Sluice({"invocations", "--limit", "4", "--function", "echo", "--state", "succeeded"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("ID     FUNCTION  VERSION  STATE      ATTEMPT  CREATED\n"));
  EXPECT_THAT(result.out, HasSubstr("inv-3"));
  EXPECT_THAT(result.out, ::testing::Not(HasSubstr("inv-4")));
  // Two pages of two: the second asks only for what the limit leaves.
  std::vector<v1::ListInvocationsRequest> requests = invocations_.list_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].page_size(), 4u);
  EXPECT_EQ(requests[0].function(), "echo");
  EXPECT_EQ(requests[0].state(), v1::SUCCEEDED);
  EXPECT_EQ(requests[1].page_token(), "2");
  EXPECT_EQ(requests[1].page_size(), 2u);
  EXPECT_EQ(requests[1].function(), "echo");

  result = Sluice({"-o", "json", "invocations", "--limit", "100"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1);
  EXPECT_THAT(result.out, AllOf(HasSubstr("\"invocations\":["), HasSubstr("inv-4")));
}

TEST_F(ClientCommandsTest, InvocationsStopsWhenThereAreNoMorePages) {
  const CliResult result = Sluice({"invocations"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("inv-4"));
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1 + FakeInvocations::kListed);
  EXPECT_EQ(invocations_.list_requests().size(), 3u);
}

TEST_F(ClientCommandsTest, DeployStreamsSpecThenChunks) {
  const std::string artifact(2 * 1024 * 1024 + 10, 'x');
  const CliResult result = Sluice({"deploy", "echo", "--artifact", TempFile("libecho.so", artifact),
                                   "--concurrency", "8", "--timeout", "10s", "--env", "K=V"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::vector<FakeFunctions::DeployRecord> deploys = functions_.deploys();
  ASSERT_EQ(deploys.size(), 1u);
  const FakeFunctions::DeployRecord& deploy = deploys[0];
  EXPECT_EQ(deploy.artifact, artifact);
  EXPECT_EQ(deploy.chunks, 3u);
  EXPECT_EQ(deploy.largest_chunk, 1024u * 1024u);
  EXPECT_EQ(deploy.spec.artifact_size(), artifact.size());
  EXPECT_EQ(deploy.spec.sha256().size(), 64u);
  EXPECT_EQ(deploy.spec.spec().name(), "echo");
  EXPECT_EQ(deploy.spec.spec().concurrency(), 8u);
  EXPECT_EQ(deploy.spec.spec().timeout().seconds(), 10);
  EXPECT_EQ(deploy.spec.spec().env().at("K"), "V");
  EXPECT_EQ(result.out, "deployed echo version 1 sha256 " + deploy.spec.sha256() + "\n");
}

TEST_F(ClientCommandsTest, DeployManifestDeploysEveryFunction) {
  TempFile("liba.so", "aaa");
  TempFile("libb.so", "bbb");
  const std::string manifest =
      TempFile("sluice.yaml",
               "functions:\n"
               "  - {name: a, runtime: native, artifact: liba.so}\n"
               "  - {name: b, runtime: native, artifact: libb.so, timeout: 500ms}\n");
  const CliResult result = Sluice({"deploy", "-f", manifest});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::vector<FakeFunctions::DeployRecord> deploys = functions_.deploys();
  ASSERT_EQ(deploys.size(), 2u);
  EXPECT_EQ(deploys[0].artifact, "aaa");
  EXPECT_EQ(deploys[1].artifact, "bbb");
  EXPECT_EQ(deploys[1].spec.spec().timeout().nanos(), 500000000);
  EXPECT_THAT(result.out,
              AllOf(HasSubstr("deployed a version 1"), HasSubstr("deployed b version 2")));
}

TEST_F(ClientCommandsTest, DeployFailuresReportAndStop) {
  CliResult result = Sluice({"deploy", "rejected", "--artifact", TempFile("librejected.so", "r")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("deploying rejected: spec.concurrency"));

  result = Sluice({"deploy", "echo", "--artifact", TempFile("dir-does-not", "") + ".missing"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("no such file"));
  EXPECT_TRUE(functions_.deploys().empty());
}

TEST_F(ClientCommandsTest, ListDescribeRemove) {
  CliResult result = Sluice({"ls"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("NAME  VERSION  RUNTIME"));
  EXPECT_THAT(result.out, HasSubstr("echo  2        native"));
  EXPECT_THAT(result.out, HasSubstr("aaaabbbbcccc "));

  result = Sluice({"describe", "echo", "--version", "4"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("version:      4\n"));
  EXPECT_EQ(Sluice({"describe", "nope"}).exit_code, 3);

  result = Sluice({"rm", "echo"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "deleted echo (2 versions)\n");

  result = Sluice({"-o", "json", "ls"});
  EXPECT_THAT(result.out, StartsWith("{\"functions\":[{"));
}

TEST_F(ClientCommandsTest, GlobalOptionsMayFollowTheSubcommand) {
  std::vector<std::string> args = {"cancel", "inv-7", "--server", address_, "-o", "json"};
  const CliResult result = RunSluice(args);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"state\":\"CANCELLED\""));
}

}  // namespace
}  // namespace sluice::cli
