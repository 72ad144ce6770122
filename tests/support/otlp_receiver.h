// OtlpReceiver: a real in-process OTLP/gRPC trace collector for tests. It
// serves opentelemetry.proto.collector.trace.v1.TraceService on 127.0.0.1 at
// a free port, keeps what it receives, and can fail calls on request.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "grpcpp/support/status.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace sluice::testing {

// OtlpReceiver is thread-safe. It serves from construction (Start) until
// destruction, which shuts the server down.
class OtlpReceiver {
 public:
  // Start binds 127.0.0.1:0 and serves. UNAVAILABLE if it cannot bind.
  // With `keep` false it only counts what arrives (span_count), for load
  // generators: Spans and Requests stay empty.
  static absl::StatusOr<std::unique_ptr<OtlpReceiver>> Start(bool keep = true);
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  int port() const { return port_; }
  // endpoint is "127.0.0.1:<port>", as OtlpExporter::Options::endpoint.
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

  // FailNext answers the next `n` Export calls with `code` (their spans are
  // not kept); later calls succeed again.
  void FailNext(int n, grpc::StatusCode code);

  // Spans is every span of every successful Export call, in arrival order.
  std::vector<opentelemetry::proto::trace::v1::Span> Spans() const;
  // Requests is the ResourceSpans of every successful Export call (resource,
  // scope and spans), in arrival order.
  std::vector<opentelemetry::proto::trace::v1::ResourceSpans> Requests() const;
  // span_count counts the spans of every successful Export call.
  size_t span_count() const;
  // WaitForSpans waits until at least `n` spans have been received or
  // `timeout` passes; returns whether they were.
  bool WaitForSpans(size_t n, absl::Duration timeout) const;
  // export_calls counts Export calls, failed ones included.
  int export_calls() const;

 private:
  class Service;

  explicit OtlpReceiver(bool keep);

  // Constant after Start.
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace sluice::testing
