// MetricsServer: serves a prometheus registry as text on GET /metrics.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace sluice {

// MetricsServer owns an HTTP listener. Thread-safe; stops when destroyed.
class MetricsServer {
 public:
  // Start listens on `address` ("host:port"; port 0 picks a free port) and
  // serves `registry` at /metrics. Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  virtual ~MetricsServer() = default;

  // The port actually bound.
  virtual int port() const = 0;
};

}  // namespace sluice
