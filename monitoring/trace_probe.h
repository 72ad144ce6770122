// TraceProbe: the metrics of span export: spans exported, spans dropped and
// failed export calls.
//
// The span exporter reports events to the probe; only the probe touches
// prometheus-cpp. The series carry no labels.
#pragma once

#include <cstddef>
#include <memory>

#include "prometheus/registry.h"

namespace sluice {

// TraceProbe is thread-safe. The registry must outlive it; the series stay in
// the registry after the probe is destroyed.
class TraceProbe {
 public:
  // Registers the families in `registry`. Precondition: `registry` holds no
  // family of the same name and another type; a registry with
  // InsertBehavior::Merge (the default) may be shared by several probes,
  // whose events then add up.
  explicit TraceProbe(prometheus::Registry& registry);
  ~TraceProbe();
  TraceProbe(const TraceProbe&) = delete;
  TraceProbe& operator=(const TraceProbe&) = delete;

  // `count` spans were dropped, because the export queue was full or their
  // batch could not be delivered (sluice_spans_dropped_total +count).
  void OnDropped(size_t count);
  // `count` spans were accepted by the collector
  // (sluice_spans_exported_total +count).
  void OnExported(size_t count);
  // A batch was given up after an error or the last retry
  // (sluice_span_export_failures_total +1).
  void OnExportFailed();

 private:
  struct Metrics;
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace sluice
