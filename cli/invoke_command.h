// `sluice invoke`: run a function synchronously or queue it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/client.h"
#include "cli/console.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice::cli {

// InvokeFlags are the flags of `sluice invoke`.
struct InvokeFlags {
  std::string function;
  uint64_t version = 0;             // 0: the latest
  std::optional<std::string> data;  // see ResolvePayload
  bool async = false;
  std::vector<std::string> meta;  // KEY=VALUE
  std::string timeout;            // client deadline, e.g. "5s"; empty: none
  std::string priority;           // low|normal|high|critical; empty: unspecified
  std::string idempotency_key;    // --async only
  uint32_t max_attempts = 0;      // --async only; 0: the function's policy
};

// BuildInvokeRequest resolves the payload (which may read console.in),
// metadata, priority, idempotency key and retry override. INVALID_ARGUMENT
// for malformed flags, and for --idempotency-key or --max-attempts without
// --async; file errors as ResolvePayload.
absl::StatusOr<v1::InvokeRequest> BuildInvokeRequest(const InvokeFlags& flags, Console& console);

// RunInvoke calls Invoke (printing the output bytes unchanged) or, with
// --async, InvokeAsync (printing the invocation id; when the idempotency key
// matched an existing invocation it also says so on console.err). A
// function's own error is reported as "error: function failed: <type>:
// <message>" with exit code 1. Returns the exit code.
int RunInvoke(const InvokeFlags& flags, const ClientConfig& config, Console& console);

}  // namespace sluice::cli
