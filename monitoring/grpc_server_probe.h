// GrpcServerProbe: the metrics of a gRPC server's calls, by service, method,
// type and status code, with the names of go-grpc-prometheus:
//
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}
//   grpc_server_msg_received_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_msg_sent_total{grpc_service,grpc_method,grpc_type}
//
// grpc_type is "unary", "client_stream", "server_stream" or "bidi_stream";
// grpc_code the canonical name of the status code ("OK", "NOT_FOUND", ...).
// The probe sees calls as a server interceptor, so every method of the
// server is counted, health checks and reflection included:
//
//   GrpcServerProbe grpc_probe(*registry);   // outlives nothing in particular
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(grpc_probe.NewInterceptorFactory());
//   builder.experimental().SetInterceptorCreators(std::move(creators));
//
// Labels stay bounded whatever clients send: at most `max_methods` distinct
// (grpc_service, grpc_method) pairs get series of their own; calls of any
// other method, and of malformed method names, are counted under
// grpc_service="unknown", grpc_method="unknown".
#pragma once

#include <cstddef>
#include <memory>

#include "grpcpp/support/interceptor.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/registry.h"

namespace sluice {

struct GrpcServerProbeOptions {
  // Distinct (service, method) label pairs counted under their own names;
  // calls of further methods are counted as "unknown".
  size_t max_methods = 1000;
};

// GrpcServerProbe counts the calls of the servers it intercepts. It is
// itself an interceptor factory, and hands out factories for
// ServerBuilder::experimental().SetInterceptorCreators, which takes
// ownership of what it is given.
//
// Thread-safe. The registry must outlive the probe, its factories and every
// call they intercept; the probe itself may be destroyed before them (they
// share its metrics). Series appear at a method's first call and stay in
// the registry.
//
// What is counted, per call:
// - started: when the call is matched to its method (the interceptor is
//   created);
// - handled and handling time: when the server sends the status, with that
//   status's code, or CANCELLED when the call was cancelled (by the client,
//   a deadline or the transport) before it; a call that ends without any
//   status sent counts once as CANCELLED when it ends. Each call is handled
//   exactly once.
// - msg_received: each request message received; msg_sent: each response
//   message the handler sends.
//
// Intended for servers of sync and callback services (it asks the call's
// context whether it was cancelled, which the async API does not allow
// before AsyncNotifyWhenDone).
class GrpcServerProbe final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Registers the families in `registry`. Precondition: `registry` holds no
  // family of the same names and another type; with InsertBehavior::Merge
  // (the default) a registry may be shared by several probes, whose calls
  // then add up.
  explicit GrpcServerProbe(prometheus::Registry& registry, GrpcServerProbeOptions options = {});
  ~GrpcServerProbe() override;
  GrpcServerProbe(const GrpcServerProbe&) = delete;
  GrpcServerProbe& operator=(const GrpcServerProbe&) = delete;

  // CreateServerInterceptor returns a new interceptor counting the call of
  // `info` (gRPC owns it and deletes it when the call ends). Called by gRPC
  // once per call.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  // NewInterceptorFactory returns a factory whose interceptors count into
  // this probe's metrics; it may outlive the probe.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory()
      const;

 private:
  class Metrics;
  class Interceptor;
  class Factory;
  std::shared_ptr<Metrics> metrics_;
};

}  // namespace sluice
