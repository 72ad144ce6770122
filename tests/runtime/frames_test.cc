// FrameReader and WriteFrame over a socketpair: frames that arrive together,
// split, oversized or never; a bytes field sent apart from its message; the
// end of the stream.
#include "runtime/frames.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sluice/internal/worker.pb.h"

namespace sluice {
namespace {

class FramesTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }

  static internal::WorkRequest Work(const std::string& id, size_t payload_bytes) {
    internal::WorkRequest work;
    work.set_invocation_id(id);
    work.set_payload(std::string(payload_bytes, 'p'));
    return work;
  }

  // Framed returns `message` as WriteFrame puts it on the wire.
  static std::string Framed(const internal::WorkRequest& message) {
    const std::string body = message.SerializeAsString();
    const uint32_t size = static_cast<uint32_t>(body.size());
    std::string frame = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                         static_cast<char>(size >> 8), static_cast<char>(size)};
    return frame + body;
  }

  void Send(const std::string& bytes) {
    ASSERT_EQ(write(fds_[0], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  int fds_[2] = {-1, -1};
};

TEST_F(FramesTest, FramesThatArriveInOneWriteAreReadOneByOne) {
  Send(Framed(Work("a", 10)) + Framed(Work("b", 70 * 1024)) + Framed(Work("c", 0)));
  FrameReader reader(fds_[1]);
  internal::WorkRequest read;
  for (const auto& [id, size] :
       {std::pair<std::string, size_t>{"a", 10}, {"b", 70 * 1024}, {"c", 0}}) {
    ASSERT_TRUE(reader.Read(read, absl::Now() + absl::Seconds(30)).ok()) << id;
    EXPECT_EQ(read.invocation_id(), id);
    EXPECT_EQ(read.payload().size(), size) << id;
  }
}

TEST_F(FramesTest, AFrameSplitAcrossWritesIsReadWhole) {
  const std::string frame = Framed(Work("split", 200 * 1024));
  FrameReader reader(fds_[1]);
  internal::WorkRequest read;
  absl::Status status;
  std::thread reading([&] { status = reader.Read(read, absl::Now() + absl::Seconds(30)); });
  Send(frame.substr(0, 2));  // half a header
  Send(frame.substr(2, 100));
  for (size_t at = 102; at < frame.size(); at += 50 * 1024) Send(frame.substr(at, 50 * 1024));
  reading.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(read.invocation_id(), "split");
  EXPECT_EQ(read.payload().size(), 200u * 1024);
}

TEST_F(FramesTest, WriteFrameAndReadRoundTrip) {
  FrameReader reader(fds_[1]);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteFrame(fds_[0], Work(std::to_string(i), 100)).ok());
    internal::WorkRequest read;
    ASSERT_TRUE(reader.Read(read).ok());
    EXPECT_EQ(read.invocation_id(), std::to_string(i));
  }
}

TEST_F(FramesTest, ABytesFieldSentApartReadsAsPartOfTheMessage) {
  FrameReader reader(fds_[1]);
  // 300 KiB is more than the socket takes at once: the writer's short
  // writes resume mid-field while the reader drains.
  for (size_t size : {size_t{0}, size_t{10}, size_t{300 * 1024}}) {
    internal::WorkRequest work = Work("apart", 0);
    work.set_attempt(3);
    work.clear_payload();
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    internal::WorkRequest read;
    absl::Status status;
    std::thread reading([&] { status = reader.Read(read, absl::Now() + absl::Seconds(30)); });
    const absl::Status written =
        WriteFrame(fds_[0], work, {internal::WorkRequest::kPayloadFieldNumber, payload});
    if (!written.ok()) shutdown(fds_[0], SHUT_WR);  // the reader sees the end and returns
    reading.join();
    ASSERT_TRUE(written.ok()) << written;
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(read.invocation_id(), "apart");
    EXPECT_EQ(read.attempt(), 3u);
    EXPECT_EQ(read.payload(), payload) << size;
  }
}

TEST_F(FramesTest, ABytesFieldOfAWrappedMessageReadsAsTheWrapper) {
  internal::WorkResponse response;
  response.set_ok(true);
  response.set_error_type("none");
  const std::string output(70 * 1024, 'o');
  ASSERT_TRUE(WriteFrame(fds_[0], response, {internal::WorkResponse::kOutputFieldNumber, output},
                         internal::WorkerMessage::kResponseFieldNumber)
                  .ok());
  FrameReader reader(fds_[1]);
  internal::WorkerMessage read;
  ASSERT_TRUE(reader.Read(read, absl::Now() + absl::Seconds(30)).ok());
  ASSERT_TRUE(read.has_response());
  EXPECT_TRUE(read.response().ok());
  EXPECT_EQ(read.response().error_type(), "none");
  EXPECT_EQ(read.response().output(), output);
}

TEST_F(FramesTest, AnOversizedBytesFieldIsRefusedBeforeAnythingIsSent) {
  const std::string huge(kMaxFrameBytes, 'h');  // with the rest of the frame, over the limit
  EXPECT_TRUE(absl::IsInvalidArgument(
      WriteFrame(fds_[0], Work("big", 0), {internal::WorkRequest::kPayloadFieldNumber, huge})));
  ASSERT_TRUE(WriteFrame(fds_[0], Work("next", 1)).ok());
  FrameReader reader(fds_[1]);
  internal::WorkRequest read;
  ASSERT_TRUE(reader.Read(read, absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(read.invocation_id(), "next") << "the refused frame left nothing on the stream";
}

TEST_F(FramesTest, OversizedUnparsableSilentAndClosedStreamsAreRefused) {
  FrameReader reader(fds_[1]);
  internal::WorkRequest read;
  EXPECT_TRUE(absl::IsDeadlineExceeded(reader.Read(read, absl::Now() + absl::Milliseconds(20))))
      << "nothing was sent";
  EXPECT_TRUE(absl::IsCancelled(reader.Read(read, absl::InfiniteFuture(), [] { return true; })));
  Send(std::string("\x00\x00\x00\x03\xff\xff\xff", 7));  // three bytes that are no message
  EXPECT_TRUE(absl::IsDataLoss(reader.Read(read)));
  Send(std::string("\xff\xff\xff\xff", 4));  // 4 GiB
  EXPECT_TRUE(absl::IsDataLoss(reader.Read(read)));

  FrameReader other(fds_[0]);
  close(fds_[1]);
  fds_[1] = -1;
  EXPECT_TRUE(absl::IsUnavailable(other.Read(read))) << "the peer closed the stream";
}

}  // namespace
}  // namespace sluice
