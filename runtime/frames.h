// Length-prefixed protobuf frames over a stream socket: a 4-byte big-endian
// length, then the serialized message. Used between the executor and its
// native worker processes.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace sluice {

// Frames larger than this are refused on both sides.
inline constexpr uint32_t kMaxFrameBytes = 64 * 1024 * 1024;

// WriteFrame writes `message` to `fd`, retrying short writes. UNAVAILABLE
// when the peer is gone (EPIPE, reset); never raises SIGPIPE.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message);

// BytesField is one bytes field of a frame's message, sent apart from the
// rest of the message (see the WriteFrame below).
struct BytesField {
  int number = 0;           // the field's number in its message
  absl::string_view bytes;  // its value
};

// WriteFrame writes a frame holding `message` with `field` set, without
// copying the field's bytes into a serialized buffer: they go to the socket
// from the caller's memory, after the rest of the message. A parser takes
// fields in any order, so the reader sees an ordinary frame, as if `field`
// had been set in `message` (where it must be unset). With `wrapper` > 0 the
// frame's message is instead one whose only field, number `wrapper`, holds
// `message`. Meant for payloads and outputs, the bulk of a frame.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message, BytesField field,
                        int wrapper = 0);

// FrameReader reads frames from one stream socket. It keeps what it read
// past a frame for the next one, so that a frame that arrived whole costs
// one wait and one read. Every read of a socket must go through its one
// FrameReader. Not thread-safe.
class FrameReader {
 public:
  explicit FrameReader(int fd) : fd_(fd) {}

  // Read reads the next frame into `message`. It waits at most until
  // `deadline` (DEADLINE_EXCEEDED) and gives up when `stop()` turns true
  // (CANCELLED; polled every few milliseconds, may be empty). UNAVAILABLE
  // at end of stream, DATA_LOSS for an oversized or unparsable frame.
  absl::Status Read(google::protobuf::MessageLite& message,
                    absl::Time deadline = absl::InfiniteFuture(),
                    const std::function<bool()>& stop = nullptr);

 private:
  // Fill reads until at least `need` bytes are buffered.
  absl::Status Fill(size_t need, absl::Time deadline, const std::function<bool()>& stop);

  const int fd_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // the first byte not yet consumed
  size_t end_ = 0;    // one past the last byte read
};

}  // namespace sluice
