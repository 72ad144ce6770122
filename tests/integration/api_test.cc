// The public gRPC API of a real `sluice serve` process.
#include <sys/wait.h>

#include <filesystem>
#include <set>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using testing::ServerProcess;

class ApiTest : public testing::ServerTest {
 protected:
  ApiTest() : ServerTest({"--max-payload-bytes", "65536"}) {}

  grpc::Status Invoke(const std::string& function, const std::string& payload,
                      v1::InvokeResponse* response, grpc::ClientContext* context = nullptr) {
    grpc::ClientContext local;
    if (context == nullptr) context = &local;
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload(payload);
    return invocations_->Invoke(context, request, response);
  }

  std::string InvokeAsync(const std::string& function, const std::string& payload) {
    grpc::ClientContext context;
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload(payload);
    v1::InvokeAsyncResponse response;
    grpc::Status s = invocations_->InvokeAsync(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.invocation_id();
  }
};

TEST_F(ApiTest, DeployThenInvokeSyncAndAsyncAndWatch) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "echo", "echo", &deployed).ok());
  EXPECT_EQ(deployed.function().version(), 1u);
  EXPECT_EQ(deployed.function().sha256().size(), 64u);

  v1::InvokeResponse sync;
  ASSERT_TRUE(Invoke("echo", "hello", &sync).ok());
  EXPECT_EQ(sync.output(), "hello");
  EXPECT_EQ(sync.version(), 1u);

  const std::string id = InvokeAsync("echo", "later");
  ASSERT_FALSE(id.empty());
  grpc::ClientContext watch_context;
  v1::WatchInvocationRequest watch;
  watch.set_id(id);
  auto reader = invocations_->Watch(&watch_context, watch);
  std::vector<v1::InvocationState> states;
  v1::Invocation update;
  while (reader->Read(&update)) states.push_back(update.state());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), v1::SUCCEEDED);
  EXPECT_EQ(update.output(), "later");

  v1::Invocation got;
  ASSERT_TRUE(testing::GetInvocation(*invocations_, id, &got).ok());
  EXPECT_EQ(got.state(), v1::SUCCEEDED);
  EXPECT_EQ(got.timeline_size(), 3);

  grpc::ClientContext list_context;
  v1::ListInvocationsRequest list;
  list.set_function("echo");
  list.set_state(v1::SUCCEEDED);
  v1::ListInvocationsResponse listed;
  ASSERT_TRUE(invocations_->List(&list_context, list, &listed).ok());
  ASSERT_EQ(listed.invocations_size(), 1);
  EXPECT_EQ(listed.invocations(0).id(), id);
  EXPECT_TRUE(listed.invocations(0).payload().empty());

  grpc::ClientContext fn_context;
  v1::ListFunctionsResponse fns;
  ASSERT_TRUE(functions_->List(&fn_context, {}, &fns).ok());
  ASSERT_EQ(fns.functions_size(), 1);
  EXPECT_EQ(fns.functions(0).spec().name(), "echo");
}

TEST_F(ApiTest, ListPagesThroughInvocations) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "echo", "echo", &deployed).ok());
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) ids.insert(InvokeAsync("echo", "x"));
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    grpc::ClientContext context;
    v1::ListInvocationsRequest request;
    request.set_page_size(3);
    request.set_page_token(token);
    v1::ListInvocationsResponse response;
    ASSERT_TRUE(invocations_->List(&context, request, &response).ok());
    for (const auto& inv : response.invocations()) seen.insert(inv.id());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(pages, 3);
}

TEST_F(ApiTest, FunctionErrorReachesTheCallerWithItsType) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "fail", "fail", &deployed).ok());
  grpc::ClientContext context;
  v1::InvokeResponse response;
  grpc::Status s = Invoke("fail", "", &response, &context);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(s.error_message(), "AlwaysFails: attempt 1 failed on purpose");
  auto type = context.GetServerTrailingMetadata().find("sluice-error-type");
  ASSERT_NE(type, context.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(type->second.data(), type->second.size()), "AlwaysFails");
}

TEST_F(ApiTest, HealthAndReflectionAreServed) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, {}, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext reflection_context;
  auto stream = reflection->ServerReflectionInfo(&reflection_context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::set<std::string> services;
  for (const auto& s : listed.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.count("sluice.v1.Functions"));
  EXPECT_TRUE(services.count("sluice.v1.Invocations"));
  while (stream->Read(&listed)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ApiTest, UnknownNamesAndIdsAreNotFound) {
  v1::InvokeResponse response;
  grpc::Status s = Invoke("missing", "", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"missing\""));
  v1::Invocation inv;
  EXPECT_EQ(
      testing::GetInvocation(*invocations_, "inv_000000000000ffffffffffffffff", &inv).error_code(),
      grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext context;
  v1::GetFunctionRequest get;
  get.set_name("missing");
  v1::Function f;
  EXPECT_EQ(functions_->Get(&context, get, &f).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext watch_context;
  v1::WatchInvocationRequest watch;
  watch.set_id("inv_000000000000ffffffffffffffff");
  auto reader = invocations_->Watch(&watch_context, watch);
  while (reader->Read(&inv)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ApiTest, InvalidNamesAndSpecsAreInvalidArgumentNamingTheField) {
  v1::DeployResponse deployed;
  v1::FunctionSpec spec;
  spec.set_concurrency(100000);
  grpc::Status s = testing::DeployExample(*functions_, "ok-name", "echo", &deployed, spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.concurrency"));
  s = testing::DeployExample(*functions_, "Bad Name", "echo", &deployed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec.name"));
  v1::InvokeResponse response;
  s = Invoke("Bad Name", "", &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("function"));
  v1::Invocation inv;
  s = testing::GetInvocation(*invocations_, "not-an-id", &inv);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("id"));
  // A deploy stream that opens with a chunk instead of the spec.
  grpc::ClientContext context;
  auto writer = functions_->Deploy(&context, &deployed);
  v1::DeployRequest chunk;
  chunk.set_chunk("bytes");
  writer->Write(chunk);
  writer->WritesDone();
  s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("spec"));
}

TEST_F(ApiTest, BadArtifactIsRefusedAndThePreviousVersionStaysInService) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "greet", "echo", &deployed).ok());
  v1::FunctionSpec spec;
  spec.set_name("greet");
  grpc::Status s = testing::Deploy(*functions_, spec, "this is not an ELF file", &deployed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not a loadable shared object"));
  spec.set_entry_point("missing_entry");
  s = testing::Deploy(*functions_, spec, testing::ReadFileOrDie(testing::ExamplePath("wordcount")),
                      &deployed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("missing_entry"));
  v1::InvokeResponse response;
  ASSERT_TRUE(Invoke("greet", "still echo", &response).ok());
  EXPECT_EQ(response.output(), "still echo");
  EXPECT_EQ(response.version(), 1u);
}

TEST_F(ApiTest, PayloadOverTheLimitIsRefused) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "echo", "echo", &deployed).ok());
  v1::InvokeResponse response;
  grpc::Status s = Invoke("echo", std::string(65537, 'x'), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("payload: 65537 bytes is over the limit of 65536"));
  ASSERT_TRUE(Invoke("echo", std::string(65536, 'x'), &response).ok());
}

TEST_F(ApiTest, ClientThatDisconnectsMidUploadLeavesNothingDeployed) {
  const std::string artifact = testing::ReadFileOrDie(testing::ExamplePath("echo"));
  {
    grpc::ClientContext context;
    v1::DeployResponse deployed;
    auto writer = functions_->Deploy(&context, &deployed);
    v1::DeployRequest first;
    first.mutable_spec()->mutable_spec()->set_name("half");
    writer->Write(first);
    v1::DeployRequest part;
    part.set_chunk(artifact.substr(0, artifact.size() / 2));
    writer->Write(part);
    context.TryCancel();
    EXPECT_FALSE(writer->Finish().ok());
  }
  {
    // A stream that ends cleanly but short of the declared size.
    v1::DeployResponse deployed;
    grpc::ClientContext context;
    auto writer = functions_->Deploy(&context, &deployed);
    v1::DeployRequest first;
    first.mutable_spec()->mutable_spec()->set_name("half");
    first.mutable_spec()->set_artifact_size(artifact.size());
    writer->Write(first);
    v1::DeployRequest part;
    part.set_chunk(artifact.substr(0, artifact.size() / 2));
    writer->Write(part);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("incomplete"));
  }
  grpc::ClientContext context;
  v1::GetFunctionRequest get;
  get.set_name("half");
  v1::Function f;
  EXPECT_EQ(functions_->Get(&context, get, &f).error_code(), grpc::StatusCode::NOT_FOUND);
  // No artifact was stored, and no upload was left behind.
  const std::string artifacts = dir_ + "/data/artifacts";
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(artifacts)) {
    files += e.is_regular_file();
  }
  EXPECT_EQ(files, 0u);
}

TEST_F(ApiTest, MetricsCountInvocations) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "echo", "echo", &deployed).ok());
  ASSERT_TRUE(testing::DeployExample(*functions_, "fail", "fail", &deployed).ok());
  v1::InvokeResponse response;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Invoke("echo", "x", &response).ok());
  EXPECT_FALSE(Invoke("fail", "x", &response).ok());
  auto body = testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body,
              HasSubstr("sluice_invocations_total{function=\"echo\",outcome=\"success\"} 3"));
  EXPECT_THAT(*body, HasSubstr("sluice_invocations_total{function=\"fail\",outcome=\"error\"} 1"));
  EXPECT_THAT(*body, HasSubstr("sluice_invocation_duration_seconds_count{function=\"echo\"} 3"));
  EXPECT_THAT(*body, HasSubstr("sluice_queue_depth{function=\"echo\"} 0"));
}

TEST_F(ApiTest, WatcherThatGoesAwayLeavesTheServerServing) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "sleep", "sleep", &deployed).ok());
  const std::string id = InvokeAsync("sleep", "60000");
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    v1::WatchInvocationRequest watch;
    watch.set_id(id);
    auto reader = invocations_->Watch(&context, watch);
    v1::Invocation update;
    if (i % 2 == 0) {
      ASSERT_TRUE(reader->Read(&update));  // the other half cancel before the first read
    }
    context.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  grpc::ClientContext context;
  v1::CancelInvocationRequest cancel;
  cancel.set_id(id);
  v1::Invocation cancelled;
  ASSERT_TRUE(invocations_->Cancel(&context, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::CANCELLED);
}

TEST_F(ApiTest, SyncCallerThatGoesAwayFreesItsSlot) {
  v1::DeployResponse deployed;
  v1::FunctionSpec spec;
  spec.set_concurrency(1);
  ASSERT_TRUE(testing::DeployExample(*functions_, "sleep", "sleep", &deployed, spec).ok());
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    v1::InvokeResponse response;
    EXPECT_EQ(Invoke("sleep", "60000", &response, &context).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // The sleeping function was told to stop, so the only slot frees up.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::InvokeResponse response;
  ASSERT_TRUE(Invoke("sleep", "1", &response, &context).ok());
  EXPECT_EQ(response.output(), "slept 1 ms");
}

TEST_F(ApiTest, SigtermStopsTheServerCleanly) {
  const int status = server_->Stop();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace sluice
