// Length-prefixed protobuf frames over a stream socket: a 4-byte big-endian
// length, then the serialized message. Used between the executor and its
// native worker processes.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace sluice {

// Frames larger than this are refused on both sides.
inline constexpr uint32_t kMaxFrameBytes = 64 * 1024 * 1024;

// WriteFrame writes `message` to `fd`, retrying short writes. UNAVAILABLE
// when the peer is gone (EPIPE, reset); never raises SIGPIPE.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message);

// ReadFrame reads one frame from `fd` into `message`. It waits at most until
// `deadline` (DEADLINE_EXCEEDED) and gives up when `stop()` turns true
// (CANCELLED; polled every few milliseconds, may be empty). UNAVAILABLE at
// end of stream, DATA_LOSS for an oversized or unparsable frame.
absl::Status ReadFrame(int fd, google::protobuf::MessageLite& message,
                       absl::Time deadline = absl::InfiniteFuture(),
                       const std::function<bool()>& stop = nullptr);

}  // namespace sluice
