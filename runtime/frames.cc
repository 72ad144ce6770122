#include "runtime/frames.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

constexpr absl::Duration kStopPollInterval = absl::Milliseconds(5);

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("frame write failed: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// ReadAll fills `size` bytes, waiting for each piece until `deadline`.
// What is already there is taken without waiting (a frame's body usually
// arrives with its header), so poll() runs only when the peer has not
// written yet.
absl::Status ReadAll(int fd, char* data, size_t size, absl::Time deadline,
                     const std::function<bool()>& stop) {
  while (size > 0) {
    const ssize_t got = recv(fd, data, size, MSG_DONTWAIT);
    if (got > 0) {
      data += got;
      size -= static_cast<size_t>(got);
      continue;
    }
    if (got == 0) return absl::UnavailableError("the peer closed the stream");
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOTSOCK) {
      return absl::UnavailableError(absl::StrCat("frame read failed: ", std::strerror(errno)));
    }
    if (stop && stop()) return absl::CancelledError("stopped while waiting for a frame");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration())
      return absl::DeadlineExceededError("no frame before the deadline");
    const absl::Duration wait = stop ? std::min(left, kStopPollInterval) : left;
    pollfd p{fd, POLLIN, 0};
    const int timeout_ms = wait == absl::InfiniteDuration()
                               ? -1
                               : static_cast<int>(absl::ToInt64Milliseconds(wait) + 1);
    const int ready = poll(&p, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll failed: ", std::strerror(errno)));
    }
    if (ready == 0) continue;
    const ssize_t n = read(fd, data, size);
    if (n == 0) return absl::UnavailableError("the peer closed the stream");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat("frame read failed: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  if (size > kMaxFrameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("frame of ", size, " bytes is over the limit"));
  }
  std::string buffer(4, '\0');
  buffer[0] = static_cast<char>((size >> 24) & 0xff);
  buffer[1] = static_cast<char>((size >> 16) & 0xff);
  buffer[2] = static_cast<char>((size >> 8) & 0xff);
  buffer[3] = static_cast<char>(size & 0xff);
  if (!message.AppendToString(&buffer)) return absl::InternalError("cannot serialize a frame");
  return WriteAll(fd, buffer.data(), buffer.size());
}

absl::Status ReadFrame(int fd, google::protobuf::MessageLite& message, absl::Time deadline,
                       const std::function<bool()>& stop) {
  unsigned char header[4];
  if (absl::Status s = ReadAll(fd, reinterpret_cast<char*>(header), 4, deadline, stop); !s.ok()) {
    return s;
  }
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size > kMaxFrameBytes) {
    return absl::DataLossError(absl::StrCat("frame of ", size, " bytes is over the limit"));
  }
  std::string body(size, '\0');
  if (absl::Status s = ReadAll(fd, body.data(), size, deadline, stop); !s.ok()) return s;
  if (!message.ParseFromString(body)) return absl::DataLossError("unparsable frame");
  return absl::OkStatus();
}

}  // namespace sluice
