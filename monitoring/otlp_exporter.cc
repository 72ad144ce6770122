// OtlpExporter implementation: a bounded queue drained by one thread that
// sends OTLP/gRPC Export calls with a deadline and retries transient errors.
#include "monitoring/otlp_exporter.h"

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sluice {
namespace {

namespace collector = opentelemetry::proto::collector::trace::v1;
namespace common = opentelemetry::proto::common::v1;
namespace otlp = opentelemetry::proto::trace::v1;

constexpr char kScopeName[] = "sluice";
constexpr absl::Duration kDestructorFlushTimeout = absl::Milliseconds(500);

uint64_t UnixNanos(absl::Time t) {
  return static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixNanos(t)));
}

otlp::Span::SpanKind KindToProto(SpanKind kind) {
  switch (kind) {
    case SpanKind::kInternal:
      return otlp::Span::SPAN_KIND_INTERNAL;
    case SpanKind::kServer:
      return otlp::Span::SPAN_KIND_SERVER;
    case SpanKind::kClient:
      return otlp::Span::SPAN_KIND_CLIENT;
    case SpanKind::kProducer:
      return otlp::Span::SPAN_KIND_PRODUCER;
    case SpanKind::kConsumer:
      return otlp::Span::SPAN_KIND_CONSUMER;
  }
  return otlp::Span::SPAN_KIND_UNSPECIFIED;
}

void SetValue(const AttributeValue& value, common::AnyValue& out) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out.set_string_value(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out.set_int_value(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.set_bool_value(v);
        } else {
          static_assert(std::is_same_v<T, double>);
          out.set_double_value(v);
        }
      },
      value);
}

void AddStringAttribute(std::string key, std::string value,
                        google::protobuf::RepeatedPtrField<common::KeyValue>& out) {
  common::KeyValue* kv = out.Add();
  kv->set_key(std::move(key));
  kv->mutable_value()->set_string_value(std::move(value));
}

// Retryable says whether an Export error is transient, as the OTLP
// specification lists them.
bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::ABORTED;
}

absl::Status ValidateOptions(const OtlpExporter::Options& options) {
  if (options.endpoint.empty()) return absl::InvalidArgumentError("OTLP endpoint is empty");
  if (options.max_queue == 0 || options.max_batch == 0) {
    return absl::InvalidArgumentError("OTLP max_queue and max_batch must be positive");
  }
  if (options.max_retries < 0) {
    return absl::InvalidArgumentError("OTLP max_retries must not be negative");
  }
  if (options.flush_interval <= absl::ZeroDuration() ||
      options.export_timeout <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(
        "OTLP flush_interval, export_timeout and initial_backoff must be positive, and "
        "max_backoff at least initial_backoff");
  }
  return absl::OkStatus();
}

}  // namespace

otlp::Span SpanToProto(const SpanData& span) {
  otlp::Span out;
  const TraceContext& context = span.context;
  out.set_trace_id(context.trace_id.data(), context.trace_id.size());
  out.set_span_id(context.span_id.data(), context.span_id.size());
  out.set_trace_state(context.tracestate);
  if (std::any_of(span.parent_span_id.begin(), span.parent_span_id.end(),
                  [](uint8_t b) { return b != 0; })) {
    out.set_parent_span_id(span.parent_span_id.data(), span.parent_span_id.size());
  }
  out.set_flags(context.sampled ? 1 : 0);
  out.set_name(span.name);
  out.set_kind(KindToProto(span.kind));
  out.set_start_time_unix_nano(UnixNanos(span.start));
  out.set_end_time_unix_nano(UnixNanos(span.end));
  for (const auto& [key, value] : span.attributes) {
    common::KeyValue* kv = out.add_attributes();
    kv->set_key(key);
    SetValue(value, *kv->mutable_value());
  }
  for (const TraceContext& link : span.links) {
    otlp::Span::Link* l = out.add_links();
    l->set_trace_id(link.trace_id.data(), link.trace_id.size());
    l->set_span_id(link.span_id.data(), link.span_id.size());
    l->set_trace_state(link.tracestate);
    l->set_flags(link.sampled ? 1 : 0);
  }
  if (span.error) {
    out.mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
    out.mutable_status()->set_message(span.status_message);
  }
  return out;
}

OtlpExporter::Options OtlpExporter::OptionsFrom(const OtelConfig& config, TraceProbe* probe) {
  Options options;
  options.endpoint = config.endpoint;
  options.service_name = config.service_name;
  options.resource_attributes = config.resource_attributes;
  options.probe = probe;
  return options;
}

absl::StatusOr<std::unique_ptr<OtlpExporter>> OtlpExporter::Create(Options options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) return status;
  grpc::ChannelArguments args;
  // Reconnect on the exporter's own backoff scale rather than gRPC's
  // default (up to two minutes), so a collector that comes back is used
  // by the next retry.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.initial_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.max_backoff)));
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.endpoint, grpc::InsecureChannelCredentials(), args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot make a gRPC channel to ", options.endpoint));
  }
  std::unique_ptr<Stub> stub = collector::TraceService::NewStub(channel);
  return std::unique_ptr<OtlpExporter>(new OtlpExporter(std::move(options), std::move(stub)));
}

OtlpExporter::OtlpExporter(Options options, std::unique_ptr<Stub> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {
  AddStringAttribute("service.name", options_.service_name, *resource_.mutable_attributes());
  for (const auto& [key, value] : options_.resource_attributes) {
    if (key == "service.name") continue;
    AddStringAttribute(key, value, *resource_.mutable_attributes());
  }
  AddStringAttribute("telemetry.sdk.name", "sluice", *resource_.mutable_attributes());
  AddStringAttribute("telemetry.sdk.language", "cpp", *resource_.mutable_attributes());
  absl::MutexLock lock(&join_mu_);
  thread_ = std::thread([this] { Run(); });
}

OtlpExporter::~OtlpExporter() { Shutdown(absl::Now() + kDestructorFlushTimeout); }

void OtlpExporter::Export(SpanData span) {
  {
    absl::MutexLock lock(&mu_);
    if (!shutting_down_ && queue_.size() < options_.max_queue) {
      queue_.push_back(std::move(span));
      if (queue_.size() == options_.max_batch) cv_.Signal();
      return;
    }
  }
  CountDropped(1);
}

void OtlpExporter::Shutdown(absl::Time deadline) {
  absl::MutexLock join_lock(&join_mu_);
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    flush_deadline_ = std::min(flush_deadline_, deadline);
    cv_.SignalAll();
    while (!run_done_ && absl::Now() < flush_deadline_) {
      cv_.WaitWithDeadline(&mu_, flush_deadline_);
    }
    // The thread gives up at the deadline on its own, but a call in flight
    // would hold it until the call's own deadline.
    if (!run_done_ && call_in_flight_ != nullptr) call_in_flight_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void OtlpExporter::Run() {
  absl::Time next_flush = absl::Now() + options_.flush_interval;
  std::vector<SpanData> batch;
  while (TakeBatch(next_flush, batch)) {
    if (!batch.empty()) Send(std::move(batch));
    batch.clear();
  }
  absl::MutexLock lock(&mu_);
  run_done_ = true;
  cv_.SignalAll();
}

bool OtlpExporter::TakeBatch(absl::Time& next_flush, std::vector<SpanData>& batch) {
  size_t abandoned = 0;
  {
    absl::MutexLock lock(&mu_);
    while (!shutting_down_ && queue_.size() < options_.max_batch && absl::Now() < next_flush) {
      cv_.WaitWithDeadline(&mu_, next_flush);
    }
    const absl::Time now = absl::Now();
    if (now >= next_flush) next_flush = now + options_.flush_interval;
    if (shutting_down_ && (queue_.empty() || now >= flush_deadline_)) {
      abandoned = queue_.size();
      queue_.clear();
    } else {
      const size_t n = std::min(queue_.size(), options_.max_batch);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      return true;
    }
  }
  CountDropped(abandoned);
  return false;
}

OtlpExporter::Request OtlpExporter::MakeRequest(std::vector<SpanData> batch) const {
  Request request;
  otlp::ResourceSpans* resource_spans = request.add_resource_spans();
  *resource_spans->mutable_resource() = resource_;
  otlp::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
  scope_spans->mutable_scope()->set_name(kScopeName);
  scope_spans->mutable_spans()->Reserve(static_cast<int>(batch.size()));
  for (const SpanData& span : batch) *scope_spans->add_spans() = SpanToProto(span);
  return request;
}

void OtlpExporter::Send(std::vector<SpanData> batch) {
  const size_t size = batch.size();
  const Request request = MakeRequest(std::move(batch));
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 0;; ++attempt) {
    collector::ExportTraceServiceResponse response;
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (absl::Now() >= flush_deadline_) break;
      context.set_deadline(
          absl::ToChronoTime(std::min(absl::Now() + options_.export_timeout, flush_deadline_)));
      call_in_flight_ = &context;
    }
    const grpc::Status status = stub_->Export(&context, request, &response);
    {
      absl::MutexLock lock(&mu_);
      call_in_flight_ = nullptr;
    }
    if (status.ok()) {
      const size_t rejected = static_cast<size_t>(std::clamp<int64_t>(
          response.partial_success().rejected_spans(), 0, static_cast<int64_t>(size)));
      if (options_.probe != nullptr) options_.probe->OnExported(size - rejected);
      CountDropped(rejected);
      return;
    }
    if (!Retryable(status.error_code()) || attempt >= options_.max_retries) break;
    // Equal jitter: half the backoff fixed, half random.
    const absl::Duration delay = backoff / 2 + absl::Uniform(jitter_, 0.0, 1.0) * (backoff / 2);
    if (!BackOff(delay)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  CountDropped(size);
  if (options_.probe != nullptr) options_.probe->OnExportFailed();
}

bool OtlpExporter::BackOff(absl::Duration delay) {
  const absl::Time retry_at = absl::Now() + delay;
  absl::MutexLock lock(&mu_);
  while (true) {
    const absl::Time until = std::min(retry_at, flush_deadline_);
    if (absl::Now() >= until) break;
    // Wakes early when Shutdown brings the deadline forward.
    cv_.WaitWithDeadline(&mu_, until);
  }
  return absl::Now() < flush_deadline_;
}

void OtlpExporter::CountDropped(size_t count) const {
  if (options_.probe != nullptr && count > 0) options_.probe->OnDropped(count);
}

}  // namespace sluice
