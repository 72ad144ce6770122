// Tracer and Span implementation: the OpenTelemetry samplers Sluice supports
// and span recording, which costs a context and nothing else when the span
// is not recorded.
#include "monitoring/tracer.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice {
namespace {

// RatioSamples says whether a root of `trace_id` is sampled at `ratio`: its
// low 8 bytes, read big-endian, fall below ratio × 2^64.
bool RatioSamples(const TraceId& trace_id, double ratio) {
  if (ratio >= 1.0) return true;
  if (!(ratio > 0.0)) return false;  // 0, negative or NaN
  uint64_t low = 0;
  for (size_t i = 8; i < trace_id.size(); ++i) low = low << 8 | trace_id[i];
  // ratio < 1, so the threshold is at most 2^64 - 2^11 and fits.
  return low < static_cast<uint64_t>(std::ldexp(ratio, 64));
}

absl::StatusOr<double> ParseRatio(std::string_view arg) {
  const absl::string_view text =
      absl::StripAsciiWhitespace(absl::string_view(arg.data(), arg.size()));
  if (text.empty()) return 1.0;
  double ratio = 0;
  if (!absl::SimpleAtod(text, &ratio) || !(ratio >= 0.0 && ratio <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_TRACES_SAMPLER_ARG: \"", text, "\" is not a sampling ratio in [0, 1]"));
  }
  return ratio;
}

}  // namespace

absl::StatusOr<SamplerConfig> ParseSampler(std::string_view sampler, std::string_view arg) {
  const std::string name = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(sampler.data(), sampler.size())));
  SamplerConfig config;
  if (name.empty() || name == "parentbased_always_on") {
    config = {.parent_based = true, .ratio = 1.0};
  } else if (name == "parentbased_always_off") {
    config = {.parent_based = true, .ratio = 0.0};
  } else if (name == "always_on") {
    config = {.parent_based = false, .ratio = 1.0};
  } else if (name == "always_off") {
    config = {.parent_based = false, .ratio = 0.0};
  } else if (name == "traceidratio" || name == "parentbased_traceidratio") {
    // The argument is read only by the ratio samplers, as in the
    // OpenTelemetry SDKs.
    absl::StatusOr<double> ratio = ParseRatio(arg);
    if (!ratio.ok()) return ratio.status();
    config = {.parent_based = name == "parentbased_traceidratio", .ratio = *ratio};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_TRACES_SAMPLER: \"", absl::string_view(sampler.data(), sampler.size()),
                     "\" is not one of always_on, always_off, traceidratio, parentbased_always_on, "
                     "parentbased_always_off, parentbased_traceidratio"));
  }
  return config;
}

Tracer::Tracer(SamplerConfig sampler, SpanExporter* exporter)
    : sampler_(sampler), exporter_(exporter) {}

TraceContext Tracer::ContextFor(const TraceContext& parent) const {
  TraceContext context;
  if (parent.valid()) {
    context.trace_id = parent.trace_id;
    context.tracestate = parent.tracestate;
  } else {
    context.trace_id = NewTraceId();
  }
  context.span_id = NewSpanId();
  if (sampler_.parent_based && parent.valid()) {
    context.sampled = parent.sampled;
  } else {
    context.sampled = RatioSamples(context.trace_id, sampler_.ratio);
  }
  return context;
}

void Tracer::Record(SpanData span) const {
  if (Recording(span.context)) exporter_->Export(std::move(span));
}

namespace {

// ContextWithoutTracer is the context of a span with no tracer: the parent's
// trace and sampled flag with a new span id, or an unsampled new trace (with
// nothing recording, a root does not ask its children to record).
TraceContext ContextWithoutTracer(const TraceContext& parent) {
  TraceContext context;
  if (parent.valid()) {
    context.trace_id = parent.trace_id;
    context.tracestate = parent.tracestate;
    context.sampled = parent.sampled;
  } else {
    context.trace_id = NewTraceId();
  }
  context.span_id = NewSpanId();
  return context;
}

}  // namespace

Span::Span(const Tracer* tracer, std::string_view name, SpanKind kind, const TraceContext& parent,
           absl::Time start)
    : tracer_(tracer) {
  data_.context = tracer != nullptr ? tracer->ContextFor(parent) : ContextWithoutTracer(parent);
  recording_ = tracer != nullptr && tracer->Recording(data_.context);
  if (recording_) {
    data_.name = std::string(name);
    data_.kind = kind;
    if (parent.valid()) data_.parent_span_id = parent.span_id;
    data_.start = start;
  }
}

Span::Span(Span&& other) noexcept
    : tracer_(other.tracer_),
      ended_(other.ended_),
      recording_(other.recording_),
      data_(std::move(other.data_)) {
  other.Disown();
}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    tracer_ = other.tracer_;
    ended_ = other.ended_;
    recording_ = other.recording_;
    data_ = std::move(other.data_);
    other.Disown();
  }
  return *this;
}

Span::~Span() { End(); }

void Span::Disown() {
  tracer_ = nullptr;
  ended_ = true;
  recording_ = false;
}

void Span::SetAttribute(std::string key, AttributeValue value) {
  if (!recording_ || ended_) return;
  data_.attributes.emplace_back(std::move(key), std::move(value));
}

void Span::AddLink(const TraceContext& link) {
  if (!recording_ || ended_) return;
  data_.links.push_back(link);
}

void Span::SetError(std::string message) {
  if (!recording_ || ended_) return;
  data_.error = true;
  data_.status_message = std::move(message);
}

void Span::End(absl::Time end) {
  if (ended_) return;
  ended_ = true;
  if (!recording_) return;
  SpanData finished = std::move(data_);
  finished.end = end;
  data_ = SpanData{};
  data_.context = finished.context;  // context() stays valid after End
  tracer_->Record(std::move(finished));
}

}  // namespace sluice
