// MetricsServer: serves a prometheus registry as text on GET /metrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/registry.h"

namespace sluice {

// MetricsServer owns an HTTP listener serving the text exposition format.
// Thread-safe; stops listening when destroyed, which may block for up to
// about two seconds (civetweb's poll interval). Shares ownership of the
// registry it serves.
class MetricsServer {
 public:
  // Start listens on `address` ("host:port"; port 0 picks a free port) and
  // serves `registry` at /metrics. Unavailable when the address cannot be
  // bound (in use, not local, unresolvable); InvalidArgument when `registry`
  // is null or `address` is empty or lists several addresses.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, std::shared_ptr<prometheus::Registry> registry);
  // Start serving several collectables (e.g. a registry and a
  // ProcessCollector) on one endpoint; InvalidArgument when one is null.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables);
  virtual ~MetricsServer() = default;

  // The port actually bound (the chosen one when Start was given port 0).
  virtual int port() const = 0;
};

}  // namespace sluice
