// Triggers against a real `sluice serve`: a manifest's triggers, events
// published with the CLI and fanned out, a gRPC method route called by a
// client generated from the user's own .proto, destinations that publish to
// a topic and call a real gRPC callback endpoint, bad input with precise
// errors, and triggers and event keys that survive a restart.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "shop/v1/orders.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/support/callback_receiver.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using testing::RunResult;
using testing::ServerProcess;

class TriggersCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    const std::string native = "    runtime: native\n    artifact: ";
    manifest_ = dir_ + "/sluice.yaml";
    std::ofstream(manifest_)
        << "functions:\n"
        << "  - name: echo\n"
        << native << testing::ExamplePath("echo") << "\n"
        << "  - name: audit\n"
        << native << testing::ExamplePath("echo") << "\n"
        << "  - name: first\n"
        << native << testing::ExamplePath("echo") << "\n"
        << "    on_success: topic:first-done\n"
        << "  - name: failing\n"
        << native << testing::ExamplePath("fail") << "\n"
        << "    on_failure: grpc://" << receiver_.endpoint() << "\n"
        << "triggers:\n"
        << "  - {name: eu-orders, function: echo, topic: orders, type: order.created,\n"
        << "     filters: [{attribute: subject, prefix: eu/}]}\n"
        << "  - {name: all-orders, function: audit, topic: orders}\n"
        << "  - {name: chain, function: echo, topic: first-done,\n"
        << "     type: sluice.invocation.succeeded}\n"
        << "  - {name: create-order, function: echo, route: /shop.v1.Orders/Create}\n"
        << "  - {name: nightly, function: audit, schedule: '0 2 * * *',\n"
        << "     time_zone: Europe/Berlin, missed: catch-up-once}\n";
    Start();
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start() {
    auto server = ServerProcess::Start(
        dir_ + "/data",
        {"-f", manifest_, "--callback-allow", "127.0.0.1:*", "--max-payload-bytes", "8192"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    invocations_ = v1::Invocations::NewStub(server_->Channel());
  }

  RunResult Sluice(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), testing::BinaryDir() + "/sluice");
    return RunCommand(args, stdin_data, {"SLUICE_SERVER=" + server_->address()});
  }

  // Invocations returns the background invocations of `function`.
  std::vector<v1::Invocation> Invocations(const std::string& function) {
    grpc::ClientContext context;
    v1::ListInvocationsRequest request;
    request.set_function(function);
    v1::ListInvocationsResponse response;
    if (!invocations_->List(&context, request, &response).ok()) return {};
    return {response.invocations().begin(), response.invocations().end()};
  }

  // AwaitFinished waits until `function` has `count` invocations, all
  // ended, and returns them.
  std::vector<v1::Invocation> AwaitFinished(const std::string& function, size_t count) {
    std::vector<v1::Invocation> found;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          found = Invocations(function);
          size_t finished = 0;
          for (const v1::Invocation& inv : found) {
            finished += inv.state() == v1::SUCCEEDED || inv.state() == v1::FAILED;
          }
          return finished == count && found.size() == count;
        },
        absl::Seconds(30)))
        << function << " has " << found.size() << " invocations";
    // List leaves payloads out; Get has them.
    for (v1::Invocation& inv : found) {
      grpc::ClientContext context;
      v1::GetInvocationRequest request;
      request.set_id(inv.id());
      EXPECT_TRUE(invocations_->Get(&context, request, &inv).ok()) << inv.id();
    }
    return found;
  }

  testing::CallbackReceiver receiver_{/*failures=*/1};
  std::string dir_;
  std::string manifest_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::Invocations::Stub> invocations_;
};

TEST_F(TriggersCliTest, PublishedEventsFanOutToMatchingTriggersOnce) {
  RunResult r = Sluice({"triggers", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"eu-orders", "all-orders", "chain", "create-order", "nightly"}) {
    EXPECT_THAT(r.out, HasSubstr(name));
  }

  r = Sluice({"publish", "--topic", "orders", "--type", "order.created", "--source", "/shop",
              "--id", "o-1", "--subject", "eu/berlin", "-d", R"({"n":1})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("published o-1: 2 invocations"));
  r = Sluice({"publish", "--topic", "orders", "--type", "order.created", "--source", "/shop",
              "--id", "o-2", "--subject", "us/ny", "-d", R"({"n":2})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("published o-2: 1 invocation"));
  r = Sluice({"publish", "--topic", "orders", "--type", "order.created", "--source", "/shop",
              "--id", "o-1", "--subject", "eu/berlin", "-d", R"({"n":1})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("duplicate event o-1"));

  const std::vector<v1::Invocation> echoed = AwaitFinished("echo", 1);
  EXPECT_EQ(echoed[0].payload(), R"({"n":1})");
  EXPECT_EQ(echoed[0].metadata().at("ce-subject"), "eu/berlin");
  EXPECT_EQ(echoed[0].metadata().at("sluice-trigger"), "eu-orders");
  EXPECT_EQ(AwaitFinished("audit", 2).size(), 2u);

  // The keys and the triggers are durable: after a restart o-1 is still a
  // repeat, and a trigger made with the CLI is still there.
  r = Sluice({"triggers", "create", "late", "--function", "audit", "--topic", "late"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  server_.reset();
  Start();
  r = Sluice({"publish", "--topic", "orders", "--type", "order.created", "--source", "/shop",
              "--id", "o-1", "--subject", "eu/berlin"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("duplicate event o-1"));
  r = Sluice({"triggers", "ls"});
  EXPECT_THAT(r.out, HasSubstr("late"));
  r = Sluice({"triggers", "rm", "late"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sluice({"triggers", "ls"});
  EXPECT_THAT(r.out, Not(HasSubstr("late")));
}

TEST_F(TriggersCliTest, AGeneratedClientCallsARoutedFunction) {
  auto orders = shop::v1::Orders::NewStub(server_->Channel());
  shop::v1::CreateOrderRequest request;
  request.set_item("book");
  request.set_quantity(3);
  shop::v1::Order order;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const grpc::Status status = orders->Create(&context, request, &order);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // echo answers the request's bytes, which read as an Order.
  EXPECT_EQ(order.item(), "book");
  EXPECT_EQ(order.quantity(), 3u);
  EXPECT_EQ(context.GetServerInitialMetadata().count("sluice-invocation-id"), 1u);

  grpc::ClientContext unrouted;
  shop::v1::CancelOrderRequest cancel;
  EXPECT_EQ(orders->Cancel(&unrouted, cancel, &order).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TriggersCliTest, DestinationsPublishToTopicsAndCallEndpoints) {
  RunResult r = Sluice({"invoke", "first", "--async", "--data", "chained"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string first = r.out;
  first.erase(first.find_last_not_of(" \n") + 1);
  const std::vector<v1::Invocation> chained = AwaitFinished("echo", 1);
  EXPECT_EQ(chained[0].metadata().at("ce-id"), first);
  EXPECT_EQ(chained[0].metadata().at("ce-source"), "sluice://functions/first");
  EXPECT_THAT(chained[0].payload(), HasSubstr(first));

  r = Sluice({"invoke", "failing", "--async", "--data", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string failing = r.out;
  failing.erase(failing.find_last_not_of(" \n") + 1);
  // The receiver fails the first delivery; the retry succeeds.
  ASSERT_TRUE(testing::WaitFor([&] { return receiver_.calls().size() == 2; }, absl::Seconds(30)));
  EXPECT_EQ(receiver_.calls()[1].invocation_id(), failing);
  EXPECT_EQ(receiver_.calls()[1].error().type(), "AlwaysFails");
  std::string metrics;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        absl::StatusOr<std::string> body = testing::HttpGet(server_->metrics_port(), "/metrics");
        metrics = body.ok() ? *body : "";
        return metrics.find(
                   R"(sluice_callback_deliveries_total{kind="grpc",result="delivered"} 1)") !=
               std::string::npos;
      },
      absl::Seconds(10)))
      << metrics;
  EXPECT_THAT(metrics,
              HasSubstr(R"(sluice_callback_deliveries_total{kind="grpc",result="retried"} 1)"));
  EXPECT_THAT(metrics,
              HasSubstr(R"(sluice_callback_deliveries_total{kind="topic",result="delivered"} 1)"));
}

TEST_F(TriggersCliTest, BadInputGetsPreciseErrorsAndChangesNothing) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"triggers", "create", "t1", "--function", "nope", "--topic", "x"},
            "function nope is not deployed"},
           {{"triggers", "create", "t2", "--function", "echo", "--cron", "61 * * * *"},
            "minute \"61\" is out of range 0-59"},
           {{"triggers", "create", "t3", "--function", "echo", "--route",
             "/sluice.v1.Invocations/Invoke"},
            "collides with Sluice's own"},
           {{"triggers", "create", "t4", "--function", "echo", "--route", "/shop.v1.Orders/Create"},
            "already routed by trigger create-order"},
           {{"publish", "--topic", "orders", "--type", "t", "--source", "/s", "-d",
             std::string(10000, 'x')},
            "over the limit"},
           {{"publish", "--topic", "Orders", "--type", "t", "--source", "/s"}, "lower-case"},
       }) {
    RunResult r = Sluice(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args[2];
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args[2];
  }
  // A function a trigger invokes cannot be deleted under it.
  RunResult r = Sluice({"rm", "audit"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("function audit is invoked by trigger all-orders"));
  r = Sluice({"ls"});
  EXPECT_THAT(r.out, HasSubstr("audit"));
  r = Sluice({"triggers", "ls"});
  for (const char* name : {"t1", "t2", "t3", "t4"}) EXPECT_THAT(r.out, Not(HasSubstr(name)));
  EXPECT_TRUE(Invocations("echo").empty());
  EXPECT_TRUE(Invocations("audit").empty());
}

}  // namespace
}  // namespace sluice
