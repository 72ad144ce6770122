// Tests of the client subcommands end to end against a fake in-process
// server that implements the public API with canned answers.
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>

#include "absl/time/time.h"
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
    function->mutable_spec()->mutable_retry()->set_max_attempts(4);
    function->mutable_spec()->mutable_retry()->mutable_initial_backoff()->set_seconds(1);
    function->mutable_spec()->mutable_retry()->mutable_max_backoff()->set_seconds(60);
    function->mutable_spec()->mutable_retry()->set_multiplier(2);
    function->mutable_spec()->mutable_retry()->add_retry_on(v1::RETRY_ON_TIMEOUT);
    function->mutable_spec()->mutable_max_event_age()->set_seconds(3600);
    function->mutable_spec()->set_on_failure("alert");
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
//   invocation "inv-ok" succeeds, "inv-fail" fails, "inv-cut" is cut short,
//   "inv-retrying" waits for its third attempt, "inv-progress" reports
//   progress twice before it succeeds;
//   InvokeAsync with idempotency key "seen" is deduplicated to "inv-first";
//   List serves kListed invocations in pages of at most kPageCap (failed
//   and dead-lettered ones when asked for dead-lettered ones);
//   Redrive of id "inv-dead" or function "echo" queues again, of "inv-ok" is
//   FAILED_PRECONDITION, of anything else NOT_FOUND.
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
    if (request->idempotency_key() == "seen") {
      response->set_invocation_id("inv-first");
      response->set_deduplicated(true);
      return grpc::Status::OK;
    }
    response->set_invocation_id("inv-42");
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext*, const v1::GetInvocationRequest* request,
                   v1::Invocation* invocation) override {
    if (request->id() == "inv-retrying") {
      *invocation = Retrying();
      return grpc::Status::OK;
    }
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
    if (request->id() == "inv-progress") {
      for (const uint32_t percent : {40u, 80u}) {
        v1::Progress& progress = *invocation.mutable_progress();
        progress.set_percent(percent);
        progress.set_message("step " + std::to_string(percent / 20) + " of 5");
        progress.set_attempt(1);
        progress.mutable_time()->set_seconds(invocation.timeline().rbegin()->time().seconds());
        progress.mutable_time()->set_nanos(static_cast<int32_t>(percent) * 10000000);
        writer->Write(invocation);
      }
    }
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
      v1::Invocation& invocation = *response->add_invocations() =
          MakeInvocation("inv-" + std::to_string(i), v1::SUCCEEDED);
      if (request->dead_lettered()) {
        invocation.set_state(v1::FAILED);
        invocation.set_dead_lettered(true);
        invocation.mutable_error()->set_type("Timeout");
      }
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

  grpc::Status Redrive(grpc::ServerContext*, const v1::RedriveRequest* request,
                       v1::RedriveResponse* response) override {
    {
      std::lock_guard lock(mu_);
      redrive_requests_.push_back(*request);
    }
    if (request->id() == "inv-ok") {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "invocation inv-ok is not dead-lettered");
    }
    if (request->id() == "inv-dead") {
      response->add_invocation_ids("inv-dead");
      return grpc::Status::OK;
    }
    if (request->function() == "echo") {
      if (request->error_type() != "Nothing") {
        response->add_invocation_ids("inv-a");
        response->add_invocation_ids("inv-b");
      }
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such invocation or function");
  }

  // Retrying failed its second attempt and waits an hour for its third.
  static v1::Invocation Retrying() {
    v1::Invocation invocation = MakeInvocation("inv-retrying", v1::PENDING);
    AddChange(invocation, v1::PENDING, "queued");
    AddChange(invocation, v1::RUNNING, "attempt 1 started");
    AddChange(invocation, v1::PENDING, "attempt 1 failed: ValueError");
    AddChange(invocation, v1::RUNNING, "attempt 2 started");
    AddChange(invocation, v1::PENDING, "attempt 2 failed: ValueError");
    invocation.set_attempt(2);
    invocation.mutable_retry()->set_max_attempts(5);
    invocation.set_priority(v1::PRIORITY_CRITICAL);
    invocation.set_idempotency_key("order-17");
    invocation.set_parent_id("inv-parent");
    invocation.mutable_next_attempt_at()->set_seconds(absl::ToUnixSeconds(absl::Now()) + 3600);
    invocation.mutable_error()->set_type("ValueError");
    invocation.mutable_error()->set_message("bad input");
    invocation.mutable_progress()->set_percent(60);
    invocation.mutable_progress()->set_message("step 3 of 5");
    return invocation;
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
  std::vector<v1::RedriveRequest> redrive_requests() {
    std::lock_guard lock(mu_);
    return redrive_requests_;
  }

 private:
  void Record(const v1::InvokeRequest& request) {
    std::lock_guard lock(mu_);
    last_request_ = request;
  }

  std::mutex mu_;
  v1::InvokeRequest last_request_;
  std::vector<v1::ListInvocationsRequest> list_requests_;
  std::vector<v1::RedriveRequest> redrive_requests_;
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
  EXPECT_THAT(result.out,
              StartsWith("ID     FUNCTION  VERSION  STATE      ATTEMPT  CREATED  ERROR\n"));
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
  EXPECT_FALSE(requests[0].dead_lettered());

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
  EXPECT_THAT(result.out,
              HasSubstr("retry:        4 attempts, backoff 1s to 1m (x2), retry on timeout\n"));
  EXPECT_THAT(result.out, HasSubstr("max event age: 1h\n"));
  EXPECT_THAT(result.out, HasSubstr("on success:   -\n"));
  EXPECT_THAT(result.out, HasSubstr("on failure:   alert\n"));
  EXPECT_EQ(Sluice({"describe", "nope"}).exit_code, 3);

  result = Sluice({"rm", "echo"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "deleted echo (2 versions)\n");

  result = Sluice({"-o", "json", "ls"});
  EXPECT_THAT(result.out, StartsWith("{\"functions\":[{"));
}

TEST_F(ClientCommandsTest, InvokeSendsPriorityIdempotencyKeyAndMaxAttempts) {
  const CliResult result = Sluice({"invoke", "echo", "--async", "--data", "x", "--priority", "high",
                                   "--idempotency-key", "order-17", "--max-attempts", "7"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "inv-42\n");
  EXPECT_THAT(result.err, IsEmpty());
  const v1::InvokeRequest request = invocations_.last_request();
  EXPECT_EQ(request.priority(), v1::PRIORITY_HIGH);
  EXPECT_EQ(request.idempotency_key(), "order-17");
  EXPECT_EQ(request.retry().max_attempts(), 7u);
  // Only max_attempts is overridden; the rest of the policy stays the
  // function's.
  EXPECT_FALSE(request.retry().has_initial_backoff());

  // A synchronous invoke may carry a priority too.
  EXPECT_EQ(Sluice({"invoke", "echo", "--data", "x", "--priority", "low"}).exit_code, 0);
  EXPECT_EQ(invocations_.last_request().priority(), v1::PRIORITY_LOW);
  EXPECT_FALSE(invocations_.last_request().has_retry());
}

TEST_F(ClientCommandsTest, DeduplicatedAsyncSaysSoOnStderrOnly) {
  CliResult result =
      Sluice({"invoke", "echo", "--async", "--data", "x", "--idempotency-key", "seen"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "inv-first\n");
  EXPECT_THAT(result.err, HasSubstr("idempotency key matched invocation inv-first"));

  result = Sluice(
      {"-o", "json", "invoke", "echo", "--async", "--data", "x", "--idempotency-key", "seen"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "{\"invocationId\":\"inv-first\",\"deduplicated\":true}\n");
}

TEST_F(ClientCommandsTest, IdempotencyKeyAndMaxAttemptsNeedAsync) {
  CliResult result = Sluice({"invoke", "echo", "--data", "x", "--idempotency-key", "k"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--idempotency-key needs --async"));
  result = Sluice({"invoke", "echo", "--data", "x", "--max-attempts", "3"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--max-attempts needs --async"));
  result = Sluice({"invoke", "echo", "--async", "--data", "x", "--priority", "urgent"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--priority \"urgent\" is not one of low, normal, high"));
  // Nothing reached the server.
  EXPECT_EQ(invocations_.last_request().function(), "");
}

TEST_F(ClientCommandsTest, GetShowsRetryStateProgressAndKeys) {
  const CliResult result = Sluice({"get", "inv-retrying"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("state:        PENDING\n"));
  EXPECT_THAT(result.out, HasSubstr("priority:     critical\n"));
  EXPECT_THAT(result.out, HasSubstr("attempt:      2 of 5\n"));
  // About an hour ahead, less the moments the test took.
  EXPECT_THAT(result.out,
              ::testing::ContainsRegex("next attempt: [-0-9T:.]+Z \\(in [0-9]+m[0-9.]+s\\)"));
  EXPECT_THAT(result.out, HasSubstr("last error:   ValueError: bad input\n"));
  EXPECT_THAT(result.out, HasSubstr("progress:     60%  step 3 of 5\n"));
  EXPECT_THAT(result.out, HasSubstr("parent:       inv-parent\n"));
  EXPECT_THAT(result.out, HasSubstr("idempotency key: order-17\n"));
  EXPECT_THAT(result.out, HasSubstr("PENDING    attempt 2 failed: ValueError\n"));
}

TEST_F(ClientCommandsTest, WatchPrintsProgressUpdates) {
  const CliResult result = Sluice({"watch", "inv-progress"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("RUNNING    attempt 1 started\n"
                                    "2024-05-01T12:00:02.400Z  RUNNING    attempt 1  40%  step 2 "
                                    "of 5\n"
                                    "2024-05-01T12:00:02.800Z  RUNNING    attempt 1  80%  step 4 "
                                    "of 5\n"));
  EXPECT_THAT(result.out, HasSubstr("SUCCEEDED  attempt 1 succeeded\n"));
  // The last snapshot repeats the 80% report; it is printed once.
  EXPECT_EQ(result.out.find("80%"), result.out.rfind("80%"));
}

TEST_F(ClientCommandsTest, InvocationsDeadLetteredAsksForThemAndShowsTheErrorType) {
  const CliResult result = Sluice({"invocations", "--dead-lettered", "--limit", "2"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("FAILED  0        -        Timeout (dead-lettered)\n"));
  const std::vector<v1::ListInvocationsRequest> requests = invocations_.list_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].dead_lettered());
}

TEST_F(ClientCommandsTest, RedriveOneById) {
  const CliResult result = Sluice({"redrive", "inv-dead"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "queued 1 invocation again:\n  inv-dead\n");
  const std::vector<v1::RedriveRequest> requests = invocations_.redrive_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].id(), "inv-dead");
  EXPECT_EQ(requests[0].function(), "");
}

TEST_F(ClientCommandsTest, RedriveByFunctionSendsTheFilters) {
  const absl::Time before = absl::Now();
  CliResult result =
      Sluice({"redrive", "--function", "echo", "--error-type", "Timeout", "--created-after", "24h",
              "--created-before", "2024-05-01T12:00:00Z", "--limit", "50"});
  const absl::Time after = absl::Now();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "queued 2 invocations again:\n  inv-a\n  inv-b\n");
  const std::vector<v1::RedriveRequest> requests = invocations_.redrive_requests();
  ASSERT_EQ(requests.size(), 1u);
  const v1::RedriveRequest& request = requests[0];
  EXPECT_EQ(request.id(), "");
  EXPECT_EQ(request.function(), "echo");
  EXPECT_EQ(request.error_type(), "Timeout");
  EXPECT_EQ(request.limit(), 50u);
  EXPECT_EQ(request.created_before().seconds(), 1714564800);
  // "24h" means 24 hours before the command ran.
  const absl::Time created_after = absl::FromUnixSeconds(request.created_after().seconds()) +
                                   absl::Nanoseconds(request.created_after().nanos());
  EXPECT_GE(created_after, before - absl::Hours(24));
  EXPECT_LE(created_after, after - absl::Hours(24));

  result = Sluice({"redrive", "--function", "echo", "--error-type", "Nothing"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "no dead-lettered invocations matched; nothing queued\n");
  EXPECT_FALSE(invocations_.redrive_requests().back().has_created_after());
  EXPECT_FALSE(invocations_.redrive_requests().back().has_created_before());

  result = Sluice({"-o", "json", "redrive", "--function", "echo"});
  EXPECT_EQ(result.out, "{\"invocationIds\":[\"inv-a\",\"inv-b\"]}\n");
}

TEST_F(ClientCommandsTest, RedriveFailuresMapToExitCodes) {
  CliResult result = Sluice({"redrive", "inv-gone"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, HasSubstr("no such invocation"));
  result = Sluice({"redrive", "inv-ok"});
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_THAT(result.err, HasSubstr("not dead-lettered (FAILED_PRECONDITION)"));

  // Bad flags are refused before any call.
  const size_t calls = invocations_.redrive_requests().size();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"redrive"},
           {"redrive", "inv-dead", "--function", "echo"},
           {"redrive", "inv-dead", "--limit", "3"},
           {"redrive", "--error-type", "Timeout"},
           {"redrive", "--function", "echo", "--created-after", "yesterday"},
           {"redrive", "--function", "echo", "--created-before", "2024-05-01"},
       }) {
    result = Sluice(args);
    EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(args);
    EXPECT_THAT(result.err, StartsWith("error: ")) << ::testing::PrintToString(args);
  }
  EXPECT_EQ(invocations_.redrive_requests().size(), calls);
  EXPECT_THAT(Sluice({"redrive", "--function", "echo", "--created-after", "soon"}).err,
              HasSubstr("--created-after \"soon\" is neither an RFC 3339 time"));
}

TEST_F(ClientCommandsTest, DeployRetryFlagsReachTheServer) {
  const CliResult result =
      Sluice({"deploy", "echo", "--artifact", TempFile("libecho.so", "e"), "--max-attempts", "5",
              "--initial-backoff", "200ms", "--retry-on", "crash,timeout", "--retry-on",
              "lease-lost", "--max-event-age", "30m", "--on-success", "notify"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::vector<FakeFunctions::DeployRecord> deploys = functions_.deploys();
  ASSERT_EQ(deploys.size(), 1u);
  const v1::FunctionSpec& spec = deploys[0].spec.spec();
  EXPECT_EQ(spec.retry().max_attempts(), 5u);
  EXPECT_EQ(spec.retry().initial_backoff().nanos(), 200000000);
  EXPECT_EQ(spec.retry().retry_on_size(), 3);
  EXPECT_EQ(spec.max_event_age().seconds(), 1800);
  EXPECT_EQ(spec.on_success(), "notify");
}

TEST_F(ClientCommandsTest, GlobalOptionsMayFollowTheSubcommand) {
  std::vector<std::string> args = {"cancel", "inv-7", "--server", address_, "-o", "json"};
  const CliResult result = RunSluice(args);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"state\":\"CANCELLED\""));
}

}  // namespace
}  // namespace sluice::cli
