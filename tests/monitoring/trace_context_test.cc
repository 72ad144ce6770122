// Tests of TraceContext: W3C traceparent parsing (the spec's examples and its
// rules for what to ignore), rendering, the Lambda form and id generation.
#include "monitoring/trace_context.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace sluice {
namespace {

constexpr char kTraceIdHex[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kSpanIdHex[] = "00f067aa0ba902b7";

std::string Traceparent(const std::string& version, const std::string& flags) {
  return version + "-" + kTraceIdHex + "-" + kSpanIdHex + "-" + flags;
}

struct GoodCase {
  std::string traceparent;
  bool sampled;
};

class ParseGoodTraceparentTest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ParseGoodTraceparentTest, ReadsIdsAndSampledFlag) {
  std::optional<TraceContext> context =
      ParseTraceparent(GetParam().traceparent, "congo=t61rcWkgMzE");
  ASSERT_TRUE(context.has_value()) << GetParam().traceparent;
  EXPECT_TRUE(context->valid());
  EXPECT_EQ(context->TraceIdHex(), kTraceIdHex);
  EXPECT_EQ(context->SpanIdHex(), kSpanIdHex);
  EXPECT_EQ(context->sampled, GetParam().sampled);
  EXPECT_EQ(context->tracestate, "congo=t61rcWkgMzE");
}

INSTANTIATE_TEST_SUITE_P(
    W3cExamples, ParseGoodTraceparentTest,
    ::testing::Values(
        // The spec's examples.
        GoodCase{Traceparent("00", "01"), true}, GoodCase{Traceparent("00", "00"), false},
        // Only bit 0 of the flags means sampled; other bits are ignored.
        GoodCase{Traceparent("00", "09"), true}, GoodCase{Traceparent("00", "02"), false},
        GoodCase{Traceparent("00", "ff"), true},
        // A higher version is parsed as version 00, and may carry more
        // fields after another '-'.
        GoodCase{Traceparent("01", "01"), true}, GoodCase{Traceparent("cc", "00"), false},
        GoodCase{Traceparent("01", "01") + "-what-the-future-will-be-like", true},
        GoodCase{Traceparent("fe", "01") + "-", true}));

class ParseBadTraceparentTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ParseBadTraceparentTest, IsIgnored) {
  EXPECT_FALSE(ParseTraceparent(GetParam(), "congo=t61rcWkgMzE").has_value()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    W3cRules, ParseBadTraceparentTest,
    ::testing::Values(
        "",                                  // empty
        Traceparent("ff", "01"),             // version ff is forbidden
        Traceparent("00", "01") + "-",       // version 00 with trailing data
        Traceparent("00", "01") + "-extra",  // version 00 with trailing fields
        Traceparent("01", "01") + "x",       // higher version: more data only after '-'
        Traceparent("00", "01").substr(1),   // one character short
        Traceparent("0", "01"),              // short version
        Traceparent("0g", "01"),             // version not hex
        Traceparent("0A", "01"),             // version not lowercase
        Traceparent("00", "0x"),             // flags not hex
        Traceparent("00", "1"),              // short flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  // uppercase span id
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // all-zero span id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // wrong separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",  // wrong separator
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",  // wrong separator
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  // misplaced separator
        "00-4bf92f3577b34da6a3ce929d0e0e47 6-00f067aa0ba902b7-01",  // space in the id
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  // leading space
        ));

TEST(TraceContextTest, RoundTripsThroughTraceparent) {
  for (const std::string& traceparent : {Traceparent("00", "01"), Traceparent("00", "00")}) {
    std::optional<TraceContext> context = ParseTraceparent(traceparent);
    ASSERT_TRUE(context.has_value());
    EXPECT_EQ(context->Traceparent(), traceparent);
  }
  // A higher version is rendered as version 00, flags reduced to bit 0.
  std::optional<TraceContext> future = ParseTraceparent(Traceparent("01", "09") + "-more");
  ASSERT_TRUE(future.has_value());
  EXPECT_EQ(future->Traceparent(), Traceparent("00", "01"));
}

TEST(TraceContextTest, TracestateIsKeptOnlyWithAGoodTraceparent) {
  std::optional<TraceContext> context = ParseTraceparent(Traceparent("00", "01"));
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->tracestate, "");
  EXPECT_FALSE(ParseTraceparent(Traceparent("ff", "01"), "a=b").has_value());
}

TEST(TraceContextTest, EmptyContextIsInvalidAndRendersNothing) {
  TraceContext empty;
  EXPECT_FALSE(empty.valid());
  EXPECT_EQ(empty.Traceparent(), "");

  TraceContext no_span;
  no_span.trace_id = NewTraceId();
  EXPECT_FALSE(no_span.valid());
  TraceContext no_trace;
  no_trace.span_id = NewSpanId();
  EXPECT_FALSE(no_trace.valid());
}

TEST(TraceContextTest, LambdaTraceIdSplitsTheTraceIdAfterEightDigits) {
  std::optional<TraceContext> context = ParseTraceparent(Traceparent("00", "01"));
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->LambdaTraceId(),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
  context->sampled = false;
  EXPECT_EQ(context->LambdaTraceId(),
            "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=0");
}

TEST(TraceContextTest, HexOfIsLowercase) {
  const uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff, 0x5c};
  EXPECT_EQ(HexOf(bytes, sizeof(bytes)), "000fa0ff5c");
  EXPECT_EQ(HexOf(bytes, 0), "");
}

TEST(TraceContextTest, NewIdsAreNonZeroAndDistinct) {
  constexpr int kCount = 10000;
  std::set<TraceId> trace_ids;
  std::set<SpanId> span_ids;
  for (int i = 0; i < kCount; ++i) {
    TraceContext context;
    context.trace_id = NewTraceId();
    context.span_id = NewSpanId();
    EXPECT_TRUE(context.valid());
    trace_ids.insert(context.trace_id);
    span_ids.insert(context.span_id);
  }
  EXPECT_EQ(trace_ids.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(span_ids.size(), static_cast<size_t>(kCount));
}

TEST(TraceContextTest, NewIdsRoundTripThroughTraceparent) {
  TraceContext context;
  context.trace_id = NewTraceId();
  context.span_id = NewSpanId();
  context.sampled = true;
  std::optional<TraceContext> parsed = ParseTraceparent(context.Traceparent());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, context.trace_id);
  EXPECT_EQ(parsed->span_id, context.span_id);
  EXPECT_TRUE(parsed->sampled);
}

}  // namespace
}  // namespace sluice
