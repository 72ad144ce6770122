// Tests of method routes: a real gRPC server with only the RouteService,
// a real invocation engine running in-process functions, and a client
// generated from the client's own proto (shop.v1.Orders).
#include "gateway/route_service.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gateway/invoke_status.h"
#include "gateway/work_pool.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "runtime/route_table.h"
#include "shop/v1/orders.grpc.pb.h"
#include "tests/runtime/engine_fixture.h"

namespace sluice {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

constexpr char kCreate[] = "/shop.v1.Orders/Create";
constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// RouteMap is a RouteTable the tests fill. Thread-safe.
class RouteMap final : public RouteTable {
 public:
  void Set(const std::string& method, const std::string& function) {
    absl::MutexLock lock(&mu_);
    routes_[method] = function;
  }

  std::string FunctionFor(absl::string_view method) const override {
    absl::MutexLock lock(&mu_);
    auto it = routes_.find(method);
    return it == routes_.end() ? "" : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> routes_ ABSL_GUARDED_BY(mu_);
};

// InProcess is the spec of a function run in the test process.
v1::FunctionSpec InProcess(uint32_t concurrency = 4) {
  v1::FunctionSpec spec;
  spec.set_runtime(v1::RUNTIME_NATIVE);
  spec.set_isolation(v1::ISOLATION_NONE);
  spec.set_concurrency(concurrency);
  return spec;
}

std::string ValueOf(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                    const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

shop::v1::CreateOrderRequest Widgets(uint32_t quantity) {
  shop::v1::CreateOrderRequest request;
  request.set_item("widget");
  request.set_quantity(quantity);
  return request;
}

class RouteServiceTest : public EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    if (HasFatalFailure()) return;
    Deploy("echo", "echo", InProcess());
    Deploy("fail", "fail", InProcess());
    // One at a time: a call that runs after a waiting one shows it was stopped.
    Deploy("reveal", "route_test_function", InProcess(/*concurrency=*/1));
    routes_service_ = std::make_unique<RouteService>(service_.get(), &routes_, &pool_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterCallbackGenericService(routes_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = shop::v1::Orders::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_.reset();
    EngineFixture::TearDown();
  }

  // Context returns a client context with a deadline 20 s away.
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  // Create calls Create with `context` and returns the status.
  grpc::Status Create(grpc::ClientContext& context, const shop::v1::CreateOrderRequest& request,
                      shop::v1::Order* order) {
    return stub_->Create(&context, request, order);
  }

  RouteMap routes_;
  WorkPool pool_{2, 100};
  std::unique_ptr<RouteService> routes_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<shop::v1::Orders::Stub> stub_;
};

TEST_F(RouteServiceTest, CreateAnswersTheFunctionsOutputAsTheResponse) {
  routes_.Set(kCreate, "echo");
  auto context = Context();
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(3), &order);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(order.item(), "widget");
  EXPECT_EQ(order.quantity(), 3u);
  EXPECT_THAT(ValueOf(context->GetServerInitialMetadata(), kInvocationIdKey), Not(IsEmpty()));
}

TEST_F(RouteServiceTest, MetadataReachesTheFunctionWithoutTransportAndControlKeys) {
  routes_.Set(kCreate, "reveal");
  auto context = Context();
  context->AddMetadata("x-customer", "alice");
  context->AddMetadata("traceparent", kTraceparent);
  context->AddMetadata(kAsyncKey, "false");
  context->AddMetadata("x-blob-bin", std::string("\x00\x01", 2));
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(order.item(), "widget");
  EXPECT_THAT(order.metadata(), Contains(Pair("x-customer", "alice")));
  for (const auto& [key, value] : order.metadata()) {
    EXPECT_FALSE(absl::StartsWith(key, "grpc-") || absl::StartsWith(key, ":") ||
                 absl::EndsWith(key, "-bin") || key == "traceparent" || key == kAsyncKey)
        << key << ": " << value;
  }
  // The caller's traceparent makes the trace: the function's attempt span
  // belongs to it.
  EXPECT_TRUE(absl::StartsWith(order.traceparent(), absl::StrCat("00-", kTraceId, "-")))
      << order.traceparent();
  EXPECT_EQ(ValueOf(context->GetServerInitialMetadata(), "sluice-trace-id"), kTraceId);
}

TEST_F(RouteServiceTest, FunctionErrorIsUnknownWithItsTypeInTheTrailer) {
  routes_.Set(kCreate, "fail");
  auto context = Context();
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "AlwaysFails: attempt 1 failed on purpose");
  EXPECT_EQ(ValueOf(context->GetServerTrailingMetadata(), kErrorTypeKey), "AlwaysFails");
}

TEST_F(RouteServiceTest, DeadlineShorterThanTheFunctionIsDeadlineExceededAndStopsIt) {
  routes_.Set(kCreate, "reveal");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  context.AddMetadata("x-test-mode", "wait");
  shop::v1::Order order;
  grpc::Status status = Create(context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();

  // The function runs one call at a time: this one runs only once the
  // waiting one was stopped (it would wait 60 s otherwise).
  auto next = Context();
  next->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  status = Create(*next, Widgets(2), &order);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(order.quantity(), 2u);
}

TEST_F(RouteServiceTest, ClientCancelStopsTheFunction) {
  routes_.Set(kCreate, "reveal");
  const std::string started = dir_ + "/started";
  grpc::ClientContext context;
  context.AddMetadata("x-test-mode", "wait");
  context.AddMetadata("x-test-started", started);
  const shop::v1::CreateOrderRequest request = Widgets(1);
  shop::v1::Order order;
  absl::Notification done;
  grpc::Status status;
  stub_->async()->Create(&context, &request, &order, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  ASSERT_TRUE(
      testing::WaitFor([&] { return std::filesystem::exists(started); }, absl::Seconds(20)));
  context.TryCancel();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);

  auto next = Context();
  next->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status next_status = Create(*next, Widgets(2), &order);
  ASSERT_TRUE(next_status.ok()) << next_status.error_code() << ": " << next_status.error_message();
}

TEST_F(RouteServiceTest, UnroutedMethodIsUnimplemented) {
  routes_.Set(kCreate, "echo");
  auto context = Context();
  shop::v1::CancelOrderRequest request;
  request.set_order_id("o-1");
  shop::v1::Order order;
  grpc::Status status = stub_->Cancel(context.get(), request, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("/shop.v1.Orders/Cancel"));
}

TEST_F(RouteServiceTest, ClientStreamingWithASecondMessageIsUnimplemented) {
  routes_.Set("/shop.v1.Orders/Import", "echo");
  auto context = Context();
  shop::v1::Order order;
  std::unique_ptr<grpc::ClientWriter<shop::v1::CreateOrderRequest>> writer =
      stub_->Import(context.get(), &order);
  EXPECT_TRUE(writer->Write(Widgets(1)));
  writer->Write(Widgets(2));  // may fail: the server may have answered already
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("streaming requests are not supported by routes"));
}

TEST_F(RouteServiceTest, NoRequestMessageIsInvalidArgument) {
  routes_.Set("/shop.v1.Orders/Import", "echo");
  auto context = Context();
  shop::v1::Order order;
  std::unique_ptr<grpc::ClientWriter<shop::v1::CreateOrderRequest>> writer =
      stub_->Import(context.get(), &order);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

TEST_F(RouteServiceTest, ServerStreamingGetsOneMessageThenOk) {
  routes_.Set("/shop.v1.Orders/Watch", "echo");
  auto context = Context();
  std::unique_ptr<grpc::ClientReader<shop::v1::Order>> reader =
      stub_->Watch(context.get(), Widgets(5));
  shop::v1::Order order;
  ASSERT_TRUE(reader->Read(&order));
  EXPECT_EQ(order.item(), "widget");
  EXPECT_EQ(order.quantity(), 5u);
  EXPECT_FALSE(reader->Read(&order));
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
}

TEST_F(RouteServiceTest, AsyncAnswersAnEmptyMessageAndTheIdThenTheInvocationSucceeds) {
  routes_.Set(kCreate, "reveal");
  auto context = Context();
  context->AddMetadata(kAsyncKey, "true");
  context->AddMetadata("x-customer", "bob");
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(7), &order);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(order.ByteSizeLong(), 0u);
  const auto& headers = context->GetServerInitialMetadata();
  const std::string id = ValueOf(headers, kInvocationIdKey);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(headers.count(kDeduplicatedKey), 0u);

  const v1::Invocation done = AwaitState(id, v1::SUCCEEDED);
  EXPECT_EQ(done.function(), "reveal");
  EXPECT_THAT(done.metadata(), Contains(Pair("x-customer", "bob")));
  EXPECT_THAT(done.metadata(), Not(Contains(Key(kAsyncKey))));
  shop::v1::Order result;
  ASSERT_TRUE(result.ParseFromString(done.output()));
  EXPECT_EQ(result.item(), "widget");
  EXPECT_EQ(result.quantity(), 7u);
  EXPECT_THAT(result.metadata(), Contains(Pair("x-customer", "bob")));
}

TEST_F(RouteServiceTest, AsyncWithTheSameIdempotencyKeyIsDeduplicated) {
  routes_.Set(kCreate, "echo");
  std::string ids[2];
  std::string deduplicated[2];
  for (int i = 0; i < 2; ++i) {
    auto context = Context();
    context->AddMetadata(kAsyncKey, "1");
    context->AddMetadata(kIdempotencyKey, "order-42");
    shop::v1::Order order;
    grpc::Status status = Create(*context, Widgets(1), &order);
    ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    ids[i] = ValueOf(context->GetServerInitialMetadata(), kInvocationIdKey);
    deduplicated[i] = ValueOf(context->GetServerInitialMetadata(), kDeduplicatedKey);
  }
  ASSERT_FALSE(ids[0].empty());
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(deduplicated[0], "");
  EXPECT_EQ(deduplicated[1], "true");
  EXPECT_EQ(AwaitState(ids[0], v1::SUCCEEDED).idempotency_key(), "order-42");
}

TEST_F(RouteServiceTest, IdempotencyKeyOnASyncCallIsInvalidArgument) {
  routes_.Set(kCreate, "echo");
  auto context = Context();
  context->AddMetadata(kIdempotencyKey, "order-42");
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(kIdempotencyKey));
}

TEST_F(RouteServiceTest, BadAsyncValueIsInvalidArgument) {
  routes_.Set(kCreate, "echo");
  auto context = Context();
  context->AddMetadata(kAsyncKey, "yes");
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(kAsyncKey));
}

TEST_F(RouteServiceTest, RouteToAMissingFunctionIsNotFound) {
  routes_.Set(kCreate, "no-such-function");
  auto context = Context();
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

TEST_F(RouteServiceTest, OversizedRequestIsInvalidArgument) {
  routes_.Set(kCreate, "echo");
  auto context = Context();
  shop::v1::CreateOrderRequest request = Widgets(1);
  request.set_item(std::string(2000, 'w'));  // the engine takes at most 1024 bytes
  shop::v1::Order order;
  grpc::Status status = Create(*context, request, &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
}

TEST_F(RouteServiceTest, DrainingServerIsUnavailable) {
  routes_.Set(kCreate, "echo");
  ASSERT_TRUE(service_->Drain(absl::Now() + absl::Seconds(10)));
  auto context = Context();
  shop::v1::Order order;
  grpc::Status status = Create(*context, Widgets(1), &order);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

}  // namespace
}  // namespace sluice
