// GrpcServerProbe implementation: one interceptor per call holds the metrics
// of its method, looked up once when the call starts; after that a call
// touches only its own metrics (atomic counters), never a lock.
#include "monitoring/grpc_server_probe.h"

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "monitoring/buckets.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace sluice {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr size_t kTypes = 4;
// Status codes 0 (OK) to 16 (UNAUTHENTICATED); others count as UNKNOWN.
constexpr size_t kCodes = 17;
constexpr char kUnknown[] = "unknown";

// TypeIndex numbers the call types 0..3 in the order of ServerRpcInfo::Type.
size_t TypeIndex(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return 0;
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return 1;
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return 2;
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return 3;
  }
  return 3;
}

const char* TypeLabel(size_t type_index) {
  static constexpr std::array<const char*, kTypes> kLabels = {"unary", "client_stream",
                                                              "server_stream", "bidi_stream"};
  return kLabels[type_index];
}

// CodeIndex is `code` when it is one of the canonical codes, else UNKNOWN.
size_t CodeIndex(grpc::StatusCode code) {
  const int value = static_cast<int>(code);
  return value >= 0 && value < static_cast<int>(kCodes) ? static_cast<size_t>(value)
                                                        : static_cast<size_t>(grpc::UNKNOWN);
}

const char* CodeLabel(size_t code_index) {
  static constexpr std::array<const char*, kCodes> kLabels = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  return kLabels[code_index];
}

// MethodName is a full method name "/pkg.Service/Method" split in two.
struct MethodName {
  std::string service;
  std::string method;
};

// SplitMethod splits `full` ("/pkg.Service/Method") into service and method;
// nullopt when it has another shape, or bytes other than printable ASCII
// (label values must stay valid and readable whatever a client sends).
std::optional<MethodName> SplitMethod(absl::string_view full) {
  for (const char c : full) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F) return std::nullopt;
  }
  if (full.size() < 4 || full[0] != '/') return std::nullopt;
  const size_t slash = full.find('/', 1);
  if (slash == absl::string_view::npos || slash == 1 || slash + 1 == full.size()) {
    return std::nullopt;
  }
  return MethodName{std::string(full.substr(1, slash - 1)), std::string(full.substr(slash + 1))};
}

}  // namespace

// The families and the metrics of each (method, type) seen. Thread-safe.
// Metric pointers stay valid as long as the registry holds the families: the
// probe never removes a metric.
class GrpcServerProbe::Metrics {
 public:
  // The metrics of one method and call type. Thread-safe.
  class PerMethod {
   public:
    PerMethod(Metrics& metrics, const std::string& service, const std::string& method,
              size_t type_index)
        : handled_family_(metrics.handled_),
          labels_{{"grpc_service", service},
                  {"grpc_method", method},
                  {"grpc_type", TypeLabel(type_index)}},
          started_(metrics.started_.Add(labels_)),
          handling_(metrics.handling_.Add(labels_, LatencyBuckets())),
          received_(metrics.received_.Add(labels_)),
          sent_(metrics.sent_.Add(labels_)) {}

    prometheus::Counter& started() const { return started_; }
    prometheus::Histogram& handling() const { return handling_; }
    prometheus::Counter& received() const { return received_; }
    prometheus::Counter& sent() const { return sent_; }

    // The counter of calls handled with `code`, added to
    // grpc_server_handled_total on first use.
    prometheus::Counter& Handled(grpc::StatusCode code) {
      const size_t index = CodeIndex(code);
      prometheus::Counter* counter = handled_[index].load(std::memory_order_acquire);
      if (counter == nullptr) {
        // Family::Add returns the same metric for the same labels, so a race
        // here stores one pointer twice.
        prometheus::Labels labels = labels_;
        labels.emplace("grpc_code", CodeLabel(index));
        counter = &handled_family_.Add(labels);
        handled_[index].store(counter, std::memory_order_release);
      }
      return *counter;
    }

   private:
    // Constant after construction; metrics owned by the registry.
    prometheus::Family<prometheus::Counter>& handled_family_;
    const prometheus::Labels labels_;
    prometheus::Counter& started_;
    prometheus::Histogram& handling_;
    prometheus::Counter& received_;
    prometheus::Counter& sent_;
    // Set once each, on the first call handled with that code.
    std::array<std::atomic<prometheus::Counter*>, kCodes> handled_{};
  };

  Metrics(prometheus::Registry& registry, GrpcServerProbeOptions options)
      : max_methods_(options.max_methods),
        started_(prometheus::BuildCounter()
                     .Name("grpc_server_started_total")
                     .Help("Total number of RPCs started on the server.")
                     .Register(registry)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_server_handled_total")
                     .Help("Total number of RPCs completed on the server, regardless of success "
                           "or failure.")
                     .Register(registry)),
        handling_(prometheus::BuildHistogram()
                      .Name("grpc_server_handling_seconds")
                      .Help("Histogram of response latency (seconds) of gRPC that had been "
                            "application-level handled by the server.")
                      .Register(registry)),
        received_(prometheus::BuildCounter()
                      .Name("grpc_server_msg_received_total")
                      .Help("Total number of RPC stream messages received on the server.")
                      .Register(registry)),
        sent_(prometheus::BuildCounter()
                  .Name("grpc_server_msg_sent_total")
                  .Help("Total number of gRPC stream messages sent by the server.")
                  .Register(registry)) {}

  // The metrics of calls of `full_method` of type `type_index`: its own
  // when the name is well formed and fewer than max_methods_ other names
  // have metrics, else those of "unknown". Lives as long as this object.
  PerMethod& For(absl::string_view full_method, size_t type_index) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = methods_.find(full_method);
      if (it != methods_.end()) {
        if (it->second.by_type[type_index] != nullptr) return *it->second.by_type[type_index];
      } else if (unknown_[type_index] != nullptr &&
                 (methods_.size() >= max_methods_ || !SplitMethod(full_method).has_value())) {
        return *unknown_[type_index];
      }
    }
    absl::MutexLock lock(&mu_);
    auto it = methods_.find(full_method);
    if (it == methods_.end()) {
      std::optional<MethodName> name = SplitMethod(full_method);
      if (!name.has_value() || methods_.size() >= max_methods_) {
        std::unique_ptr<PerMethod>& unknown = unknown_[type_index];
        if (unknown == nullptr) {
          unknown = std::make_unique<PerMethod>(*this, kUnknown, kUnknown, type_index);
        }
        return *unknown;
      }
      it = methods_.emplace(std::string(full_method), Method{*std::move(name), {}}).first;
    }
    Method& entry = it->second;
    std::unique_ptr<PerMethod>& metrics = entry.by_type[type_index];
    if (metrics == nullptr) {
      metrics =
          std::make_unique<PerMethod>(*this, entry.name.service, entry.name.method, type_index);
    }
    return *metrics;
  }

 private:
  // The metrics of calls by type (usually one is used).
  using PerType = std::array<std::unique_ptr<PerMethod>, kTypes>;
  // One method name seen: its labels and metrics.
  struct Method {
    MethodName name;
    PerType by_type;
  };

  // Constant after construction; families owned by the registry.
  const size_t max_methods_;
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& sent_;

  absl::Mutex mu_;
  // Guarded by mu_: full method name -> its metrics. Entries are never
  // removed, and each PerMethod stays at one address. At most max_methods_
  // entries.
  absl::flat_hash_map<std::string, Method> methods_ ABSL_GUARDED_BY(mu_);
  // Guarded by mu_: the metrics of calls of every other method, by type.
  PerType unknown_ ABSL_GUARDED_BY(mu_);
};

// Counts one call. gRPC may run its hooks on several threads, even at once
// (a read and a write of a stream), so its only mutable state is atomic;
// gRPC deletes it after the last hook has run.
class GrpcServerProbe::Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(std::shared_ptr<Metrics> metrics, ServerRpcInfo* info)
      : metrics_(std::move(metrics)),
        info_(info),
        method_(metrics_->For(info->method() != nullptr ? info->method() : "",
                              TypeIndex(info->type()))),
        start_(std::chrono::steady_clock::now()) {
    method_.started().Increment();
  }

  ~Interceptor() override {
    // Ended without a status sent: the client went away or the server was
    // shut down under the call.
    Handled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      method_.received().Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      method_.sent().Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::ServerContextBase* context = info_->server_context();
      // A status sent after the call was cancelled never reaches the client.
      Handled(context != nullptr && context->IsCancelled() ? grpc::StatusCode::CANCELLED
                                                           : methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  // Handled counts the call as handled with `code`, unless it was already.
  void Handled(grpc::StatusCode code) {
    if (handled_.exchange(true, std::memory_order_acq_rel)) return;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    method_.Handled(code).Increment();
    method_.handling().Observe(elapsed.count());
  }

  // Constant after construction.
  const std::shared_ptr<Metrics> metrics_;  // keeps method_ alive
  ServerRpcInfo* const info_;               // owned by gRPC; outlives this
  Metrics::PerMethod& method_;
  const std::chrono::steady_clock::time_point start_;

  std::atomic<bool> handled_{false};
};

// A factory that shares a probe's metrics, for ServerBuilder to own.
class GrpcServerProbe::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::shared_ptr<Metrics> metrics) : metrics_(std::move(metrics)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new Interceptor(metrics_, info);
  }

 private:
  const std::shared_ptr<Metrics> metrics_;
};

GrpcServerProbe::GrpcServerProbe(prometheus::Registry& registry, GrpcServerProbeOptions options)
    : metrics_(std::make_shared<Metrics>(registry, options)) {}

GrpcServerProbe::~GrpcServerProbe() = default;

grpc::experimental::Interceptor* GrpcServerProbe::CreateServerInterceptor(ServerRpcInfo* info) {
  return new Interceptor(metrics_, info);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerProbe::NewInterceptorFactory() const {
  return std::make_unique<Factory>(metrics_);
}

}  // namespace sluice
