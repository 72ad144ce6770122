// ProcessCollector: the standard process metrics of the running process,
// read from /proc at each scrape.
#pragma once

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace sluice {

// ProcessCollector reports, with the names every Prometheus client library
// uses: process_cpu_seconds_total (user + system), process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds (Unix time). A value that cannot be read is
// left out rather than reported wrong. Thread-safe (stateless).
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace sluice
