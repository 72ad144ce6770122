#include "gateway/trace_propagation.h"

#include <cstdint>
#include <string_view>

namespace sluice {
namespace {

std::string_view MetadataValue(const grpc::CallbackServerContext& context, const char* key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

TraceContext IncomingTrace(const grpc::CallbackServerContext& context) {
  return ParseTraceparent(MetadataValue(context, "traceparent"),
                          MetadataValue(context, "tracestate"))
      .value_or(TraceContext{});
}

Span StartServerSpan(const Tracer* tracer, grpc::CallbackServerContext& context,
                     std::string_view method) {
  Span span(tracer, method, SpanKind::kServer, IncomingTrace(context));
  if (span.recording()) {
    span.SetAttribute("rpc.system", std::string("grpc"));
    const size_t slash = method.find('/');
    span.SetAttribute("rpc.service", std::string(method.substr(0, slash)));
    if (slash != std::string_view::npos) {
      span.SetAttribute("rpc.method", std::string(method.substr(slash + 1)));
    }
  }
  context.AddInitialMetadata(kTraceIdKey, span.context().TraceIdHex());
  return span;
}

void EndServerSpan(Span& span, const grpc::Status& status) {
  if (span.recording()) {
    span.SetAttribute("rpc.grpc.status_code", static_cast<int64_t>(status.error_code()));
    if (!status.ok()) span.SetError(status.error_message());
  }
  span.End();
}

}  // namespace sluice
