// The gRPC server settings of the gateway, in one place, so that the bare
// echo server the benchmarks compare against is configured exactly alike.
#pragma once

#include <cstddef>

#include "grpcpp/server_builder.h"

namespace sluice {

// Deploy streams artifacts in chunks of at most this many bytes.
inline constexpr size_t kMaxDeployChunk = 1024 * 1024;

// ApplyServerSettings configures `builder` as the gateway's server: the
// largest message it receives (a payload of `max_payload_bytes` or a deploy
// chunk, plus room for the envelope), and the standard health service and
// reflection. Call before BuildAndStart.
void ApplyServerSettings(grpc::ServerBuilder& builder, size_t max_payload_bytes);

// ApplyProcessSettings sets what every serving process of Sluice (the
// server, a worker, the benchmarks' bare server) shares: in Release builds
// abseil's mutex deadlock detection is off. Debian builds abseil without
// NDEBUG, so by default every absl::Mutex lock records a lock-order graph
// and every mutex destroyed removes itself from it under a global lock;
// Debug and sanitizer builds keep that check. Process-wide; call it first
// thing in main, before any thread starts.
void ApplyProcessSettings();

}  // namespace sluice
