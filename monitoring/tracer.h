// Tracer, Span and SpanExporter: recording OpenTelemetry spans.
//
// A Span is started with a parent context (or none, for a new trace); the
// Tracer's sampler decides whether it is recorded, and the context it gets
// (Span::context) is what is propagated to children and to functions,
// recorded or not. Ended, recorded spans go to a SpanExporter, which must
// never block the caller (see OtlpExporter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "monitoring/trace_context.h"

namespace sluice {

enum class SpanKind { kInternal, kServer, kClient, kProducer, kConsumer };

using AttributeValue = std::variant<std::string, int64_t, bool, double>;

// SpanData is one finished span, as exported.
struct SpanData {
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  TraceContext context;     // this span's trace id, span id, flags, tracestate
  SpanId parent_span_id{};  // all zero for a root span
  absl::Time start;
  absl::Time end;
  std::vector<std::pair<std::string, AttributeValue>> attributes;
  bool error = false;          // OTLP status ERROR when set, else UNSET
  std::string status_message;  // with error
  std::vector<TraceContext> links;
};

// SpanExporter receives finished, sampled spans. Implementations are
// thread-safe and Export never blocks (a full exporter drops the span and
// counts it).
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  virtual void Export(SpanData span) = 0;
};

// SamplerConfig is OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG: with
// `parent_based`, a span with a valid parent follows the parent's sampled
// flag; otherwise (roots) it is sampled when its trace id's low 8 bytes,
// read big-endian, fall below ratio × 2^64 (1: always, 0: never).
struct SamplerConfig {
  bool parent_based = true;
  double ratio = 1.0;
};

// ParseSampler reads OTEL_TRACES_SAMPLER values (always_on, always_off,
// traceidratio, parentbased_always_on, parentbased_always_off,
// parentbased_traceidratio; empty = parentbased_always_on) and the ratio
// argument (empty = 1.0; must be in [0, 1]). INVALID_ARGUMENT otherwise.
absl::StatusOr<SamplerConfig> ParseSampler(std::string_view sampler, std::string_view arg);

// Tracer starts span contexts and hands ended, sampled spans to its
// exporter. Thread-safe. The exporter is not owned and must outlive it;
// null records nothing (contexts are still made and propagated).
class Tracer {
 public:
  explicit Tracer(SamplerConfig sampler = {}, SpanExporter* exporter = nullptr);

  // ContextFor makes the context of a new span: the parent's trace with a new
  // span id when `parent` is valid (tracestate kept), else a new trace; the
  // sampled flag from the sampler.
  TraceContext ContextFor(const TraceContext& parent) const;
  // Recording is true when spans of `context` go to an exporter.
  bool Recording(const TraceContext& context) const {
    return exporter_ != nullptr && context.sampled;
  }
  // Record exports `span` when Recording(span.context).
  void Record(SpanData span) const;

 private:
  const SamplerConfig sampler_;
  SpanExporter* const exporter_;
};

// Span is one span being timed. Not thread-safe; movable (a moved-from Span
// records nothing). It ends (and is recorded) at End or at destruction, once.
// Attributes, links and errors are kept only when the tracer is Recording the
// span's context, so an unsampled span costs a context and nothing more;
// callers that would build attributes for it check recording() first. A
// null tracer makes a span that only carries a context: the parent's trace
// and sampled flag with a new span id, or an unsampled new trace.
class Span {
 public:
  Span(const Tracer* tracer, std::string_view name, SpanKind kind, const TraceContext& parent,
       absl::Time start = absl::Now());
  Span(Span&&) noexcept;
  Span& operator=(Span&&) noexcept;
  ~Span();

  const TraceContext& context() const { return data_.context; }
  // recording tells whether attributes, links and errors are kept (the
  // tracer records this span) and the span has not ended.
  bool recording() const { return recording_ && !ended_; }
  void SetAttribute(std::string key, AttributeValue value);
  void AddLink(const TraceContext& link);
  void SetError(std::string message);
  void End(absl::Time end = absl::Now());

 private:
  // Disown leaves a moved-from span ended and not recording.
  void Disown();

  const Tracer* tracer_;
  bool ended_ = false;
  bool recording_ = false;  // tracer_->Recording(data_.context), fixed at start
  SpanData data_;
};

}  // namespace sluice
