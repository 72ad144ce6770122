// Tests of destinations that are not functions: their parsing, the
// callback allowlist, and delivery from the outbox over a real engine — a
// topic that chains functions through a trigger, and a real gRPC Callbacks
// server that fails on purpose to be retried.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "monitoring/callback_probe.h"
#include "runtime/callback_deliverer.h"
#include "runtime/destination.h"
#include "runtime/event_publisher.h"
#include "runtime/triggers.h"
#include "sluice/v1/events.grpc.pb.h"
#include "tests/runtime/engine_fixture.h"
#include "tests/support/callback_receiver.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

TEST(DestinationTest, ParsesFunctionsTopicsAndCallbacks) {
  absl::StatusOr<Destination> function = ParseDestination("notify", "f");
  ASSERT_TRUE(function.ok()) << function.status();
  EXPECT_EQ(function->kind, Destination::Kind::kFunction);
  EXPECT_EQ(function->target, "notify");
  absl::StatusOr<Destination> topic = ParseDestination("topic:orders.done", "f");
  ASSERT_TRUE(topic.ok()) << topic.status();
  EXPECT_EQ(topic->kind, Destination::Kind::kTopic);
  EXPECT_EQ(topic->target, "orders.done");
  for (const char* endpoint :
       {"grpc://hooks.example.com:443", "grpc://127.0.0.1:9000", "grpc://[::1]:50051"}) {
    absl::StatusOr<Destination> callback = ParseDestination(endpoint, "f");
    ASSERT_TRUE(callback.ok()) << endpoint << ": " << callback.status();
    EXPECT_EQ(callback->kind, Destination::Kind::kCallback);
    EXPECT_EQ("grpc://" + callback->target, endpoint);
  }
  struct Bad {
    const char* destination;
    const char* message;
  };
  for (const Bad& bad :
       {Bad{"topic:", "names no topic"}, Bad{"topic:Orders", "lower-case"},
        Bad{"grpc://hooks", "is not a callback endpoint"},
        Bad{"grpc://hooks:0", "is not a callback endpoint"},
        Bad{"grpc://hooks:99999", "is not a callback endpoint"},
        Bad{"grpc://ho/oks:80", "is not a callback endpoint"},
        Bad{"http://hooks:80", "is not a destination"}, Bad{"Not A Name", "spec.on_success"}}) {
    absl::StatusOr<Destination> parsed = ParseDestination(bad.destination, "spec.on_success");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad.destination;
    EXPECT_THAT(parsed.status().message(), HasSubstr(bad.message)) << bad.destination;
  }
}

TEST(CallbackAllowlistTest, MatchesHostsAndPortsByPattern) {
  absl::StatusOr<CallbackAllowlist> allowlist =
      CallbackAllowlist::Create({"hooks.example.com:443", "*.internal:*", "LOCALHOST:9000"});
  ASSERT_TRUE(allowlist.ok()) << allowlist.status();
  EXPECT_TRUE(allowlist->Allows("hooks.example.com:443"));
  EXPECT_TRUE(allowlist->Allows("HOOKS.example.com:443"));
  EXPECT_FALSE(allowlist->Allows("hooks.example.com:444"));
  EXPECT_FALSE(allowlist->Allows("evil.example.com:443"));
  EXPECT_TRUE(allowlist->Allows("billing.internal:8080"));
  EXPECT_FALSE(allowlist->Allows("internal:8080")) << "*.internal needs a subdomain";
  EXPECT_FALSE(allowlist->Allows("billing.internal.evil.com:8080"));
  EXPECT_TRUE(allowlist->Allows("localhost:9000"));
  EXPECT_FALSE(CallbackAllowlist().Allows("localhost:9000")) << "empty allows nothing";

  Destination callback{Destination::Kind::kCallback, "evil.example.com:443"};
  const absl::Status denied = allowlist->Check(callback, "spec.on_failure");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("spec.on_failure: callback endpoint evil.example.com"));
  EXPECT_TRUE(allowlist->Check({Destination::Kind::kTopic, "t"}, "f").ok());

  for (const char* bad : {"hooks", "hooks:port", ":80", "*.:80", "ho/oks:80"}) {
    absl::StatusOr<CallbackAllowlist> refused = CallbackAllowlist::Create({bad});
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

using Receiver = testing::CallbackReceiver;

class CallbacksTest : public EngineFixture {
 protected:
  void SetUp() override {
    EngineFixture::SetUp();
    triggers_ = std::make_unique<TriggerRegistry>(store_.get(), registry_.get(), Clock::Real());
    ASSERT_TRUE(triggers_->Load().ok());
    publisher_ = std::make_unique<EventPublisher>(
        EventPublisherOptions{.dedupe_window = absl::Hours(1), .max_event_bytes = 64 * 1024},
        store_.get(), triggers_.get(), service_.get(), Clock::Real());
  }

  void TearDown() override {
    StopDeliverer();
    publisher_.reset();
    EngineFixture::TearDown();
  }

  // StartDeliverer attaches a deliverer allowing `allow` and starts it.
  void StartDeliverer(std::vector<std::string> allow, uint32_t max_attempts = 10) {
    absl::StatusOr<CallbackAllowlist> allowlist = CallbackAllowlist::Create(std::move(allow));
    ASSERT_TRUE(allowlist.ok()) << allowlist.status();
    deliverer_ = std::make_unique<CallbackDeliverer>(
        CallbackDelivererOptions{.allowlist = *allowlist,
                                 .max_attempts = max_attempts,
                                 .initial_backoff = absl::Milliseconds(10),
                                 .max_backoff = absl::Milliseconds(40)},
        store_.get(), publisher_.get(), &callback_probe_);
    service_->SetCallbackOutbox(deliverer_.get());
    ASSERT_TRUE(deliverer_->Start().ok());
  }

  void StopDeliverer() {
    if (deliverer_ == nullptr) return;
    service_->SetCallbackOutbox(nullptr);
    deliverer_.reset();
  }

  void AllowCallbacks(std::vector<std::string> allow) {
    absl::StatusOr<CallbackAllowlist> allowlist = CallbackAllowlist::Create(std::move(allow));
    ASSERT_TRUE(allowlist.ok()) << allowlist.status();
    registry_->SetCallbackAllowlist(*allowlist);
  }

  // Outbox returns the keys of the deliveries in the store.
  std::vector<std::string> Outbox() {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> entries =
        store_->ScanEntries(Table::kCallbacks, "", 100);
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<std::string> keys;
    if (entries.ok()) {
      for (const auto& [key, value] : *entries) keys.push_back(key);
    }
    return keys;
  }

  // Deliveries returns sluice_callback_deliveries_total{kind, result}.
  double Deliveries(const std::string& kind, const std::string& result) {
    for (const prometheus::MetricFamily& family : metrics_.Collect()) {
      if (family.name != "sluice_callback_deliveries_total") continue;
      for (const prometheus::ClientMetric& metric : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& label : metric.label) labels[label.name] = label.value;
        if (labels["kind"] == kind && labels["result"] == result) return metric.counter.value;
      }
    }
    return 0;
  }

  std::unique_ptr<TriggerRegistry> triggers_;
  std::unique_ptr<EventPublisher> publisher_;
  CallbackProbe callback_probe_{metrics_};
  std::unique_ptr<CallbackDeliverer> deliverer_;
};

TEST_F(CallbacksTest, DeployRefusesCallbacksOutsideTheAllowlist) {
  v1::FunctionSpec spec;
  spec.set_on_failure("grpc://hooks.example.com:443");
  spec.set_name("guarded");
  absl::StatusOr<v1::Function> refused =
      registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath("fail")), "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("not in the server's callback allowlist"));
  EXPECT_FALSE(registry_->Get("guarded", 0).ok()) << "nothing deployed";

  spec.set_on_failure("http://hooks.example.com");
  EXPECT_EQ(registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath("fail")), "")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  AllowCallbacks({"*.example.com:443"});
  spec.set_on_failure("grpc://hooks.example.com:443");
  EXPECT_TRUE(
      registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath("fail")), "").ok());
}

TEST_F(CallbacksTest, ATopicDestinationChainsFunctionsThroughATrigger) {
  v1::FunctionSpec first;
  first.set_on_success("topic:echoed");
  Deploy("first", "echo", first);
  Deploy("second", "echo");
  v1::Trigger trigger;
  trigger.set_name("after-first");
  trigger.set_function("second");
  trigger.mutable_event()->set_topic("echoed");
  trigger.mutable_event()->set_type("sluice.invocation.succeeded");
  ASSERT_TRUE(triggers_->Create(trigger, false).ok());
  StartDeliverer({});

  absl::StatusOr<std::string> parent = InvokeAsync("first", "hello");
  ASSERT_TRUE(parent.ok()) << parent.status();
  AwaitState(*parent, v1::SUCCEEDED);
  std::vector<v1::Invocation> chained;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        InvocationFilter filter;
        filter.function = "second";
        absl::StatusOr<std::vector<v1::Invocation>> found = service_->List(filter);
        if (found.ok()) chained = *found;
        return chained.size() == 1;
      },
      absl::Seconds(10)));
  const v1::Invocation done = AwaitState(chained[0].id(), v1::SUCCEEDED);
  EXPECT_EQ(done.metadata().at("ce-id"), *parent);
  EXPECT_EQ(done.metadata().at("ce-source"), "sluice://functions/first");
  EXPECT_EQ(done.metadata().at("ce-type"), "sluice.invocation.succeeded");
  EXPECT_EQ(done.metadata().at("sluice-topic"), "echoed");
  v1::DestinationRecord record;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(done.payload(), &record).ok())
      << done.payload();
  EXPECT_EQ(record.invocation_id(), *parent);
  EXPECT_EQ(record.function(), "first");
  EXPECT_EQ(record.state(), v1::SUCCEEDED);
  EXPECT_EQ(record.response_payload(), "hello");

  ASSERT_TRUE(testing::WaitFor([&] { return Outbox().empty(); }, absl::Seconds(10)));
  EXPECT_EQ(deliverer_->Pending(), 0u);
  EXPECT_EQ(Deliveries("topic", "delivered"), 1);
}

TEST_F(CallbacksTest, AGrpcCallbackIsRetriedWithBackoffAndCounted) {
  Receiver receiver(/*failures=*/2);
  AllowCallbacks({"127.0.0.1:*"});
  v1::FunctionSpec spec;
  spec.set_on_failure("grpc://" + receiver.endpoint());
  Deploy("failing", "fail", spec);
  StartDeliverer({"127.0.0.1:*"});

  absl::StatusOr<std::string> id = InvokeAsync("failing", "boom");
  ASSERT_TRUE(id.ok()) << id.status();
  AwaitState(*id, v1::FAILED);
  ASSERT_TRUE(testing::WaitFor([&] { return receiver.calls().size() == 3; }, absl::Seconds(10)));
  ASSERT_TRUE(testing::WaitFor([&] { return Outbox().empty(); }, absl::Seconds(10)));
  for (const v1::DestinationRecord& call : receiver.calls()) {
    EXPECT_EQ(call.invocation_id(), *id);
    EXPECT_EQ(call.function(), "failing");
    EXPECT_EQ(call.state(), v1::FAILED);
    EXPECT_EQ(call.error().type(), "AlwaysFails");
    EXPECT_EQ(call.request_payload(), "boom");
  }
  EXPECT_EQ(Deliveries("grpc", "retried"), 2);
  EXPECT_EQ(Deliveries("grpc", "delivered"), 1);
  EXPECT_EQ(receiver.calls().size(), 3u) << "no delivery after success";
  for (const std::string& traceparent : receiver.traceparents()) {
    EXPECT_EQ(TraceIdOf(traceparent), TraceIdOf(service_->Get(*id)->traceparent()));
  }
}

TEST_F(CallbacksTest, ADeliveryIsGivenUpAfterItsAttempts) {
  Receiver receiver(/*failures=*/100);
  AllowCallbacks({"127.0.0.1:*"});
  v1::FunctionSpec spec;
  spec.set_on_success("grpc://" + receiver.endpoint());
  Deploy("echoing", "echo", spec);
  StartDeliverer({"127.0.0.1:*"}, /*max_attempts=*/3);

  absl::StatusOr<std::string> id = InvokeAsync("echoing", "x");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(
      testing::WaitFor([&] { return Deliveries("grpc", "failed") == 1; }, absl::Seconds(10)));
  EXPECT_EQ(receiver.calls().size(), 3u);
  EXPECT_EQ(Deliveries("grpc", "retried"), 2);
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(CallbacksTest, AnEndpointNoLongerAllowedIsRefusedWithoutACall) {
  Receiver receiver(/*failures=*/0);
  AllowCallbacks({"127.0.0.1:*"});
  v1::FunctionSpec spec;
  spec.set_on_success("grpc://" + receiver.endpoint());
  Deploy("echoing", "echo", spec);
  // A later start of the server with a narrower allowlist.
  StartDeliverer({"hooks.example.com:443"});

  absl::StatusOr<std::string> id = InvokeAsync("echoing", "x");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(
      testing::WaitFor([&] { return Deliveries("grpc", "refused") == 1; }, absl::Seconds(10)));
  EXPECT_TRUE(receiver.calls().empty());
  EXPECT_TRUE(Outbox().empty());
}

TEST_F(CallbacksTest, DeliveriesWrittenWhileNoDelivererRanAreDeliveredAtStart) {
  Receiver receiver(/*failures=*/0);
  AllowCallbacks({"127.0.0.1:*"});
  v1::FunctionSpec spec;
  spec.set_on_success("grpc://" + receiver.endpoint());
  Deploy("echoing", "echo", spec);

  // No deliverer: the end of the invocation writes the delivery anyway.
  absl::StatusOr<std::string> id = InvokeAsync("echoing", "kept");
  ASSERT_TRUE(id.ok()) << id.status();
  AwaitState(*id, v1::SUCCEEDED);
  EXPECT_THAT(Outbox(), ::testing::ElementsAre(*id));

  StartDeliverer({"127.0.0.1:*"});
  ASSERT_TRUE(testing::WaitFor([&] { return Outbox().empty(); }, absl::Seconds(10)));
  ASSERT_EQ(receiver.calls().size(), 1u);
  EXPECT_EQ(receiver.calls()[0].invocation_id(), *id);
  EXPECT_EQ(receiver.calls()[0].response_payload(), "kept");
}

}  // namespace
}  // namespace sluice
