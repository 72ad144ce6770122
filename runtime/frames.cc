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
// Room made for each read: a small frame and the start of the next.
constexpr size_t kReadChunk = 64 * 1024;
// Room kept once a frame is consumed; a larger frame's room is given back.
constexpr size_t kMaxKeptBytes = 1024 * 1024;

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

absl::Status FrameReader::Read(google::protobuf::MessageLite& message, absl::Time deadline,
                               const std::function<bool()>& stop) {
  if (absl::Status s = Fill(4, deadline, stop); !s.ok()) return s;
  const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data() + begin_);
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size > kMaxFrameBytes) {
    return absl::DataLossError(absl::StrCat("frame of ", size, " bytes is over the limit"));
  }
  if (absl::Status s = Fill(4 + size_t{size}, deadline, stop); !s.ok()) return s;
  const bool parsed = message.ParseFromArray(buffer_.data() + begin_ + 4, static_cast<int>(size));
  begin_ += 4 + size_t{size};
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.size() > kMaxKeptBytes) {  // a large frame's room is not kept
      buffer_.resize(kReadChunk);
      buffer_.shrink_to_fit();
    }
  }
  if (!parsed) return absl::DataLossError("unparsable frame");
  return absl::OkStatus();
}

absl::Status FrameReader::Fill(size_t need, absl::Time deadline,
                               const std::function<bool()>& stop) {
  if (end_ - begin_ >= need) return absl::OkStatus();
  if (buffer_.size() - begin_ < need) {
    // Move what is left to the front, and make room for the whole frame.
    std::copy(buffer_.begin() + static_cast<ptrdiff_t>(begin_),
              buffer_.begin() + static_cast<ptrdiff_t>(end_), buffer_.begin());
    end_ -= begin_;
    begin_ = 0;
    if (buffer_.size() < need) buffer_.resize(std::max(need, kReadChunk));
  }
  while (end_ - begin_ < need) {
    // Wait first: a frame is read when its reader expects one, and it is
    // rarely there already (the peer has yet to run), so trying to read
    // before waiting would mostly be a wasted call.
    if (stop && stop()) return absl::CancelledError("stopped while waiting for a frame");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("no frame before the deadline");
    }
    const absl::Duration wait = stop ? std::min(left, kStopPollInterval) : left;
    pollfd p{fd_, POLLIN, 0};
    const int timeout_ms = wait == absl::InfiniteDuration()
                               ? -1
                               : static_cast<int>(absl::ToInt64Milliseconds(wait) + 1);
    const int ready = poll(&p, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll failed: ", std::strerror(errno)));
    }
    if (ready == 0) continue;
    // Reads as much as there is room for: the rest of this frame, and the
    // start of the next if it came too.
    const ssize_t n = read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n == 0) return absl::UnavailableError("the peer closed the stream");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return absl::UnavailableError(absl::StrCat("frame read failed: ", std::strerror(errno)));
    }
    end_ += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace sluice
