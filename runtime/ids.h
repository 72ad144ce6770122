// Invocation ids: unique, and ordered by creation time when compared as
// strings, so a store can list newest first by key order.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace sluice {

// NewInvocationId returns "inv_" + 12 hex digits of milliseconds since the
// epoch + 16 random hex digits. Thread-safe.
std::string NewInvocationId(absl::Time now);

// IsWellFormedInvocationId tells whether `id` has the shape NewInvocationId
// produces (used to answer INVALID_ARGUMENT rather than NOT_FOUND).
bool IsWellFormedInvocationId(const std::string& id);

}  // namespace sluice
