// LogsService in an in-process gRPC server on port 0, over a FunctionLogs the
// test fills, driven by a real client.
#include "gateway/logs_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/function_logs.h"
#include "sluice/v1/logs.grpc.pb.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

LogLine Line(const std::string& function, const std::string& text) {
  LogLine line;
  line.time = absl::FromUnixMillis(1700000000123);
  line.function = function;
  line.version = 2;
  line.invocation_id = "inv-7";
  line.stream = "stdout";
  line.text = text;
  return line;
}

std::vector<std::string> Texts(const std::vector<v1::LogEntry>& entries) {
  std::vector<std::string> texts;
  for (const v1::LogEntry& entry : entries) texts.push_back(entry.text());
  return texts;
}

class LogsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  void StartServer(LogsServiceLimits limits) {
    const std::set<std::string> deployed = {"alpha", "beta", "quiet"};
    service_ = std::make_unique<LogsService>(
        &logs_, [deployed](const std::string& name) { return deployed.contains(name); }, limits);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::Logs::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void RestartServer(LogsServiceLimits limits) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    server_.reset();
    StartServer(limits);
  }

  static v1::TailLogsRequest Request(const std::string& function, std::optional<uint32_t> lines,
                                     bool follow) {
    v1::TailLogsRequest request;
    request.set_function(function);
    if (lines.has_value()) request.set_lines(*lines);
    request.set_follow(follow);
    return request;
  }

  // TailAll reads a stream that ends by itself into `entries`.
  grpc::Status TailAll(const v1::TailLogsRequest& request, std::vector<v1::LogEntry>* entries) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader = stub_->Tail(&context, request);
    v1::LogEntry entry;
    while (reader->Read(&entry)) entries->push_back(entry);
    return reader->Finish();
  }

  FunctionLogs logs_;
  std::unique_ptr<LogsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Logs::Stub> stub_;
};

TEST_F(LogsServiceTest, TailSendsTheLastLinesInOrderAndEnds) {
  for (int i = 0; i < 10; ++i) logs_.Append(Line("alpha", absl::StrCat("line ", i)));
  logs_.Append(Line("beta", "not alpha"));
  std::vector<v1::LogEntry> entries;
  const grpc::Status status = TailAll(Request("alpha", 4, false), &entries);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Texts(entries), ElementsAre("line 6", "line 7", "line 8", "line 9"));
  const v1::LogEntry& first = entries.at(0);
  EXPECT_EQ(first.function(), "alpha");
  EXPECT_EQ(first.version(), 2u);
  EXPECT_EQ(first.invocation_id(), "inv-7");
  EXPECT_EQ(first.stream(), "stdout");
  EXPECT_EQ(first.time().seconds(), 1700000000);
  EXPECT_EQ(first.time().nanos(), 123000000);
}

TEST_F(LogsServiceTest, TailSendsADefaultNumberOfLinesWhenNotAsked) {
  for (int i = 0; i < 150; ++i) logs_.Append(Line("alpha", absl::StrCat("line ", i)));
  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(TailAll(Request("alpha", std::nullopt, false), &entries).ok());
  ASSERT_EQ(entries.size(), LogsService::kDefaultTailLines);
  EXPECT_EQ(entries.front().text(), "line 50");
  EXPECT_EQ(entries.back().text(), "line 149");

  entries.clear();
  ASSERT_TRUE(TailAll(Request("alpha", 0, false), &entries).ok());
  EXPECT_THAT(entries, IsEmpty());
}

TEST_F(LogsServiceTest, TailOfADeployedFunctionWithoutLinesEndsEmpty) {
  std::vector<v1::LogEntry> entries;
  const grpc::Status status = TailAll(Request("quiet", 10, false), &entries);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(entries, IsEmpty());
}

TEST_F(LogsServiceTest, InvalidNameIsInvalidArgument) {
  std::vector<v1::LogEntry> entries;
  const grpc::Status status = TailAll(Request("Not_A_Name!", 10, true), &entries);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("function"));
  EXPECT_THAT(entries, IsEmpty());
}

TEST_F(LogsServiceTest, UnknownFunctionIsNotFound) {
  logs_.Append(Line("ghost", "left behind"));
  std::vector<v1::LogEntry> entries;
  const grpc::Status status = TailAll(Request("ghost", 10, true), &entries);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("ghost"));
  EXPECT_THAT(entries, IsEmpty());
}

TEST_F(LogsServiceTest, FollowSendsTheTailThenLinesAppendedLater) {
  logs_.Append(Line("alpha", "old"));
  logs_.Append(Line("alpha", "recent"));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
      stub_->Tail(&context, Request("alpha", 1, true));
  v1::LogEntry entry;
  // Once the tail arrives, the stream is subscribed.
  ASSERT_TRUE(reader->Read(&entry));
  EXPECT_EQ(entry.text(), "recent");
  logs_.Append(Line("alpha", "new 1"));
  logs_.Append(Line("beta", "not followed"));
  logs_.Append(Line("alpha", "new 2"));
  ASSERT_TRUE(reader->Read(&entry));
  EXPECT_EQ(entry.text(), "new 1");
  ASSERT_TRUE(reader->Read(&entry));
  EXPECT_EQ(entry.text(), "new 2");
  context.TryCancel();
  while (reader->Read(&entry)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(LogsServiceTest, FollowNeitherLosesNorRepeatsLinesAppendedWhileItStarts) {
  // No line may be dropped here: this test is about the seam between the
  // tail and the followed lines.
  RestartServer({.max_buffered_lines = 10'000'000, .max_buffered_bytes = size_t{1} << 40});
  // The writer appends without pause while the stream starts, and stops
  // kMoreLines lines after the reader saw its first line.
  constexpr int kMoreLines = 2000;
  std::atomic<bool> reading{false};
  std::atomic<int> last_line{-1};
  std::thread writer([&] {
    int stop_at = -1;
    for (int i = 0; stop_at < 0 || i <= stop_at; ++i) {
      if (stop_at < 0 && reading) {
        stop_at = i + kMoreLines;
        last_line = stop_at;
      }
      logs_.Append(Line("alpha", absl::StrCat(i)));
    }
  });
  // Start once some lines exist, so that the tail is not empty.
  while (logs_.Tail("alpha", 1).empty()) std::this_thread::yield();
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
      stub_->Tail(&context, Request("alpha", 1000, true));
  std::vector<int> received;
  v1::LogEntry entry;
  while (reader->Read(&entry)) {
    reading = true;
    int n = -1;
    if (!absl::SimpleAtoi(entry.text(), &n)) {
      ADD_FAILURE() << "unexpected line: " << entry.stream() << ": " << entry.text();
      break;
    }
    received.push_back(n);
    if (n == last_line) break;
  }
  writer.join();
  context.TryCancel();
  while (reader->Read(&entry)) {
  }
  reader->Finish();
  ASSERT_GE(received.size(), static_cast<size_t>(kMoreLines));
  EXPECT_EQ(received.back(), last_line);
  for (size_t i = 1; i < received.size(); ++i) {
    ASSERT_EQ(received[i], received[i - 1] + 1) << "at " << i;
  }
}

TEST_F(LogsServiceTest, ClientCancelEndsTheStreamAndItsSubscription) {
  logs_.Append(Line("alpha", "first"));
  {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
        stub_->Tail(&context, Request("alpha", 1, true));
    v1::LogEntry entry;
    ASSERT_TRUE(reader->Read(&entry));
    context.TryCancel();
    while (reader->Read(&entry)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Lines after the cancel reach no stream; the server stops at once, with
  // no stream left open.
  for (int i = 0; i < 100; ++i) logs_.Append(Line("alpha", "after"));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  server_.reset();
}

TEST_F(LogsServiceTest, ShutdownEndsFollowersWithUnavailable) {
  logs_.Append(Line("alpha", "first"));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
      stub_->Tail(&context, Request("alpha", 1, true));
  v1::LogEntry entry;
  ASSERT_TRUE(reader->Read(&entry));
  service_->Shutdown();
  while (reader->Read(&entry)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);

  std::vector<v1::LogEntry> entries;
  EXPECT_EQ(TailAll(Request("alpha", 1, true), &entries).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(LogsServiceTest, SlowFollowerLosesItsOldestLinesAndIsToldHowMany) {
  RestartServer({.max_buffered_lines = 8, .max_buffered_bytes = 1024 * 1024});
  logs_.Append(Line("alpha", "start"));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::LogEntry>> reader =
      stub_->Tail(&context, Request("alpha", 1, true));
  v1::LogEntry entry;
  ASSERT_TRUE(reader->Read(&entry));
  ASSERT_EQ(entry.text(), "start");

  // Far more than flow control and the buffer hold while nobody reads.
  constexpr int kLines = 3000;
  const std::string padding(4000, '.');
  for (int i = 0; i < kLines; ++i) logs_.Append(Line("alpha", absl::StrCat(i, " ", padding)));

  int received = 0;
  int dropped = 0;
  int notes = 0;
  int last = -1;
  while (reader->Read(&entry)) {
    if (entry.stream() == "sluice") {
      ++notes;
      EXPECT_THAT(entry.text(), HasSubstr("lines dropped"));
      EXPECT_EQ(entry.function(), "alpha");
      EXPECT_EQ(entry.time().seconds(), 1700000000);  // that of a dropped line
      int count = 0;
      ASSERT_TRUE(absl::SimpleAtoi(entry.text().substr(0, entry.text().find(' ')), &count))
          << entry.text();
      dropped += count;
      continue;
    }
    int n = -1;
    ASSERT_TRUE(absl::SimpleAtoi(entry.text().substr(0, entry.text().find(' ')), &n));
    EXPECT_GT(n, last);
    last = n;
    ++received;
    if (n == kLines - 1) break;
  }
  context.TryCancel();
  while (reader->Read(&entry)) {
  }
  reader->Finish();
  EXPECT_EQ(last, kLines - 1);
  EXPECT_GT(notes, 0);
  EXPECT_EQ(received + dropped, kLines);
}

}  // namespace
}  // namespace sluice
