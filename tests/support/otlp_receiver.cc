// OtlpReceiver implementation: a synchronous TraceService whose state sits
// under one mutex, with waits on conditions rather than polling.
#include "tests/support/otlp_receiver.h"

#include "absl/status/status.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace sluice::testing {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace otlp = opentelemetry::proto::trace::v1;

// Service keeps what arrives. Thread-safe.
class OtlpReceiver::Service final : public collector::TraceService::Service {
 public:
  explicit Service(bool keep) : keep_(keep) {}

  grpc::Status Export(grpc::ServerContext* /*context*/,
                      const collector::ExportTraceServiceRequest* request,
                      collector::ExportTraceServiceResponse* /*response*/) override {
    absl::MutexLock lock(&mu_);
    ++export_calls_;
    if (fail_remaining_ > 0) {
      --fail_remaining_;
      return grpc::Status(fail_code_, "failed on request by the test (FailNext)");
    }
    for (const otlp::ResourceSpans& resource_spans : request->resource_spans()) {
      for (const otlp::ScopeSpans& scope_spans : resource_spans.scope_spans()) {
        span_count_ += scope_spans.spans_size();
      }
      if (!keep_) continue;
      requests_.push_back(resource_spans);
      for (const otlp::ScopeSpans& scope_spans : resource_spans.scope_spans()) {
        spans_.insert(spans_.end(), scope_spans.spans().begin(), scope_spans.spans().end());
      }
    }
    return grpc::Status::OK;
  }

  void FailNext(int n, grpc::StatusCode code) {
    absl::MutexLock lock(&mu_);
    fail_remaining_ = n;
    fail_code_ = code;
  }

  std::vector<otlp::Span> Spans() const {
    absl::MutexLock lock(&mu_);
    return spans_;
  }

  std::vector<otlp::ResourceSpans> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  bool WaitForSpans(size_t n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return span_count_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  size_t span_count() const {
    absl::MutexLock lock(&mu_);
    return span_count_;
  }

  int export_calls() const {
    absl::MutexLock lock(&mu_);
    return export_calls_;
  }

 private:
  const bool keep_;
  mutable absl::Mutex mu_;
  size_t span_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<otlp::Span> spans_ ABSL_GUARDED_BY(mu_);
  std::vector<otlp::ResourceSpans> requests_ ABSL_GUARDED_BY(mu_);
  int export_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_remaining_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::StatusCode fail_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;
};

OtlpReceiver::OtlpReceiver(bool keep) : service_(std::make_unique<Service>(keep)) {}

absl::StatusOr<std::unique_ptr<OtlpReceiver>> OtlpReceiver::Start(bool keep) {
  std::unique_ptr<OtlpReceiver> receiver(new OtlpReceiver(keep));
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &receiver->port_);
  builder.RegisterService(receiver->service_.get());
  receiver->server_ = builder.BuildAndStart();
  if (receiver->server_ == nullptr || receiver->port_ == 0) {
    return absl::UnavailableError("OtlpReceiver: cannot serve on 127.0.0.1:0");
  }
  return receiver;
}

OtlpReceiver::~OtlpReceiver() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
  }
}

void OtlpReceiver::FailNext(int n, grpc::StatusCode code) { service_->FailNext(n, code); }

std::vector<otlp::Span> OtlpReceiver::Spans() const { return service_->Spans(); }

size_t OtlpReceiver::span_count() const { return service_->span_count(); }

std::vector<otlp::ResourceSpans> OtlpReceiver::Requests() const { return service_->Requests(); }

bool OtlpReceiver::WaitForSpans(size_t n, absl::Duration timeout) const {
  return service_->WaitForSpans(n, timeout);
}

int OtlpReceiver::export_calls() const { return service_->export_calls(); }

}  // namespace sluice::testing
