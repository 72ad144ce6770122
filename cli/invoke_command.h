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
};

// BuildInvokeRequest resolves the payload (which may read console.in) and
// metadata. INVALID_ARGUMENT for malformed flags; file errors as
// ResolvePayload.
absl::StatusOr<v1::InvokeRequest> BuildInvokeRequest(const InvokeFlags& flags, Console& console);

// RunInvoke calls Invoke (printing the output bytes unchanged) or, with
// --async, InvokeAsync (printing the invocation id). A function's own error
// is reported as "error: function failed: <type>: <message>" with exit code
// 1. Returns the exit code.
int RunInvoke(const InvokeFlags& flags, const ClientConfig& config, Console& console);

}  // namespace sluice::cli
