// OtelConfig: the tracing configuration Sluice reads from the standard
// OpenTelemetry SDK environment variables (OTEL_*), for the OTLP/gRPC
// exporter and the sampler.
#pragma once

#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "monitoring/tracer.h"

namespace sluice {

// OtelConfig is a value type.
struct OtelConfig {
  // The collector's OTLP/gRPC address, "host:port" (plaintext); empty means
  // spans are not exported.
  std::string endpoint;
  // The resource's service.name.
  std::string service_name = "sluice";
  // Other resource attributes, in the order given, without service.name.
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  SamplerConfig sampler;
};

// OtelConfigFromEnv reads the configuration through `getenv` (unset and empty
// variables are the same):
//   OTEL_SDK_DISABLED            "true" (any case): no export.
//   OTEL_TRACES_EXPORTER         "otlp" or empty; "none": no export.
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT
//                                "host:port" or "http://host:port", an
//                                optional trailing "/" and no path. With
//                                neither set there is no export, unless
//                                OTEL_TRACES_EXPORTER is "otlp", which
//                                means the default "localhost:4317".
//   OTEL_SERVICE_NAME            the service name; wins over a service.name
//                                in OTEL_RESOURCE_ATTRIBUTES.
//   OTEL_RESOURCE_ATTRIBUTES     "key=value,key2=value2", values
//                                percent-decoded.
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG  as ParseSampler reads them.
// The endpoint variables are not read when export is off. INVALID_ARGUMENT,
// naming the variable and its value, for an unknown exporter, an https://
// endpoint (TLS is not supported), an endpoint with a path or no port,
// malformed resource attributes or a bad sampler. `getenv` is called only
// during the call.
absl::StatusOr<OtelConfig> OtelConfigFromEnv(
    const std::function<const char*(const char*)>& getenv = ::getenv);

}  // namespace sluice
