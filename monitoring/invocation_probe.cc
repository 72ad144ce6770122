// InvocationProbe implementation: one prometheus family per metric, with the
// metrics of each function cached so that after the first event of a function
// the hot path neither builds label maps nor takes the families' locks.
#include "monitoring/invocation_probe.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "monitoring/buckets.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace sluice {
namespace {

// `d` in seconds; negative durations (a clock stepped back) count as zero.
double Seconds(absl::Duration d) {
  return absl::ToDoubleSeconds(std::max(d, absl::ZeroDuration()));
}

}  // namespace

// The registered families and, per function, the metrics already added to
// them. Thread-safe. Metric pointers stay valid as long as the registry holds
// the families: the probe never removes a metric.
class InvocationProbe::Families {
 public:
  // The metrics of one function. Thread-safe.
  class PerFunction {
   public:
    PerFunction(Families& families, const std::string& function)
        : function_(function),
          invocations_(families.invocations_),
          queue_depth_(families.queue_depth_.Add({{"function", function}})),
          in_flight_(families.in_flight_.Add({{"function", function}})),
          queue_wait_(families.queue_wait_.Add({{"function", function}}, LatencyBuckets())),
          duration_(families.duration_.Add({{"function", function}}, LatencyBuckets())),
          rejected_(families.rejected_.Add({{"function", function}})),
          retries_(families.retries_.Add({{"function", function}})),
          dead_letters_(families.dead_letters_.Add({{"function", function}})),
          oldest_pending_(families.oldest_pending_.Add({{"function", function}})) {}

    prometheus::Gauge& queue_depth() const { return queue_depth_; }
    prometheus::Gauge& in_flight() const { return in_flight_; }
    prometheus::Histogram& queue_wait() const { return queue_wait_; }
    prometheus::Histogram& duration() const { return duration_; }
    prometheus::Counter& rejected() const { return rejected_; }
    prometheus::Counter& retries() const { return retries_; }
    prometheus::Counter& dead_letters() const { return dead_letters_; }
    prometheus::Gauge& oldest_pending() const { return oldest_pending_; }

    // The counter of this function's invocations that ended with `outcome`,
    // added to sluice_invocations_total on first use.
    prometheus::Counter& Outcome(const std::string& outcome) ABSL_LOCKS_EXCLUDED(mu_) {
      {
        absl::ReaderMutexLock lock(&mu_);
        auto it = outcomes_.find(outcome);
        if (it != outcomes_.end()) return *it->second;
      }
      absl::MutexLock lock(&mu_);
      prometheus::Counter*& counter = outcomes_[outcome];
      if (counter == nullptr) {
        counter = &invocations_.Add({{"function", function_}, {"outcome", outcome}});
      }
      return *counter;
    }

   private:
    // Constant after construction; metrics owned by the registry.
    const std::string function_;
    prometheus::Family<prometheus::Counter>& invocations_;
    prometheus::Gauge& queue_depth_;
    prometheus::Gauge& in_flight_;
    prometheus::Histogram& queue_wait_;
    prometheus::Histogram& duration_;
    prometheus::Counter& rejected_;
    prometheus::Counter& retries_;
    prometheus::Counter& dead_letters_;
    prometheus::Gauge& oldest_pending_;

    absl::Mutex mu_;
    // Guarded by mu_: outcome -> counter in invocations_.
    absl::flat_hash_map<std::string, prometheus::Counter*> outcomes_ ABSL_GUARDED_BY(mu_);
  };

  explicit Families(prometheus::Registry& registry)
      : invocations_(prometheus::BuildCounter()
                         .Name("sluice_invocations_total")
                         .Help("Invocations that ran to an end, by function and outcome.")
                         .Register(registry)),
        duration_(prometheus::BuildHistogram()
                      .Name("sluice_invocation_duration_seconds")
                      .Help("Time invocations ran, from start to outcome, by function.")
                      .Register(registry)),
        queue_wait_(prometheus::BuildHistogram()
                        .Name("sluice_queue_wait_seconds")
                        .Help("Time invocations waited in their queue before they started.")
                        .Register(registry)),
        queue_depth_(prometheus::BuildGauge()
                         .Name("sluice_queue_depth")
                         .Help("Invocations waiting in the queue of a function.")
                         .Register(registry)),
        in_flight_(prometheus::BuildGauge()
                       .Name("sluice_invocations_in_flight")
                       .Help("Invocations of a function started and not yet finished.")
                       .Register(registry)),
        rejected_(prometheus::BuildCounter()
                      .Name("sluice_invocations_rejected_total")
                      .Help("Invocations refused because the queue of their function was full.")
                      .Register(registry)),
        retries_(prometheus::BuildCounter()
                     .Name("sluice_retries_total")
                     .Help("Failed attempts of background invocations that were retried.")
                     .Register(registry)),
        dead_letters_(prometheus::BuildCounter()
                          .Name("sluice_dead_letters_total")
                          .Help("Background invocations that failed for good (dead-lettered).")
                          .Register(registry)),
        oldest_pending_(prometheus::BuildGauge()
                            .Name("sluice_oldest_pending_age_seconds")
                            .Help("How long the oldest invocation waiting in a function's queue "
                                  "has waited.")
                            .Register(registry)) {}

  // The metrics of `function`, added to the families on first use. The
  // result lives as long as this object.
  PerFunction& ForFunction(const std::string& function) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = per_function_.find(function);
      if (it != per_function_.end()) return *it->second;
    }
    absl::MutexLock lock(&mu_);
    std::unique_ptr<PerFunction>& metrics = per_function_[function];
    if (metrics == nullptr) metrics = std::make_unique<PerFunction>(*this, function);
    return *metrics;
  }

 private:
  // Constant after construction; families owned by the registry.
  prometheus::Family<prometheus::Counter>& invocations_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Family<prometheus::Gauge>& oldest_pending_;

  absl::Mutex mu_;
  // Guarded by mu_: function -> its metrics; entries are never removed, and
  // each PerFunction stays at one address.
  absl::flat_hash_map<std::string, std::unique_ptr<PerFunction>> per_function_ ABSL_GUARDED_BY(mu_);
};

InvocationProbe::InvocationProbe(prometheus::Registry& registry)
    : families_(std::make_unique<Families>(registry)) {}

InvocationProbe::~InvocationProbe() = default;

void InvocationProbe::OnEnqueued(const std::string& function) {
  families_->ForFunction(function).queue_depth().Increment();
}

void InvocationProbe::OnStarted(const std::string& function, absl::Duration waited) {
  Families::PerFunction& metrics = families_->ForFunction(function);
  metrics.queue_depth().Decrement();
  metrics.queue_wait().Observe(Seconds(waited));
  metrics.in_flight().Increment();
}

void InvocationProbe::OnDropped(const std::string& function) {
  families_->ForFunction(function).queue_depth().Decrement();
}

void InvocationProbe::OnFinished(const std::string& function, const std::string& outcome,
                                 absl::Duration duration) {
  Families::PerFunction& metrics = families_->ForFunction(function);
  metrics.Outcome(outcome).Increment();
  metrics.duration().Observe(Seconds(duration));
  metrics.in_flight().Decrement();
}

void InvocationProbe::OnRejected(const std::string& function) {
  families_->ForFunction(function).rejected().Increment();
}

void InvocationProbe::OnRetry(const std::string& function) {
  families_->ForFunction(function).retries().Increment();
}

void InvocationProbe::OnDeadLettered(const std::string& function) {
  families_->ForFunction(function).dead_letters().Increment();
}

void InvocationProbe::SetOldestPendingAge(const std::string& function, absl::Duration age) {
  families_->ForFunction(function).oldest_pending().Set(Seconds(age));
}

}  // namespace sluice
