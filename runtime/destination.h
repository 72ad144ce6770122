// Destinations: where the record of a finished invocation goes, by its
// function's on_success or on_failure ("NAME", "topic:TOPIC" or
// "grpc://HOST:PORT"; see FunctionSpec in sluice/v1/functions.proto), and
// the callback allowlist that bounds the gRPC ones.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sluice/v1/functions.pb.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

inline constexpr size_t kMaxTopicBytes = 128;
inline constexpr char kTopicPrefix[] = "topic:";
inline constexpr char kCallbackPrefix[] = "grpc://";

// ValidateTopic: INVALID_ARGUMENT unless `topic` is empty or 1-128
// characters of [a-z0-9-._]. The message names `field`.
absl::Status ValidateTopic(absl::string_view topic, absl::string_view field);

// Destination is a parsed destination.
struct Destination {
  enum class Kind { kFunction, kTopic, kCallback };
  Kind kind = Kind::kFunction;
  // The function's name, the topic, or the callback's "HOST:PORT".
  std::string target;
};

// DestinationKindOf tells what kind of destination `destination` (non-empty,
// already parsed when its function was deployed) is, by its prefix alone.
Destination::Kind DestinationKindOf(absl::string_view destination);

// ParseDestination parses a non-empty destination. INVALID_ARGUMENT naming
// `field` for a bad function name, an empty or bad topic, or a callback that
// is not grpc://HOST:PORT (HOST a DNS name, IPv4 address or [IPv6] address;
// PORT 1-65535).
absl::StatusOr<Destination> ParseDestination(absl::string_view destination,
                                             absl::string_view field);

// CallbackAllowlist says which callback endpoints a server may call. Each
// pattern is HOST:PORT where HOST is a name, "*" (any host) or "*.SUFFIX"
// (any name ending in .SUFFIX), and PORT is a number or "*". Names compare
// without case. An empty allowlist allows nothing. Immutable; thread-safe.
class CallbackAllowlist {
 public:
  // Create checks the patterns: INVALID_ARGUMENT naming the bad one.
  static absl::StatusOr<CallbackAllowlist> Create(std::vector<std::string> patterns);
  CallbackAllowlist() = default;

  // Allows says whether `host_port` ("HOST:PORT") matches a pattern.
  bool Allows(absl::string_view host_port) const;

  // Check is OK for destinations other than callbacks and for allowed
  // callbacks; otherwise PERMISSION_DENIED naming `field`.
  absl::Status Check(const Destination& destination, absl::string_view field) const;

 private:
  std::vector<std::string> patterns_;  // lower case
};

// DestinationOf returns the destination that `finished` (SUCCEEDED or
// FAILED) hands its record to under `spec`, or "" when there is none.
const std::string& DestinationOf(const v1::FunctionSpec& spec, const v1::Invocation& finished);

// DestinationRecordOf returns the record of `finished`, which ended at `now`.
v1::DestinationRecord DestinationRecordOf(const v1::Invocation& finished, absl::Time now);

// NewDestinationInvocation returns the PENDING invocation of function
// `destination` that carries `finished`'s DestinationRecord (JSON) as its
// payload, the parent's id in parent_id and in metadata "sluice-parent-id",
// the parent's trace context (metadata "traceparent" and "tracestate") and
// priority. Its retry policy is left unset: the engine resolves it when the
// destination runs. `id` and `now` come from the caller.
v1::Invocation NewDestinationInvocation(const v1::Invocation& finished,
                                        const std::string& destination, const std::string& id,
                                        absl::Time now);

}  // namespace sluice
