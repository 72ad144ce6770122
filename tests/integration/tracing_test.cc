// Traces end to end: a real server exporting OTLP/gRPC to a real in-process
// collector. Checks the parent/child structure of the gateway, queue and
// attempt spans, that retries stay in one trace, that a destination links to
// its parent, and that functions get their attempt's context.
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "monitoring/trace_context.h"
#include "tests/integration/client.h"
#include "tests/support/otlp_receiver.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using OtlpSpan = opentelemetry::proto::trace::v1::Span;

constexpr char kCallerTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kCallerSpan[] = "00f067aa0ba902b7";

std::string Hex(const std::string& bytes) {
  return HexOf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Attribute returns the string form of a span attribute ("" when missing).
std::string Attribute(const OtlpSpan& span, const std::string& key) {
  for (const auto& kv : span.attributes()) {
    if (kv.key() != key) continue;
    const auto& v = kv.value();
    if (v.has_string_value()) return v.string_value();
    if (v.has_int_value()) return std::to_string(v.int_value());
    if (v.has_bool_value()) return v.bool_value() ? "true" : "false";
  }
  return "";
}

// Line returns the value of "key: value" in whoami's output.
std::string Line(const std::string& output, const std::string& key) {
  const std::string prefix = key + ": ";
  size_t at = output.find(prefix);
  if (at == std::string::npos) return "";
  at += prefix.size();
  return output.substr(at, output.find('\n', at) - at);
}

class TracingTest : public testing::ServerTest {
 protected:
  void SetUp() override {
    auto receiver = testing::OtlpReceiver::Start();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    serve_env_ = {"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + receiver_->endpoint(),
                  "OTEL_SERVICE_NAME=sluice-under-test",
                  "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test,team=payments"};
    ServerTest::SetUp();
  }

  // SpansOf waits until trace `trace` (hex) has at least `n` spans whose
  // name is in `names` counted, and returns all its spans.
  std::vector<OtlpSpan> AwaitTrace(const std::string& trace, size_t n) {
    std::vector<OtlpSpan> spans;
    testing::WaitFor(
        [&] {
          spans.clear();
          for (OtlpSpan& span : receiver_->Spans()) {
            if (Hex(span.trace_id()) == trace) spans.push_back(std::move(span));
          }
          return spans.size() >= n;
        },
        absl::Seconds(30));
    return spans;
  }

  std::unique_ptr<testing::OtlpReceiver> receiver_;
};

std::vector<OtlpSpan> Named(const std::vector<OtlpSpan>& spans, const std::string& name) {
  std::vector<OtlpSpan> out;
  for (const OtlpSpan& span : spans) {
    if (span.name() == name) out.push_back(span);
  }
  return out;
}

TEST_F(TracingTest, SyncInvokeIsTracedUnderTheCallersSpan) {
  DeployOk("whoami", "whoami");
  grpc::ClientContext context;
  context.AddMetadata("traceparent", absl::StrCat("00-", kCallerTrace, "-", kCallerSpan, "-01"));
  context.AddMetadata("tracestate", "vendor=opaque");
  v1::InvokeRequest request;
  request.set_function("whoami");
  v1::InvokeResponse response;
  ASSERT_TRUE(invocations_->Invoke(&context, request, &response).ok());
  const auto& initial = context.GetServerInitialMetadata();
  auto trace_header = initial.find("sluice-trace-id");
  ASSERT_NE(trace_header, initial.end());
  EXPECT_EQ(std::string(trace_header->second.data(), trace_header->second.size()), kCallerTrace);

  const std::vector<OtlpSpan> spans = AwaitTrace(kCallerTrace, 3);
  const std::vector<OtlpSpan> server = Named(spans, "sluice.v1.Invocations/Invoke");
  const std::vector<OtlpSpan> queue = Named(spans, "sluice.queue");
  const std::vector<OtlpSpan> attempt = Named(spans, "sluice.attempt");
  ASSERT_EQ(server.size(), 1u);
  ASSERT_EQ(queue.size(), 1u);
  ASSERT_EQ(attempt.size(), 1u);
  EXPECT_EQ(server[0].kind(), OtlpSpan::SPAN_KIND_SERVER);
  EXPECT_EQ(Hex(server[0].parent_span_id()), kCallerSpan);
  EXPECT_EQ(server[0].trace_state(), "vendor=opaque");
  EXPECT_EQ(Attribute(server[0], "rpc.method"), "Invoke");
  EXPECT_EQ(Attribute(server[0], "rpc.grpc.status_code"), "0");
  EXPECT_EQ(queue[0].parent_span_id(), server[0].span_id());
  EXPECT_EQ(attempt[0].parent_span_id(), server[0].span_id());
  EXPECT_LE(queue[0].end_time_unix_nano(), attempt[0].start_time_unix_nano());
  EXPECT_LE(attempt[0].end_time_unix_nano(), server[0].end_time_unix_nano());
  EXPECT_EQ(Attribute(attempt[0], "faas.name"), "whoami");
  EXPECT_EQ(Attribute(attempt[0], "faas.version"), "1");
  EXPECT_EQ(Attribute(attempt[0], "faas.invocation_id"), response.invocation_id());
  EXPECT_EQ(Attribute(attempt[0], "sluice.attempt"), "1");
  EXPECT_EQ(Attribute(attempt[0], "sluice.outcome"), "success");
  EXPECT_THAT(Attribute(attempt[0], "faas.coldstart"), ::testing::AnyOf("true", "false"));

  // The function got the attempt span's context.
  EXPECT_EQ(Line(response.output(), "traceparent"),
            absl::StrCat("00-", kCallerTrace, "-", Hex(attempt[0].span_id()), "-01"));
  EXPECT_EQ(Line(response.output(), "tracestate"), "vendor=opaque");

  // The resource names the service as configured.
  bool resource_seen = false;
  for (const auto& resource_spans : receiver_->Requests()) {
    std::map<std::string, std::string> attributes;
    for (const auto& kv : resource_spans.resource().attributes()) {
      attributes[kv.key()] = kv.value().string_value();
    }
    EXPECT_EQ(attributes["service.name"], "sluice-under-test");
    EXPECT_EQ(attributes["deployment.environment"], "test");
    EXPECT_EQ(attributes["team"], "payments");
    resource_seen = true;
  }
  EXPECT_TRUE(resource_seen);
}

TEST_F(TracingTest, RetriesOfABackgroundInvocationStayInOneTrace) {
  v1::FunctionSpec spec;
  spec.mutable_retry()->set_max_attempts(3);
  *spec.mutable_retry()->mutable_initial_backoff() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(10);
  DeployOk("flaky", "flaky", spec);
  std::string id;
  ASSERT_TRUE(testing::InvokeAsync(*invocations_, "flaky", "2", &id).ok());  // fails twice
  const v1::Invocation done = AwaitState(id, v1::SUCCEEDED);
  std::optional<TraceContext> trace = ParseTraceparent(done.traceparent());
  ASSERT_TRUE(trace.has_value()) << done.ShortDebugString();

  // No caller context: the gateway's span starts the trace.
  const std::vector<OtlpSpan> spans = AwaitTrace(trace->TraceIdHex(), 7);
  const std::vector<OtlpSpan> server = Named(spans, "sluice.v1.Invocations/InvokeAsync");
  ASSERT_EQ(server.size(), 1u);
  EXPECT_TRUE(server[0].parent_span_id().empty());
  EXPECT_EQ(Hex(server[0].span_id()), trace->SpanIdHex());
  EXPECT_EQ(Attribute(server[0], "faas.invocation_id"), id);
  const std::vector<OtlpSpan> attempts = Named(spans, "sluice.attempt");
  ASSERT_EQ(attempts.size(), 3u);
  ASSERT_EQ(Named(spans, "sluice.queue").size(), 3u);
  std::map<std::string, std::string> outcomes;  // attempt -> outcome
  for (const OtlpSpan& attempt : attempts) {
    EXPECT_EQ(attempt.parent_span_id(), server[0].span_id());
    EXPECT_EQ(Attribute(attempt, "faas.invocation_id"), id);
    outcomes[Attribute(attempt, "sluice.attempt")] = Attribute(attempt, "sluice.outcome");
    const bool failed =
        attempt.status().code() == opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR;
    EXPECT_EQ(failed, Attribute(attempt, "sluice.outcome") == "error");
    if (failed) {
      EXPECT_THAT(attempt.status().message(), HasSubstr("Flaky"));
    }
  }
  EXPECT_EQ(outcomes,
            (std::map<std::string, std::string>{{"1", "error"}, {"2", "error"}, {"3", "success"}}));
}

TEST_F(TracingTest, DestinationInvocationIsLinkedToItsParent) {
  DeployOk("whoami", "whoami");
  v1::FunctionSpec spec;
  spec.set_on_success("whoami");
  DeployOk("echo", "echo", spec);
  std::string parent_id;
  ASSERT_TRUE(testing::InvokeAsync(*invocations_, "echo", "hello", &parent_id).ok());
  const v1::Invocation parent = AwaitState(parent_id, v1::SUCCEEDED);

  // The child is found through the parent's id.
  v1::Invocation child;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        grpc::ClientContext context;
        v1::ListInvocationsRequest request;
        request.set_function("whoami");
        v1::ListInvocationsResponse response;
        if (!invocations_->List(&context, request, &response).ok()) return false;
        for (const v1::Invocation& inv : response.invocations()) {
          if (inv.parent_id() == parent_id) {
            return testing::GetInvocation(*invocations_, inv.id(), &child).ok() &&
                   child.state() == v1::SUCCEEDED;
          }
        }
        return false;
      },
      absl::Seconds(30)));
  std::optional<TraceContext> parent_trace = ParseTraceparent(parent.traceparent());
  std::optional<TraceContext> child_trace = ParseTraceparent(child.traceparent());
  ASSERT_TRUE(parent_trace.has_value());
  ASSERT_TRUE(child_trace.has_value());
  EXPECT_EQ(child_trace->TraceIdHex(), parent_trace->TraceIdHex());

  // server, queue, attempt of the parent; destination; queue, attempt of the child.
  const std::vector<OtlpSpan> spans = AwaitTrace(parent_trace->TraceIdHex(), 6);
  const std::vector<OtlpSpan> destination = Named(spans, "sluice.destination");
  ASSERT_EQ(destination.size(), 1u);
  EXPECT_EQ(destination[0].kind(), OtlpSpan::SPAN_KIND_PRODUCER);
  EXPECT_EQ(Hex(destination[0].span_id()), child_trace->SpanIdHex());
  EXPECT_EQ(Hex(destination[0].parent_span_id()), parent_trace->SpanIdHex());
  ASSERT_EQ(destination[0].links_size(), 1);
  EXPECT_EQ(Hex(destination[0].links(0).span_id()), parent_trace->SpanIdHex());
  EXPECT_EQ(Attribute(destination[0], "sluice.parent_id"), parent_id);
  EXPECT_EQ(Attribute(destination[0], "faas.invocation_id"), child.id());
  bool child_attempt_seen = false;
  for (const OtlpSpan& attempt : Named(spans, "sluice.attempt")) {
    if (Attribute(attempt, "faas.invocation_id") != child.id()) continue;
    child_attempt_seen = true;
    EXPECT_EQ(attempt.parent_span_id(), destination[0].span_id());
    EXPECT_EQ(Line(child.output(), "traceparent"),
              absl::StrCat("00-", child_trace->TraceIdHex(), "-", Hex(attempt.span_id()), "-01"));
  }
  EXPECT_TRUE(child_attempt_seen);
}

// With sampling off nothing is exported, yet functions still get a context
// (not sampled) to pass on.
class UnsampledTracingTest : public TracingTest {
 protected:
  void SetUp() override {
    auto receiver = testing::OtlpReceiver::Start();
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    serve_env_ = {"OTEL_EXPORTER_OTLP_ENDPOINT=" + receiver_->endpoint(),
                  "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0"};
    ServerTest::SetUp();
  }
};

TEST_F(UnsampledTracingTest, ContextIsPassedOnButNothingIsExported) {
  DeployOk("whoami", "whoami");
  // A caller that sampled its trace: the parent's decision wins.
  {
    grpc::ClientContext context;
    context.AddMetadata("traceparent", absl::StrCat("00-", kCallerTrace, "-", kCallerSpan, "-01"));
    v1::InvokeRequest request;
    request.set_function("whoami");
    v1::InvokeResponse response;
    ASSERT_TRUE(invocations_->Invoke(&context, request, &response).ok());
    EXPECT_THAT(Line(response.output(), "traceparent"),
                ::testing::StartsWith(absl::StrCat("00-", kCallerTrace, "-")));
    EXPECT_THAT(Line(response.output(), "traceparent"), ::testing::EndsWith("-01"));
  }
  ASSERT_EQ(AwaitTrace(kCallerTrace, 3).size(), 3u);
  // A new trace: ratio 0 samples none of it.
  grpc::ClientContext context;
  v1::InvokeRequest request;
  request.set_function("whoami");
  v1::InvokeResponse response;
  ASSERT_TRUE(invocations_->Invoke(&context, request, &response).ok());
  std::optional<TraceContext> trace = ParseTraceparent(Line(response.output(), "traceparent"));
  ASSERT_TRUE(trace.has_value()) << response.output();
  EXPECT_FALSE(trace->sampled);
  // The exporter flushes every second: a span of this trace would have
  // arrived with the next export, after the first trace's. Send a third,
  // sampled call and wait for it, then check the unsampled one is absent.
  {
    grpc::ClientContext sampled;
    sampled.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    v1::InvokeResponse ignored;
    ASSERT_TRUE(invocations_->Invoke(&sampled, request, &ignored).ok());
  }
  ASSERT_EQ(AwaitTrace("0af7651916cd43dd8448eb211c80319c", 3).size(), 3u);
  for (const OtlpSpan& span : receiver_->Spans()) {
    EXPECT_NE(Hex(span.trace_id()), trace->TraceIdHex()) << span.name();
  }
}

}  // namespace
}  // namespace sluice
