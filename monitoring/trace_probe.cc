// TraceProbe implementation: three unlabelled counters, each resolved once at
// construction so that events take no family lock.
#include "monitoring/trace_probe.h"

#include "prometheus/counter.h"
#include "prometheus/family.h"

namespace sluice {

// The series; owned by the registry, which keeps them at one address.
struct TraceProbe::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : dropped(prometheus::BuildCounter()
                    .Name("sluice_spans_dropped_total")
                    .Help("Spans dropped before reaching the collector: the export queue "
                          "was full, or their batch failed.")
                    .Register(registry)
                    .Add({})),
        exported(prometheus::BuildCounter()
                     .Name("sluice_spans_exported_total")
                     .Help("Spans accepted by the OTLP collector.")
                     .Register(registry)
                     .Add({})),
        export_failures(prometheus::BuildCounter()
                            .Name("sluice_span_export_failures_total")
                            .Help("Span batches given up after an export error or the last retry.")
                            .Register(registry)
                            .Add({})) {}

  prometheus::Counter& dropped;
  prometheus::Counter& exported;
  prometheus::Counter& export_failures;
};

TraceProbe::TraceProbe(prometheus::Registry& registry)
    : metrics_(std::make_unique<Metrics>(registry)) {}

TraceProbe::~TraceProbe() = default;

void TraceProbe::OnDropped(size_t count) {
  if (count > 0) metrics_->dropped.Increment(static_cast<double>(count));
}

void TraceProbe::OnExported(size_t count) {
  if (count > 0) metrics_->exported.Increment(static_cast<double>(count));
}

void TraceProbe::OnExportFailed() { metrics_->export_failures.Increment(); }

}  // namespace sluice
