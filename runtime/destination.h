// Destinations: the invocation a finished invocation starts for its
// function's on_success or on_failure destination.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "sluice/v1/functions.pb.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// DestinationOf returns the function that `finished` (SUCCEEDED or FAILED)
// hands its record to under `spec`, or "" when there is none.
const std::string& DestinationOf(const v1::FunctionSpec& spec, const v1::Invocation& finished);

// NewDestinationInvocation returns the PENDING invocation of `destination`
// that carries `finished`'s DestinationRecord (JSON) as its payload, the
// parent's id in parent_id and in metadata "sluice-parent-id", the parent's
// trace context (metadata "traceparent" and "tracestate") and priority. Its
// retry policy is left unset: the engine resolves it when the destination
// runs. `id` and `now` come from the caller.
v1::Invocation NewDestinationInvocation(const v1::Invocation& finished,
                                        const std::string& destination, const std::string& id,
                                        absl::Time now);

}  // namespace sluice
