// Tests of GrpcServerProbe: a real gRPC server on 127.0.0.1:0 with the
// probe's interceptor and a small callback service whose answers the test
// chooses, driven by a real client; the metrics are read back through
// Registry::Collect().
#include "monitoring/grpc_server_probe.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "monitoring/buckets.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr char kService[] = "sluice.v1.Invocations";

// Labels of a method's series, in the order Collect() reports them (sorted
// by name).
Labels MethodLabels(const std::string& service, const std::string& method,
                    const std::string& type) {
  return {{"grpc_method", method}, {"grpc_service", service}, {"grpc_type", type}};
}

Labels CodeLabels(const std::string& code, const std::string& service, const std::string& method,
                  const std::string& type) {
  return {
      {"grpc_code", code}, {"grpc_method", method}, {"grpc_service", service}, {"grpc_type", type}};
}

// The series of family `name` whose labels are exactly `labels`; nullopt
// when the family or the series is absent.
std::optional<ClientMetric> FindSeries(const prometheus::Registry& registry,
                                       const std::string& name, MetricType type,
                                       const Labels& labels) {
  for (const MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    EXPECT_EQ(family.type, type) << name;
    for (const ClientMetric& metric : family.metric) {
      if (metric.label == labels) return metric;
    }
  }
  return std::nullopt;
}

// The label sets of every series of family `name`, sorted.
std::vector<Labels> AllSeries(const prometheus::Registry& registry, const std::string& name) {
  std::vector<Labels> all;
  for (const MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const ClientMetric& metric : family.metric) all.push_back(metric.label);
  }
  std::sort(all.begin(), all.end());
  return all;
}

// A counter's value; -1 when the series is absent.
double CounterValue(const prometheus::Registry& registry, const std::string& name,
                    const Labels& labels) {
  std::optional<ClientMetric> series = FindSeries(registry, name, MetricType::Counter, labels);
  return series.has_value() ? series->counter.value : -1;
}

// Get answers with the status its id names ("missing": NOT_FOUND, "full":
// RESOURCE_EXHAUSTED, anything else OK); Cancel answers OK; Watch writes one
// update and holds the stream open until the client cancels it, then
// finishes with OK (a status the client never sees).
class ChosenStatusService final : public v1::Invocations::CallbackService {
 public:
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const v1::GetInvocationRequest* request,
                                v1::Invocation* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (request->id() == "missing") {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such invocation"));
    } else if (request->id() == "full") {
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full"));
    } else {
      response->set_id(request->id());
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::CancelInvocationRequest* request,
                                   v1::Invocation* response) override {
    response->set_id(request->id());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<v1::Invocation>* Watch(
      grpc::CallbackServerContext* /*context*/,
      const v1::WatchInvocationRequest* request) override {
    return new HeldOpen(request->id());
  }

 private:
  // Writes one update, then finishes only when cancelled.
  class HeldOpen final : public grpc::ServerWriteReactor<v1::Invocation> {
   public:
    explicit HeldOpen(const std::string& id) {
      update_.set_id(id);
      StartWrite(&update_);
    }
    void OnWriteDone(bool /*ok*/) override {}
    void OnCancel() override { Finish(grpc::Status::OK); }
    void OnDone() override { delete this; }

   private:
    v1::Invocation update_;
  };
};

class GrpcServerProbeTest : public ::testing::Test {
 protected:
  void TearDown() override { StopServer(); }

  void StartServer(GrpcServerProbeOptions options = {}) {
    probe_ = std::make_unique<GrpcServerProbe>(registry_, options);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(probe_->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
    stub_ = v1::Invocations::NewStub(channel_);
  }

  // Shuts the server down; every call has ended when it returns.
  void StopServer() {
    if (server_ == nullptr) return;
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_->Wait();
    server_.reset();
  }

  grpc::StatusCode Get(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::GetInvocationRequest request;
    request.set_id(id);
    v1::Invocation response;
    return stub_->Get(&context, request, &response).error_code();
  }

  grpc::StatusCode Cancel(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CancelInvocationRequest request;
    request.set_id(id);
    v1::Invocation response;
    return stub_->Cancel(&context, request, &response).error_code();
  }

  // Opens a Watch, reads its first update, then cancels it; returns the
  // status the client got.
  grpc::StatusCode WatchThenCancel() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::WatchInvocationRequest request;
    request.set_id("watched");
    std::unique_ptr<grpc::ClientReader<v1::Invocation>> reader = stub_->Watch(&context, request);
    v1::Invocation update;
    EXPECT_TRUE(reader->Read(&update));
    EXPECT_EQ(update.id(), "watched");
    context.TryCancel();
    while (reader->Read(&update)) {
    }
    return reader->Finish().error_code();
  }

  prometheus::Registry registry_;
  std::unique_ptr<GrpcServerProbe> probe_;
  ChosenStatusService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Invocations::Stub> stub_;
};

TEST_F(GrpcServerProbeTest, CountsStartedAndHandledCallsByMethodAndCode) {
  StartServer();
  constexpr int kOk = 5, kNotFound = 3, kExhausted = 2;
  for (int i = 0; i < kOk; ++i) ASSERT_EQ(Get(absl::StrCat("inv-", i)), grpc::StatusCode::OK);
  for (int i = 0; i < kNotFound; ++i) ASSERT_EQ(Get("missing"), grpc::StatusCode::NOT_FOUND);
  for (int i = 0; i < kExhausted; ++i) {
    ASSERT_EQ(Get("full"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  EXPECT_EQ(
      CounterValue(registry_, "grpc_server_started_total", MethodLabels(kService, "Get", "unary")),
      kOk + kNotFound + kExhausted);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("OK", kService, "Get", "unary")),
            kOk);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("NOT_FOUND", kService, "Get", "unary")),
            kNotFound);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("RESOURCE_EXHAUSTED", kService, "Get", "unary")),
            kExhausted);
  // Only codes that happened have series.
  EXPECT_EQ(AllSeries(registry_, "grpc_server_handled_total").size(), 3u);
}

TEST_F(GrpcServerProbeTest, ObservesTheHandlingTimeOfEveryHandledCall) {
  StartServer();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Get("inv"), grpc::StatusCode::OK);
  ASSERT_EQ(Get("missing"), grpc::StatusCode::NOT_FOUND);

  std::optional<ClientMetric> histogram =
      FindSeries(registry_, "grpc_server_handling_seconds", MetricType::Histogram,
                 MethodLabels(kService, "Get", "unary"));
  ASSERT_TRUE(histogram.has_value());
  EXPECT_EQ(histogram->histogram.sample_count, 5u);
  EXPECT_GT(histogram->histogram.sample_sum, 0);
  // The project's latency buckets, plus +Inf: microseconds to minutes.
  const std::vector<ClientMetric::Bucket>& buckets = histogram->histogram.bucket;
  ASSERT_EQ(buckets.size(), LatencyBuckets().size() + 1);
  EXPECT_DOUBLE_EQ(buckets.front().upper_bound, LatencyBuckets().front());
  EXPECT_DOUBLE_EQ(buckets[buckets.size() - 2].upper_bound, LatencyBuckets().back());
  EXPECT_EQ(buckets.back().cumulative_count, 5u);
}

TEST_F(GrpcServerProbeTest, CountsMessagesReceivedAndSent) {
  StartServer();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Get("inv"), grpc::StatusCode::OK);
  ASSERT_EQ(Get("missing"), grpc::StatusCode::NOT_FOUND);

  const Labels get = MethodLabels(kService, "Get", "unary");
  EXPECT_EQ(CounterValue(registry_, "grpc_server_msg_received_total", get), 4);
  // A failed unary call sends no response message.
  EXPECT_EQ(CounterValue(registry_, "grpc_server_msg_sent_total", get), 3);
}

TEST_F(GrpcServerProbeTest, CountsAClientCancelledStreamOnceAsCancelled) {
  StartServer();
  ASSERT_EQ(WatchThenCancel(), grpc::StatusCode::CANCELLED);

  const Labels watch = MethodLabels(kService, "Watch", "server_stream");
  const Labels cancelled = CodeLabels("CANCELLED", kService, "Watch", "server_stream");
  EXPECT_EQ(CounterValue(registry_, "grpc_server_started_total", watch), 1);
  // The server learns of the cancel after the client does.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return CounterValue(registry_, "grpc_server_handled_total", cancelled) == 1; },
      absl::Seconds(10)));
  EXPECT_EQ(CounterValue(registry_, "grpc_server_msg_sent_total", watch), 1);
  // Once every call has ended, it is still counted once, with no other code.
  StopServer();
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total", cancelled), 1);
  EXPECT_EQ(AllSeries(registry_, "grpc_server_handled_total"), std::vector<Labels>{cancelled});
  std::optional<ClientMetric> histogram =
      FindSeries(registry_, "grpc_server_handling_seconds", MetricType::Histogram, watch);
  ASSERT_TRUE(histogram.has_value());
  EXPECT_EQ(histogram->histogram.sample_count, 1u);
}

TEST_F(GrpcServerProbeTest, CountsHealthChecksLikeAnyOtherMethod) {
  StartServer();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* name : {"", "", "no.such.Service"}) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    health->Check(&context, request, &response);
  }

  EXPECT_EQ(CounterValue(registry_, "grpc_server_started_total",
                         MethodLabels("grpc.health.v1.Health", "Check", "unary")),
            3);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("OK", "grpc.health.v1.Health", "Check", "unary")),
            2);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("NOT_FOUND", "grpc.health.v1.Health", "Check", "unary")),
            1);
}

TEST_F(GrpcServerProbeTest, FoldsMethodsBeyondTheCapIntoUnknown) {
  StartServer({.max_methods = 1});
  ASSERT_EQ(Get("inv"), grpc::StatusCode::OK);
  ASSERT_EQ(Cancel("inv"), grpc::StatusCode::OK);
  ASSERT_EQ(Cancel("inv"), grpc::StatusCode::OK);
  ASSERT_EQ(WatchThenCancel(), grpc::StatusCode::CANCELLED);
  StopServer();

  // The first method keeps its names; the later ones share "unknown", by type.
  EXPECT_EQ(AllSeries(registry_, "grpc_server_started_total"),
            (std::vector<Labels>{MethodLabels(kService, "Get", "unary"),
                                 MethodLabels("unknown", "unknown", "server_stream"),
                                 MethodLabels("unknown", "unknown", "unary")}));
  EXPECT_EQ(CounterValue(registry_, "grpc_server_started_total",
                         MethodLabels("unknown", "unknown", "unary")),
            2);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("OK", "unknown", "unknown", "unary")),
            2);
  EXPECT_EQ(CounterValue(registry_, "grpc_server_handled_total",
                         CodeLabels("CANCELLED", "unknown", "unknown", "server_stream")),
            1);
}

}  // namespace
}  // namespace sluice
