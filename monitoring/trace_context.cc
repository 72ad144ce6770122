// TraceContext implementation: W3C traceparent parsing and rendering, random
// ids from a thread-local generator, and the X-Ray form for Lambda runtimes.
#include "monitoring/trace_context.h"

#include <algorithm>
#include <cstring>

#include "absl/random/random.h"

namespace sluice {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// Lengths of the parts of a traceparent: "vv-<32>-<16>-ff".
constexpr size_t kVersionLength = 2;
constexpr size_t kTraceIdHexLength = 32;
constexpr size_t kSpanIdHexLength = 16;
constexpr size_t kFlagsLength = 2;
constexpr size_t kTraceparentLength =
    kVersionLength + 1 + kTraceIdHexLength + 1 + kSpanIdHexLength + 1 + kFlagsLength;  // 55

// LowerHexValue is the value of a lowercase hex digit, or -1.
int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// DecodeHex fills `out` (out_size bytes) from 2*out_size lowercase hex digits;
// false on any other character.
bool DecodeHex(std::string_view hex, uint8_t* out, size_t out_size) {
  if (hex.size() != 2 * out_size) return false;
  for (size_t i = 0; i < out_size; ++i) {
    const int hi = LowerHexValue(hex[2 * i]);
    const int lo = LowerHexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

absl::InsecureBitGen& Generator() {
  thread_local absl::InsecureBitGen gen;
  return gen;
}

// FillRandomNonZero fills `bytes` with random bytes, never all zero.
template <size_t N>
void FillRandomNonZero(std::array<uint8_t, N>& bytes) {
  absl::InsecureBitGen& gen = Generator();
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = absl::Uniform<uint64_t>(gen);
      std::memcpy(bytes.data() + i, &r, std::min<size_t>(8, N - i));
    }
  } while (AllZero(bytes));
}

}  // namespace

bool TraceContext::valid() const { return !AllZero(trace_id) && !AllZero(span_id); }

std::string TraceContext::Traceparent() const {
  if (!valid()) return "";
  std::string out;
  out.reserve(kTraceparentLength);
  out.append("00-");
  out.append(TraceIdHex());
  out.push_back('-');
  out.append(SpanIdHex());
  out.append(sampled ? "-01" : "-00");
  return out;
}

std::string TraceContext::TraceIdHex() const { return HexOf(trace_id.data(), trace_id.size()); }

std::string TraceContext::SpanIdHex() const { return HexOf(span_id.data(), span_id.size()); }

std::string TraceContext::LambdaTraceId() const {
  const std::string trace_hex = TraceIdHex();
  std::string out = "Root=1-";
  out.append(trace_hex, 0, 8);
  out.push_back('-');
  out.append(trace_hex, 8, std::string::npos);
  out.append(";Parent=");
  out.append(SpanIdHex());
  out.append(";Sampled=");
  out.append(sampled ? "1" : "0");
  return out;
}

std::optional<TraceContext> ParseTraceparent(std::string_view traceparent,
                                             std::string_view tracestate) {
  if (traceparent.size() < kTraceparentLength) return std::nullopt;
  uint8_t version = 0;
  if (!DecodeHex(traceparent.substr(0, kVersionLength), &version, 1)) return std::nullopt;
  if (version == 0xff) return std::nullopt;
  if (version == 0) {
    if (traceparent.size() != kTraceparentLength) return std::nullopt;
  } else if (traceparent.size() > kTraceparentLength && traceparent[kTraceparentLength] != '-') {
    // A future version may append fields, but only after another '-'.
    return std::nullopt;
  }
  const size_t trace_id_at = kVersionLength + 1;
  const size_t span_id_at = trace_id_at + kTraceIdHexLength + 1;
  const size_t flags_at = span_id_at + kSpanIdHexLength + 1;
  if (traceparent[trace_id_at - 1] != '-' || traceparent[span_id_at - 1] != '-' ||
      traceparent[flags_at - 1] != '-') {
    return std::nullopt;
  }
  TraceContext context;
  uint8_t flags = 0;
  if (!DecodeHex(traceparent.substr(trace_id_at, kTraceIdHexLength), context.trace_id.data(),
                 context.trace_id.size()) ||
      !DecodeHex(traceparent.substr(span_id_at, kSpanIdHexLength), context.span_id.data(),
                 context.span_id.size()) ||
      !DecodeHex(traceparent.substr(flags_at, kFlagsLength), &flags, 1)) {
    return std::nullopt;
  }
  if (!context.valid()) return std::nullopt;
  context.sampled = (flags & 0x01) != 0;
  context.tracestate = std::string(tracestate);
  return context;
}

TraceId NewTraceId() {
  TraceId id;
  FillRandomNonZero(id);
  return id;
}

SpanId NewSpanId() {
  SpanId id;
  FillRandomNonZero(id);
  return id;
}

std::string HexOf(const uint8_t* data, size_t size) {
  std::string out(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 0x0f];
  }
  return out;
}

std::string TraceIdOf(std::string_view traceparent) {
  std::optional<TraceContext> context = ParseTraceparent(traceparent);
  return context.has_value() ? context->TraceIdHex() : "";
}

}  // namespace sluice
