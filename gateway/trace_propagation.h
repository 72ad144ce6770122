// Trace context at the gateway: reading W3C `traceparent` / `tracestate`
// from a call's metadata, and the server span of a call.
#pragma once

#include <string>
#include <string_view>

#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "monitoring/tracer.h"

namespace sluice {

// kTraceIdKey is the response metadata that names the trace of a call.
inline constexpr char kTraceIdKey[] = "sluice-trace-id";

// IncomingTrace returns the caller's trace context from the call's
// `traceparent` and `tracestate` metadata; invalid (start a new trace)
// when there is none or it is malformed.
TraceContext IncomingTrace(const grpc::CallbackServerContext& context);

// StartServerSpan starts the SERVER span of `method` ("sluice.v1.Invocations/
// Invoke"), a child of the caller's context, and names its trace in the
// response's initial metadata (kTraceIdKey). Call before the call answers.
Span StartServerSpan(const Tracer* tracer, grpc::CallbackServerContext& context,
                     std::string_view method);

// EndServerSpan records the call's status on `span` and ends it.
void EndServerSpan(Span& span, const grpc::Status& status);

}  // namespace sluice
