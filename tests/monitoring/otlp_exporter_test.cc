// Tests of OtlpExporter against a real in-process OTLP/gRPC collector
// (OtlpReceiver), and of SpanToProto.
#include "monitoring/otlp_exporter.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/trace_probe.h"
#include "monitoring/tracer.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "tests/support/otlp_receiver.h"

namespace sluice {
namespace {

namespace otlp = opentelemetry::proto::trace::v1;
using ::testing::Contains;
using testing::OtlpReceiver;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string Bytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}
std::string Bytes(const TraceId& id) { return Bytes(id.data(), id.size()); }
std::string Bytes(const SpanId& id) { return Bytes(id.data(), id.size()); }

// Attributes renders string attributes as a map (others as their debug form).
std::map<std::string, std::string> StringAttributes(
    const google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>& kvs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs) out[kv.key()] = kv.value().string_value();
  return out;
}

const opentelemetry::proto::common::v1::AnyValue* Attribute(const otlp::Span& span,
                                                            const std::string& key) {
  for (const auto& kv : span.attributes()) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

double Counter(const prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    EXPECT_EQ(family.metric.size(), 1u) << name;
    return family.metric.empty() ? -1 : family.metric[0].counter.value;
  }
  ADD_FAILURE() << "no family " << name;
  return -1;
}

SpanData TestSpan(const std::string& name) {
  SpanData span;
  span.name = name;
  span.context.trace_id = NewTraceId();
  span.context.span_id = NewSpanId();
  span.context.sampled = true;
  span.start = absl::FromUnixMillis(1700000000000);
  span.end = span.start + absl::Milliseconds(5);
  return span;
}

class OtlpExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<OtlpReceiver>> receiver = OtlpReceiver::Start();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
  }

  // Options for the receiver, quick to flush and to retry.
  OtlpExporter::Options FastOptions() {
    OtlpExporter::Options options;
    options.endpoint = receiver_->endpoint();
    options.flush_interval = absl::Milliseconds(20);
    options.initial_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    options.probe = &probe_;
    return options;
  }

  std::unique_ptr<OtlpExporter> MakeExporter(OtlpExporter::Options options) {
    absl::StatusOr<std::unique_ptr<OtlpExporter>> exporter =
        OtlpExporter::Create(std::move(options));
    EXPECT_TRUE(exporter.ok()) << exporter.status();
    return exporter.ok() ? *std::move(exporter) : nullptr;
  }

  double Dropped() const { return Counter(registry_, "sluice_spans_dropped_total"); }
  double Exported() const { return Counter(registry_, "sluice_spans_exported_total"); }
  double Failures() const { return Counter(registry_, "sluice_span_export_failures_total"); }

  prometheus::Registry registry_;
  TraceProbe probe_{registry_};
  std::unique_ptr<OtlpReceiver> receiver_;
};

TEST_F(OtlpExporterTest, SpansArriveWithIdsKindAttributesStatusAndResource) {
  OtlpExporter::Options options = FastOptions();
  options.service_name = "checkout";
  options.resource_attributes = {{"deployment.environment", "ci"}, {"service.name", "ignored"}};
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  const Tracer tracer({}, exporter.get());

  TraceContext link;
  link.trace_id = NewTraceId();
  link.span_id = NewSpanId();
  TraceContext parent_context, child_context;
  {
    Span parent(&tracer, "POST /invoke", SpanKind::kServer, TraceContext{});
    parent_context = parent.context();
    Span child(&tracer, "run echo", SpanKind::kClient, parent.context());
    child_context = child.context();
    child.SetAttribute("faas.name", std::string("echo"));
    child.SetAttribute("faas.coldstart", true);
    child.SetAttribute("attempt", int64_t{2});
    child.SetAttribute("memory.ratio", 0.25);
    child.AddLink(link);
    child.SetError("exit status 1");
  }
  ASSERT_TRUE(receiver_->WaitForSpans(2, kWait));

  std::vector<otlp::Span> spans = receiver_->Spans();
  ASSERT_EQ(spans.size(), 2u);
  const otlp::Span& child = spans[0];  // ended first
  const otlp::Span& parent = spans[1];
  EXPECT_EQ(parent.name(), "POST /invoke");
  EXPECT_EQ(parent.kind(), otlp::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(parent.trace_id(), Bytes(parent_context.trace_id));
  EXPECT_EQ(parent.span_id(), Bytes(parent_context.span_id));
  EXPECT_EQ(parent.parent_span_id(), "");
  EXPECT_EQ(parent.status().code(), otlp::Status::STATUS_CODE_UNSET);
  EXPECT_GT(parent.start_time_unix_nano(), 0u);
  EXPECT_GE(parent.end_time_unix_nano(), parent.start_time_unix_nano());

  EXPECT_EQ(child.name(), "run echo");
  EXPECT_EQ(child.kind(), otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(child.trace_id(), Bytes(parent_context.trace_id));
  EXPECT_EQ(child.span_id(), Bytes(child_context.span_id));
  EXPECT_EQ(child.parent_span_id(), Bytes(parent_context.span_id));
  ASSERT_NE(Attribute(child, "faas.name"), nullptr);
  EXPECT_EQ(Attribute(child, "faas.name")->string_value(), "echo");
  ASSERT_NE(Attribute(child, "faas.coldstart"), nullptr);
  EXPECT_TRUE(Attribute(child, "faas.coldstart")->bool_value());
  ASSERT_NE(Attribute(child, "attempt"), nullptr);
  EXPECT_EQ(Attribute(child, "attempt")->int_value(), 2);
  ASSERT_NE(Attribute(child, "memory.ratio"), nullptr);
  EXPECT_EQ(Attribute(child, "memory.ratio")->double_value(), 0.25);
  ASSERT_EQ(child.links_size(), 1);
  EXPECT_EQ(child.links(0).trace_id(), Bytes(link.trace_id));
  EXPECT_EQ(child.links(0).span_id(), Bytes(link.span_id));
  EXPECT_EQ(child.status().code(), otlp::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(child.status().message(), "exit status 1");

  std::vector<otlp::ResourceSpans> requests = receiver_->Requests();
  ASSERT_FALSE(requests.empty());
  for (const otlp::ResourceSpans& request : requests) {
    EXPECT_EQ(StringAttributes(request.resource().attributes()),
              (std::map<std::string, std::string>{{"service.name", "checkout"},
                                                  {"deployment.environment", "ci"},
                                                  {"telemetry.sdk.name", "sluice"},
                                                  {"telemetry.sdk.language", "cpp"}}));
    ASSERT_EQ(request.scope_spans_size(), 1);
    EXPECT_EQ(request.scope_spans(0).scope().name(), "sluice");
  }
  exporter->Shutdown(absl::Now() + kWait);
  EXPECT_EQ(Exported(), 2);
  EXPECT_EQ(Dropped(), 0);
}

TEST_F(OtlpExporterTest, BatchesManySpansIntoFewCalls) {
  OtlpExporter::Options options = FastOptions();
  options.flush_interval = absl::Milliseconds(200);
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  for (int i = 0; i < 1000; ++i) exporter->Export(TestSpan("span-" + std::to_string(i)));

  ASSERT_TRUE(receiver_->WaitForSpans(1000, kWait));
  EXPECT_LE(receiver_->export_calls(), 5);
  EXPECT_EQ(receiver_->Spans().size(), 1000u);
  EXPECT_EQ(receiver_->Spans().front().name(), "span-0");
  EXPECT_EQ(receiver_->Spans().back().name(), "span-999");
}

TEST_F(OtlpExporterTest, AFullBatchIsSentWithoutWaitingForTheInterval) {
  OtlpExporter::Options options = FastOptions();
  options.flush_interval = absl::Hours(1);
  options.max_batch = 10;
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  for (int i = 0; i < 10; ++i) exporter->Export(TestSpan("full"));
  EXPECT_TRUE(receiver_->WaitForSpans(10, kWait));
}

TEST_F(OtlpExporterTest, RetriesUnavailableUntilTheCollectorAccepts) {
  receiver_->FailNext(2, grpc::StatusCode::UNAVAILABLE);
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(FastOptions());
  ASSERT_NE(exporter, nullptr);
  const SpanData span = TestSpan("retried");
  exporter->Export(span);

  ASSERT_TRUE(receiver_->WaitForSpans(1, kWait));
  EXPECT_GE(receiver_->export_calls(), 3);
  EXPECT_EQ(receiver_->Spans()[0].span_id(), Bytes(span.context.span_id));
  exporter->Shutdown(absl::Now() + kWait);
  EXPECT_EQ(Exported(), 1);
  EXPECT_EQ(Dropped(), 0);
  EXPECT_EQ(Failures(), 0);
}

TEST_F(OtlpExporterTest, GivesUpAfterMaxRetries) {
  receiver_->FailNext(1000, grpc::StatusCode::RESOURCE_EXHAUSTED);
  OtlpExporter::Options options = FastOptions();
  options.max_retries = 2;
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  exporter->Export(TestSpan("a"));
  exporter->Export(TestSpan("b"));
  // Shutdown waits for the batch to be sent, retried and given up.
  exporter->Shutdown(absl::Now() + kWait);
  EXPECT_EQ(receiver_->export_calls(), 3);  // the first attempt and two retries
  EXPECT_EQ(Dropped(), 2);
  EXPECT_EQ(Failures(), 1);
  EXPECT_EQ(Exported(), 0);
}

TEST_F(OtlpExporterTest, DoesNotRetryOtherErrors) {
  receiver_->FailNext(1, grpc::StatusCode::INVALID_ARGUMENT);
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(FastOptions());
  ASSERT_NE(exporter, nullptr);
  exporter->Export(TestSpan("rejected"));
  exporter->Shutdown(absl::Now() + kWait);
  EXPECT_EQ(receiver_->export_calls(), 1);
  EXPECT_TRUE(receiver_->Spans().empty());
  EXPECT_EQ(Dropped(), 1);
  EXPECT_EQ(Failures(), 1);
}

TEST_F(OtlpExporterTest, ExportNeverBlocksAndCountsDropsWhenNobodyListens) {
  // A port that was just served and is now closed.
  const std::string endpoint = receiver_->endpoint();
  receiver_.reset();
  OtlpExporter::Options options;
  options.endpoint = endpoint;
  options.max_queue = 16;
  options.max_batch = 8;
  options.flush_interval = absl::Milliseconds(10);
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(20);
  options.max_retries = 2;
  options.probe = &probe_;
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);

  constexpr int kSpans = 10000;
  const SpanData span = TestSpan("lost");
  const absl::Time start = absl::Now();
  for (int i = 0; i < kSpans; ++i) exporter->Export(span);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // All but what the queue and the batch in flight hold were dropped at once.
  EXPECT_GE(Dropped(), kSpans - 1000);

  exporter->Shutdown(absl::Now() + absl::Seconds(2));
  EXPECT_EQ(Dropped(), kSpans);  // every span is accounted for
  EXPECT_EQ(Exported(), 0);
  EXPECT_GE(Failures(), 1);
}

TEST_F(OtlpExporterTest, ShutdownFlushesQueuedSpans) {
  OtlpExporter::Options options = FastOptions();
  options.flush_interval = absl::Hours(1);  // only Shutdown sends them
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  for (int i = 0; i < 10; ++i) exporter->Export(TestSpan("queued"));

  exporter->Shutdown(absl::Now() + kWait);
  EXPECT_EQ(receiver_->Spans().size(), 10u);
  EXPECT_EQ(Exported(), 10);

  exporter->Export(TestSpan("too late"));  // refused after Shutdown
  EXPECT_EQ(Dropped(), 1);
  exporter->Shutdown(absl::Now() + kWait);  // idempotent
  EXPECT_EQ(receiver_->export_calls(), 1);
}

TEST_F(OtlpExporterTest, ShutdownGivesUpAtItsDeadline) {
  receiver_->FailNext(1000, grpc::StatusCode::UNAVAILABLE);
  OtlpExporter::Options options = FastOptions();
  options.initial_backoff = absl::Seconds(30);
  options.max_backoff = absl::Seconds(30);
  std::unique_ptr<OtlpExporter> exporter = MakeExporter(std::move(options));
  ASSERT_NE(exporter, nullptr);
  exporter->Export(TestSpan("stuck"));

  const absl::Time start = absl::Now();
  exporter->Shutdown(start + absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // not the 30 s backoff
  EXPECT_EQ(Dropped(), 1);
  EXPECT_EQ(Exported(), 0);
}

TEST_F(OtlpExporterTest, CreateRejectsBadOptions) {
  OtlpExporter::Options no_endpoint;
  EXPECT_EQ(OtlpExporter::Create(no_endpoint).status().code(), absl::StatusCode::kInvalidArgument);
  OtlpExporter::Options no_batch = FastOptions();
  no_batch.max_batch = 0;
  EXPECT_EQ(OtlpExporter::Create(no_batch).status().code(), absl::StatusCode::kInvalidArgument);
  OtlpExporter::Options no_interval = FastOptions();
  no_interval.flush_interval = absl::ZeroDuration();
  EXPECT_EQ(OtlpExporter::Create(no_interval).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpanToProtoTest, MapsKindsTimesAndRootParent) {
  SpanData span = TestSpan("converted");
  span.context.tracestate = "vendor=x";
  const std::vector<std::pair<SpanKind, otlp::Span::SpanKind>> kinds = {
      {SpanKind::kInternal, otlp::Span::SPAN_KIND_INTERNAL},
      {SpanKind::kServer, otlp::Span::SPAN_KIND_SERVER},
      {SpanKind::kClient, otlp::Span::SPAN_KIND_CLIENT},
      {SpanKind::kProducer, otlp::Span::SPAN_KIND_PRODUCER},
      {SpanKind::kConsumer, otlp::Span::SPAN_KIND_CONSUMER}};
  for (const auto& [kind, proto_kind] : kinds) {
    span.kind = kind;
    EXPECT_EQ(SpanToProto(span).kind(), proto_kind);
  }
  const otlp::Span proto = SpanToProto(span);
  EXPECT_EQ(proto.start_time_unix_nano(), 1700000000000ull * 1000000);
  EXPECT_EQ(proto.end_time_unix_nano(), 1700000000005ull * 1000000);
  EXPECT_EQ(proto.trace_id().size(), 16u);
  EXPECT_EQ(proto.span_id().size(), 8u);
  EXPECT_TRUE(proto.parent_span_id().empty());
  EXPECT_EQ(proto.trace_state(), "vendor=x");
  EXPECT_EQ(proto.flags(), 1u);
  EXPECT_FALSE(proto.has_status());
}

}  // namespace
}  // namespace sluice
