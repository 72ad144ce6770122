// OtlpExporter: a SpanExporter that sends spans to an OpenTelemetry collector
// over OTLP/gRPC (opentelemetry.proto.collector.trace.v1.TraceService), in
// batches, from one background thread.
//
// Example:
//   OtlpExporter::Options options;
//   options.endpoint = config.endpoint;  // "host:port"
//   absl::StatusOr<std::unique_ptr<OtlpExporter>> exporter =
//       OtlpExporter::Create(std::move(options));
//   Tracer tracer(config.sampler, exporter->get());
//   ...
//   (*exporter)->Shutdown(absl::Now() + absl::Seconds(5));
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "monitoring/otel_config.h"
#include "monitoring/trace_probe.h"
#include "monitoring/tracer.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace sluice {

// SpanToProto converts one finished span to its OTLP form: ids as raw bytes
// (no parent id for a root), times as Unix nanoseconds, the kind, attributes
// by their type, links, flags (the sampled bit), and status ERROR with the
// message when `span.error`, else UNSET. Thread-safe.
opentelemetry::proto::trace::v1::Span SpanToProto(const SpanData& span);

// OtlpExporter is thread-safe. Export never blocks: it appends to a bounded
// queue, and a full queue (or a shut-down exporter) drops the span and counts
// it. A background thread sends what is queued every flush_interval, or at
// once when a full batch is queued. A batch that fails with UNAVAILABLE,
// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED or ABORTED is retried with jittered
// exponential backoff while new spans keep queueing; after max_retries, or
// any other error, it is dropped and counted. Every span given to Export is
// eventually counted exactly once, as exported or dropped. The probe is not
// owned and must outlive the exporter.
class OtlpExporter : public SpanExporter {
 public:
  struct Options {
    // The collector's OTLP/gRPC address, "host:port" (plaintext). Required.
    std::string endpoint;
    // The resource: service.name, these attributes (a service.name among
    // them is ignored), telemetry.sdk.name="sluice" and
    // telemetry.sdk.language="cpp".
    std::string service_name = "sluice";
    std::vector<std::pair<std::string, std::string>> resource_attributes;
    size_t max_queue = 2048;  // spans waiting to be sent; more are dropped
    size_t max_batch = 512;   // spans per Export call
    absl::Duration flush_interval = absl::Seconds(1);
    absl::Duration export_timeout = absl::Seconds(10);  // deadline of one Export call
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
    int max_retries = 5;          // retries of one batch after its first attempt
    TraceProbe* probe = nullptr;  // not owned; may be null
  };

  // OptionsFrom takes the endpoint, service name and resource attributes of
  // `config`; the rest are defaults.
  static Options OptionsFrom(const OtelConfig& config, TraceProbe* probe = nullptr);

  // Create makes an exporter and starts its thread. INVALID_ARGUMENT for an
  // empty endpoint, a zero max_queue or max_batch, negative retries or
  // non-positive durations. The collector need not be up: spans are queued
  // and retried as above.
  static absl::StatusOr<std::unique_ptr<OtlpExporter>> Create(Options options);

  // Calls Shutdown with a deadline of half a second from now.
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // Export queues `span` for sending, or drops and counts it when the queue
  // is full or Shutdown has been called. Never blocks on the network.
  void Export(SpanData span) override;

  // Shutdown stops accepting spans, sends what is queued until `deadline`
  // (spans still unsent then are dropped and counted; a call in flight at the
  // deadline is cancelled), and joins the thread. Idempotent and thread-safe;
  // returns when the thread has ended.
  void Shutdown(absl::Time deadline);

 private:
  using Stub = opentelemetry::proto::collector::trace::v1::TraceService::Stub;
  using Request = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

  OtlpExporter(Options options, std::unique_ptr<Stub> stub);

  // Run is the background thread: batches and sends until shut down.
  void Run();
  // TakeBatch waits until a batch is due (full, interval passed, or
  // shutdown) and moves up to max_batch spans out of the queue. Returns
  // false when the thread should end (shut down, and the queue empty or the
  // deadline passed, in which case what remains is dropped and counted).
  bool TakeBatch(absl::Time& next_flush, std::vector<SpanData>& batch);
  // Send delivers one batch, retrying as the class comment says, and counts
  // its spans as exported or dropped.
  void Send(std::vector<SpanData> batch);
  // BackOff waits `delay` or until the shutdown deadline; false when the
  // deadline has passed and the batch should be given up.
  bool BackOff(absl::Duration delay);
  Request MakeRequest(std::vector<SpanData> batch) const;
  void CountDropped(size_t count) const;

  // Constant after construction.
  const Options options_;
  const std::unique_ptr<Stub> stub_;
  opentelemetry::proto::resource::v1::Resource resource_;

  // Touched only by the background thread.
  absl::InsecureBitGen jitter_;

  absl::Mutex mu_;
  absl::CondVar cv_;  // signalled on a full batch, on shutdown and when the thread ends
  std::deque<SpanData> queue_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time flush_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool run_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* call_in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;

  absl::Mutex join_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace sluice
