// TraceContext: a W3C trace context (https://www.w3.org/TR/trace-context/),
// as carried in `traceparent` / `tracestate` headers and gRPC metadata, and
// the forms Sluice hands to functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// TraceContext names one span of one trace. A value type; an all-zero
// trace or span id means "no context" (valid() is false).
struct TraceContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = false;    // trace-flags bit 0
  std::string tracestate;  // opaque, passed on unchanged

  bool valid() const;
  // Traceparent is "00-<32 hex trace id>-<16 hex span id>-<01|00>"; empty
  // when !valid().
  std::string Traceparent() const;
  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
  // LambdaTraceId is the AWS X-Ray form Lambda runtimes expect in
  // Lambda-Runtime-Trace-Id: "Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;
  // Sampled=<0|1>" (the trace id split after its first 8 hex digits).
  std::string LambdaTraceId() const;
};

// ParseTraceparent reads a `traceparent` value (and `tracestate`, kept only
// when the traceparent is good). nullopt for anything the W3C spec says to
// ignore: wrong length or separators, non-lowercase-hex, version ff, an
// all-zero id, or a version-00 header with trailing data.
std::optional<TraceContext> ParseTraceparent(std::string_view traceparent,
                                             std::string_view tracestate = "");

// TraceIdOf returns the trace id (32 lowercase hex digits) of a valid
// `traceparent`, else "".
std::string TraceIdOf(std::string_view traceparent);

// NewTraceId and NewSpanId return random non-zero ids. Thread-safe and cheap
// (a thread-local generator).
TraceId NewTraceId();
SpanId NewSpanId();

// HexOf renders bytes as lowercase hex.
std::string HexOf(const uint8_t* data, size_t size);

}  // namespace sluice
