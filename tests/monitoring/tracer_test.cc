// Tests of ParseSampler, Tracer and Span, with a SpanExporter that keeps
// what it receives.
#include "monitoring/tracer.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// RecordingExporter keeps every exported span. Thread-safe.
class RecordingExporter : public SpanExporter {
 public:
  void Export(SpanData span) override {
    absl::MutexLock lock(&mu_);
    spans_.push_back(std::move(span));
  }
  std::vector<SpanData> spans() const {
    absl::MutexLock lock(&mu_);
    return spans_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<SpanData> spans_ ABSL_GUARDED_BY(mu_);
};

TraceContext SampledParent(bool sampled) {
  TraceContext parent;
  parent.trace_id = NewTraceId();
  parent.span_id = NewSpanId();
  parent.sampled = sampled;
  parent.tracestate = "vendor=value";
  return parent;
}

// A trace id whose low 8 bytes, big-endian, are `low`.
TraceId TraceIdWithLow(uint64_t low) {
  TraceId id{};
  id[0] = 0xab;
  for (int i = 0; i < 8; ++i) id[15 - i] = static_cast<uint8_t>(low >> (8 * i));
  return id;
}

struct SamplerCase {
  std::string sampler;
  std::string arg;
  bool parent_based;
  double ratio;
};

class ParseSamplerTest : public ::testing::TestWithParam<SamplerCase> {};

TEST_P(ParseSamplerTest, ReadsSamplerAndRatio) {
  absl::StatusOr<SamplerConfig> config = ParseSampler(GetParam().sampler, GetParam().arg);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->parent_based, GetParam().parent_based);
  EXPECT_DOUBLE_EQ(config->ratio, GetParam().ratio);
}

INSTANTIATE_TEST_SUITE_P(OtelValues, ParseSamplerTest,
                         ::testing::Values(SamplerCase{"", "", true, 1.0},
                                           SamplerCase{"parentbased_always_on", "", true, 1.0},
                                           SamplerCase{"parentbased_always_off", "", true, 0.0},
                                           SamplerCase{"always_on", "", false, 1.0},
                                           SamplerCase{"always_off", "", false, 0.0},
                                           SamplerCase{"traceidratio", "0.25", false, 0.25},
                                           SamplerCase{"traceidratio", "", false, 1.0},
                                           SamplerCase{"parentbased_traceidratio", "0", true, 0.0},
                                           SamplerCase{"parentbased_traceidratio", "1", true, 1.0},
                                           SamplerCase{"parentbased_traceidratio", " 0.5 ", true,
                                                       0.5},
                                           // The argument belongs to the ratio samplers only.
                                           SamplerCase{"always_on", "junk", false, 1.0}));

struct BadSamplerCase {
  std::string sampler;
  std::string arg;
  std::string named;  // the message names the variable and its value
};

TEST(ParseSamplerBadTest, RejectsUnknownSamplersAndBadRatios) {
  for (const BadSamplerCase& bad : std::vector<BadSamplerCase>{
           {"sometimes", "", "OTEL_TRACES_SAMPLER: \"sometimes\""},
           {"jaeger_remote", "", "OTEL_TRACES_SAMPLER: \"jaeger_remote\""},
           {"traceidratio", "1.5", "OTEL_TRACES_SAMPLER_ARG: \"1.5\""},
           {"traceidratio", "-0.1", "OTEL_TRACES_SAMPLER_ARG: \"-0.1\""},
           {"traceidratio", "half", "OTEL_TRACES_SAMPLER_ARG: \"half\""},
           {"parentbased_traceidratio", "nan", "OTEL_TRACES_SAMPLER_ARG: \"nan\""},
           {"parentbased_traceidratio", "0.5x", "OTEL_TRACES_SAMPLER_ARG: \"0.5x\""}}) {
    absl::StatusOr<SamplerConfig> config = ParseSampler(bad.sampler, bad.arg);
    ASSERT_FALSE(config.ok()) << bad.sampler << " " << bad.arg;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(bad.named));
  }
}

TEST(TracerTest, ChildKeepsParentTraceAndTracestateWithNewSpanId) {
  Tracer tracer;
  const TraceContext parent = SampledParent(true);
  const TraceContext child = tracer.ContextFor(parent);
  EXPECT_TRUE(child.valid());
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_NE(child.span_id, parent.span_id);
  EXPECT_EQ(child.tracestate, "vendor=value");
}

TEST(TracerTest, RootStartsANewTrace) {
  Tracer tracer;
  const TraceContext a = tracer.ContextFor(TraceContext{});
  const TraceContext b = tracer.ContextFor(TraceContext{});
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a.trace_id, b.trace_id);
  EXPECT_TRUE(a.sampled);  // parentbased_always_on
}

TEST(TracerTest, ParentBasedFollowsTheParent) {
  const Tracer always_off_roots({.parent_based = true, .ratio = 0.0});
  EXPECT_TRUE(always_off_roots.ContextFor(SampledParent(true)).sampled);
  EXPECT_FALSE(always_off_roots.ContextFor(TraceContext{}).sampled);

  const Tracer always_on_roots({.parent_based = true, .ratio = 1.0});
  EXPECT_FALSE(always_on_roots.ContextFor(SampledParent(false)).sampled);
  EXPECT_TRUE(always_on_roots.ContextFor(TraceContext{}).sampled);
}

TEST(TracerTest, NotParentBasedIgnoresTheParentsFlag) {
  EXPECT_TRUE(
      Tracer({.parent_based = false, .ratio = 1.0}).ContextFor(SampledParent(false)).sampled);
  EXPECT_FALSE(
      Tracer({.parent_based = false, .ratio = 0.0}).ContextFor(SampledParent(true)).sampled);
}

TEST(TracerTest, RatioOneAlwaysSamplesAndZeroNever) {
  const Tracer always({.parent_based = false, .ratio = 1.0});
  const Tracer never({.parent_based = false, .ratio = 0.0});
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(always.ContextFor(TraceContext{}).sampled);
    EXPECT_FALSE(never.ContextFor(TraceContext{}).sampled);
  }
}

TEST(TracerTest, RatioHalfSamplesAboutHalfOfRoots) {
  const Tracer tracer({.parent_based = true, .ratio = 0.5});
  constexpr int kRoots = 10000;
  int sampled = 0;
  for (int i = 0; i < kRoots; ++i) sampled += tracer.ContextFor(TraceContext{}).sampled ? 1 : 0;
  EXPECT_GT(sampled, kRoots * 40 / 100);
  EXPECT_LT(sampled, kRoots * 60 / 100);
}

TEST(TracerTest, RatioComparesTheLowEightBytesBigEndian) {
  const Tracer tracer({.parent_based = false, .ratio = 0.5});
  TraceContext parent = SampledParent(true);
  parent.trace_id = TraceIdWithLow(0x7fffffffffffffffull);
  EXPECT_TRUE(tracer.ContextFor(parent).sampled);
  parent.trace_id = TraceIdWithLow(0x8000000000000000ull);
  EXPECT_FALSE(tracer.ContextFor(parent).sampled);
  parent.trace_id = TraceIdWithLow(0x00000000000000ffull);  // little-endian would be large
  EXPECT_TRUE(tracer.ContextFor(parent).sampled);
}

TEST(TracerTest, RecordingNeedsAnExporterAndASampledContext) {
  RecordingExporter exporter;
  const Tracer with_exporter({}, &exporter);
  const Tracer without_exporter;
  EXPECT_TRUE(with_exporter.Recording(SampledParent(true)));
  EXPECT_FALSE(with_exporter.Recording(SampledParent(false)));
  EXPECT_FALSE(without_exporter.Recording(SampledParent(true)));
}

TEST(SpanTest, RecordsEverythingOfASampledSpan) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  const TraceContext parent = SampledParent(true);
  const TraceContext link = SampledParent(false);
  const absl::Time start = absl::FromUnixSeconds(1700000000);
  TraceContext context;
  {
    Span span(&tracer, "invoke echo", SpanKind::kServer, parent, start);
    context = span.context();
    span.SetAttribute("faas.name", std::string("echo"));
    span.SetAttribute("faas.coldstart", true);
    span.SetAttribute("retries", int64_t{3});
    span.SetAttribute("load", 0.5);
    span.AddLink(link);
    span.SetError("function timed out");
    span.End(start + absl::Milliseconds(20));
    EXPECT_EQ(span.context().span_id, context.span_id);  // still there after End
  }
  std::vector<SpanData> spans = exporter.spans();
  ASSERT_EQ(spans.size(), 1u);
  const SpanData& data = spans[0];
  EXPECT_EQ(data.name, "invoke echo");
  EXPECT_EQ(data.kind, SpanKind::kServer);
  EXPECT_EQ(data.context.trace_id, parent.trace_id);
  EXPECT_EQ(data.context.span_id, context.span_id);
  EXPECT_EQ(data.parent_span_id, parent.span_id);
  EXPECT_EQ(data.start, start);
  EXPECT_EQ(data.end, start + absl::Milliseconds(20));
  EXPECT_THAT(data.attributes, ElementsAre(Pair("faas.name", AttributeValue(std::string("echo"))),
                                           Pair("faas.coldstart", AttributeValue(true)),
                                           Pair("retries", AttributeValue(int64_t{3})),
                                           Pair("load", AttributeValue(0.5))));
  ASSERT_EQ(data.links.size(), 1u);
  EXPECT_EQ(data.links[0].trace_id, link.trace_id);
  EXPECT_EQ(data.links[0].span_id, link.span_id);
  EXPECT_TRUE(data.error);
  EXPECT_EQ(data.status_message, "function timed out");
}

TEST(SpanTest, RootSpanHasNoParentId) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  { Span span(&tracer, "root", SpanKind::kInternal, TraceContext{}); }
  ASSERT_EQ(exporter.spans().size(), 1u);
  EXPECT_EQ(exporter.spans()[0].parent_span_id, SpanId{});
  EXPECT_FALSE(exporter.spans()[0].error);
}

TEST(SpanTest, UnsampledSpansAreNotExported) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  {
    Span span(&tracer, "unsampled", SpanKind::kClient, SampledParent(false));
    EXPECT_TRUE(span.context().valid());
    EXPECT_FALSE(span.context().sampled);
    span.SetAttribute("k", std::string("v"));
    span.SetError("ignored");
  }
  EXPECT_TRUE(exporter.spans().empty());
}

TEST(SpanTest, EndsOnce) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  {
    Span span(&tracer, "once", SpanKind::kInternal, TraceContext{});
    span.End();
    span.SetAttribute("after_end", true);
    span.End();
  }
  ASSERT_EQ(exporter.spans().size(), 1u);
  EXPECT_TRUE(exporter.spans()[0].attributes.empty());
}

TEST(SpanTest, MovedFromSpanDoesNotRecord) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  {
    Span first(&tracer, "moved", SpanKind::kInternal, TraceContext{});
    const SpanId id = first.context().span_id;
    Span second(std::move(first));
    EXPECT_EQ(second.context().span_id, id);
    first.SetAttribute("on_moved_from", true);  // NOLINT(bugprone-use-after-move)
    first.End();                                // NOLINT(bugprone-use-after-move)
    second.SetAttribute("on_moved_to", true);
  }
  std::vector<SpanData> spans = exporter.spans();
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].name, "moved");
  EXPECT_THAT(spans[0].attributes, ElementsAre(Pair("on_moved_to", AttributeValue(true))));
}

TEST(SpanTest, MoveAssignmentEndsTheOverwrittenSpan) {
  RecordingExporter exporter;
  const Tracer tracer({}, &exporter);
  {
    Span target(&tracer, "overwritten", SpanKind::kInternal, TraceContext{});
    Span source(&tracer, "kept", SpanKind::kInternal, TraceContext{});
    target = std::move(source);
    ASSERT_EQ(exporter.spans().size(), 1u);
    EXPECT_EQ(exporter.spans()[0].name, "overwritten");
  }
  std::vector<SpanData> spans = exporter.spans();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[1].name, "kept");
}

TEST(SpanTest, NullTracerCarriesAContextOnly) {
  const TraceContext parent = SampledParent(true);
  Span child(nullptr, "untraced", SpanKind::kInternal, parent);
  EXPECT_EQ(child.context().trace_id, parent.trace_id);
  EXPECT_NE(child.context().span_id, parent.span_id);
  EXPECT_TRUE(child.context().sampled);

  Span root(nullptr, "untraced root", SpanKind::kInternal, TraceContext{});
  EXPECT_TRUE(root.context().valid());
  EXPECT_FALSE(root.context().sampled);
}

}  // namespace
}  // namespace sluice
