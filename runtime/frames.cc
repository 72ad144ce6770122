#include "runtime/frames.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"

namespace sluice {
namespace {

constexpr absl::Duration kStopPollInterval = absl::Milliseconds(5);
// Room made for each read: a small frame and the start of the next.
constexpr size_t kReadChunk = 64 * 1024;
// Room kept once a frame is consumed; a larger frame's room is given back.
constexpr size_t kMaxKeptBytes = 1024 * 1024;

// WriteAll writes `first`, then `second`, retrying short writes.
absl::Status WriteAll(int fd, absl::string_view first, absl::string_view second = {}) {
  std::array<iovec, 2> iov{};
  size_t count = 0;
  for (absl::string_view part : {first, second}) {
    if (part.empty()) continue;
    iov[count++] = iovec{const_cast<char*>(part.data()), part.size()};
  }
  iovec* next = iov.data();
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = next;
    msg.msg_iovlen = count;
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("frame write failed: ", std::strerror(errno)));
    }
    size_t sent = static_cast<size_t>(n);
    for (; count > 0 && sent >= next->iov_len; --count, ++next) sent -= next->iov_len;
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + sent;
      next->iov_len -= sent;
    }
  }
  return absl::OkStatus();
}

// AppendFrameHeader appends the 4-byte big-endian length of a frame.
void AppendFrameHeader(size_t size, std::string* out) {
  out->push_back(static_cast<char>((size >> 24) & 0xff));
  out->push_back(static_cast<char>((size >> 16) & 0xff));
  out->push_back(static_cast<char>((size >> 8) & 0xff));
  out->push_back(static_cast<char>(size & 0xff));
}

// The tag of a length-delimited field (wire type 2).
uint32_t BytesTag(int number) { return (static_cast<uint32_t>(number) << 3) | 2; }

// FieldHeaderSize is the size of the tag and length that open a
// length-delimited field of `size` bytes.
size_t FieldHeaderSize(int number, size_t size) {
  using google::protobuf::io::CodedOutputStream;
  return CodedOutputStream::VarintSize32(BytesTag(number)) + CodedOutputStream::VarintSize64(size);
}

void AppendFieldHeader(int number, size_t size, std::string* out) {
  using google::protobuf::io::CodedOutputStream;
  uint8_t header[16];  // two varints, of at most 5 and 10 bytes
  uint8_t* end = CodedOutputStream::WriteVarint32ToArray(BytesTag(number), header);
  end = CodedOutputStream::WriteVarint64ToArray(size, end);
  out->append(reinterpret_cast<const char*>(header), static_cast<size_t>(end - header));
}

absl::Status Oversized(size_t size) {
  return absl::InvalidArgumentError(absl::StrCat("frame of ", size, " bytes is over the limit"));
}

}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  if (size > kMaxFrameBytes) return Oversized(size);
  std::string buffer;
  buffer.reserve(4 + size);
  AppendFrameHeader(size, &buffer);
  if (!message.AppendToString(&buffer)) return absl::InternalError("cannot serialize a frame");
  return WriteAll(fd, buffer);
}

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message, BytesField field,
                        int wrapper) {
  const size_t inner = message.ByteSizeLong() + FieldHeaderSize(field.number, field.bytes.size()) +
                       field.bytes.size();
  const size_t size = wrapper > 0 ? FieldHeaderSize(wrapper, inner) + inner : inner;
  if (size > kMaxFrameBytes) return Oversized(size);
  std::string head;
  head.reserve(4 + size - field.bytes.size());
  AppendFrameHeader(size, &head);
  if (wrapper > 0) AppendFieldHeader(wrapper, inner, &head);
  if (!message.AppendToString(&head)) return absl::InternalError("cannot serialize a frame");
  AppendFieldHeader(field.number, field.bytes.size(), &head);
  return WriteAll(fd, head, field.bytes);
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
