// MetricsServer implementation on prometheus-cpp's Exposer (civetweb).
#include "monitoring/metrics_server.h"

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"

namespace sluice {
namespace {

// ExposerMetricsServer serves collectables through an Exposer. Thread-safe:
// immutable after construction. Owns the exposer and shares the
// collectables, so /metrics keeps working for as long as the server lives.
class ExposerMetricsServer final : public MetricsServer {
 public:
  ExposerMetricsServer(std::unique_ptr<prometheus::Exposer> exposer,
                       std::vector<std::shared_ptr<prometheus::Collectable>> collectables, int port)
      : collectables_(std::move(collectables)), exposer_(std::move(exposer)), port_(port) {}

  int port() const override { return port_; }

 private:
  // Constant after construction. collectables_ is declared first so that it
  // is destroyed after the exposer that serves it.
  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  const std::unique_ptr<prometheus::Exposer> exposer_;
  const int port_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  return Start(address, std::vector<std::shared_ptr<prometheus::Collectable>>{registry});
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  for (const auto& collectable : collectables) {
    if (collectable == nullptr) return absl::InvalidArgumentError("a metrics collectable is null");
  }
  // civetweb reads "listening_ports" as a comma-separated list with per-port
  // suffixes; accept exactly one plain address.
  if (address.empty() || address.find_first_of(", \t") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address must be one \"host:port\", got \"", address, "\""));
  }
  // Exposer and civetweb report failures by throwing; none may escape.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    for (const auto& collectable : collectables) exposer->RegisterCollectable(collectable);
    const std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.size() != 1 || ports.front() <= 0) {
      return absl::InternalError(
          absl::StrCat("metrics server on ", address, " reports no single bound port"));
    }
    return std::make_unique<ExposerMetricsServer>(std::move(exposer), std::move(collectables),
                                                  ports.front());
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  } catch (...) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address));
  }
}

}  // namespace sluice
