#include "monitoring/callback_probe.h"

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"

namespace sluice {

struct CallbackProbe::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : deliveries(prometheus::BuildCounter()
                       .Name("sluice_callback_deliveries_total")
                       .Help("Attempts to deliver finished invocations' records to topic and "
                             "gRPC callback destinations, by kind and result.")
                       .Register(registry)),
        pending(prometheus::BuildGauge()
                    .Name("sluice_callback_pending")
                    .Help("Topic and gRPC callback deliveries waiting in the outbox.")
                    .Register(registry)
                    .Add({})) {}

  prometheus::Family<prometheus::Counter>& deliveries;
  prometheus::Gauge& pending;
};

CallbackProbe::CallbackProbe(prometheus::Registry& registry)
    : metrics_(std::make_unique<Metrics>(registry)) {}

CallbackProbe::~CallbackProbe() = default;

void CallbackProbe::OnDelivery(absl::string_view kind, absl::string_view result) {
  metrics_->deliveries.Add({{"kind", std::string(kind)}, {"result", std::string(result)}})
      .Increment();
}

void CallbackProbe::SetPending(size_t pending) {
  metrics_->pending.Set(static_cast<double>(pending));
}

}  // namespace sluice
