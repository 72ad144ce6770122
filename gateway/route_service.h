// RouteService: serves gRPC methods that Sluice does not implement itself
// ("routes") by running the function a RouteTable binds to each, so that a
// client of its own proto service (e.g. "/shop.v1.Orders/Create") calls a
// function without knowing Sluice.
//
// A routed call is a unary call from the function's point of view:
//   - the request message's bytes (never parsed) are the payload, and the
//     function's output bytes are the response message, so the function
//     reads and writes the method's proto messages;
//   - the client's metadata is the invocation's metadata, except keys that
//     start with "grpc-" or ":", binary keys ("-bin"), `traceparent` and
//     `tracestate` (they make the call's trace context instead, as for the
//     sluice.v1 API) and the control keys below;
//   - the call's deadline is the invocation's, and a client that cancels or
//     goes away cancels it;
//   - the client must send exactly one message and half-close before the
//     function runs: a second message is refused with UNIMPLEMENTED
//     (client-streaming and bidi methods are not supported), none at all
//     with INVALID_ARGUMENT. A server-streaming method gets exactly one
//     response message, then OK.
//
// Statuses: a method with no route answers UNIMPLEMENTED, as for any unknown
// method. A function's own error answers as the sluice.v1 Invoke does:
// UNKNOWN "<type>: <message>" with the type in the trailing metadata
// kErrorTypeKey (see gateway/invoke_status.h). Platform failures keep their
// codes: NOT_FOUND (the routed function does not exist), INVALID_ARGUMENT
// (oversized payload, bad control metadata), RESOURCE_EXHAUSTED with a
// RetryInfo (queue full), UNAVAILABLE (draining), DEADLINE_EXCEEDED,
// CANCELLED.
//
// Background calls: with `sluice-async: true` the function runs as a
// background invocation. The call answers once the invocation is durable,
// with the initial metadata `sluice-invocation-id` (and
// `sluice-deduplicated: true` when an idempotency key named an existing
// invocation) and an empty response message (zero bytes, which is the
// default message of any proto type). A synchronous call also carries
// `sluice-invocation-id` in its initial metadata when the function ran.
#pragma once

#include "gateway/reply_batcher.h"
#include "gateway/work_pool.h"
#include "grpcpp/generic/async_generic_service.h"
#include "monitoring/tracer.h"
#include "runtime/invocation_service.h"
#include "runtime/route_table.h"

namespace sluice {

// Control metadata of a routed call. Request: kAsyncKey "true" or "1" runs
// the function in the background ("false", "0": synchronously, the
// default); kIdempotencyKey is the background invocation's idempotency key
// (refused with INVALID_ARGUMENT on a synchronous call). Response (initial
// metadata): kInvocationIdKey and kDeduplicatedKey.
inline constexpr char kAsyncKey[] = "sluice-async";
inline constexpr char kIdempotencyKey[] = "sluice-idempotency-key";
inline constexpr char kInvocationIdKey[] = "sluice-invocation-id";
inline constexpr char kDeduplicatedKey[] = "sluice-deduplicated";

// RouteService is a generic callback service (register it with
// grpc::ServerBuilder::RegisterCallbackGenericService): it receives every
// call to a method no registered service implements. Thread-safe. Its
// collaborators are not owned and must outlive the server that serves it.
class RouteService final : public grpc::CallbackGenericService {
 public:
  // `routes` maps methods to functions; `pool` runs the work that may block
  // (a background call with an idempotency key looks the key up in the
  // store); `tracer` records the calls' server spans and may be null
  // (contexts are still propagated, nothing is recorded).
  RouteService(InvocationService* invocations, const RouteTable* routes, WorkPool* pool,
               const Tracer* tracer = nullptr)
      : invocations_(invocations), routes_(routes), pool_(pool), tracer_(tracer) {}

  // CreateReactor serves one call to `context->method()` as described above.
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  InvocationService* const invocations_;
  const RouteTable* const routes_;
  WorkPool* const pool_;
  const Tracer* const tracer_;
  // Sends the answers made off gRPC's threads. Last, so that it is destroyed
  // (waiting for its replies) first.
  ReplyBatcher replies_;
};

}  // namespace sluice
