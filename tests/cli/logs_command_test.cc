// Tests of `sluice logs`: the line rendering, and the command against a fake
// in-process Logs server.
#include "cli/logs_command.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <sstream>
#include <streambuf>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sluice/v1/logs.grpc.pb.h"
#include "tests/cli/cli_runner.h"

namespace sluice::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kMay1 = 1714564800;  // 2024-05-01T12:00:00Z

v1::LogEntry Entry(const std::string& invocation_id, const std::string& stream,
                   const std::string& text) {
  v1::LogEntry entry;
  entry.mutable_time()->set_seconds(kMay1);
  entry.mutable_time()->set_nanos(45000000);
  entry.set_function("echo");
  entry.set_version(3);
  entry.set_invocation_id(invocation_id);
  entry.set_stream(stream);
  entry.set_text(text);
  return entry;
}

TEST(LogLineTextTest, PrintsTimeInvocationStreamAndText) {
  EXPECT_EQ(LogLineText(Entry("inv-1", "stdout", "hello  world")),
            "2024-05-01T12:00:00.045Z  inv-1  stdout  hello  world\n");
}

TEST(LogLineTextTest, MarksAMissingInvocationAndStream) {
  EXPECT_EQ(LogLineText(Entry("", "stderr", "")), "2024-05-01T12:00:00.045Z  -  stderr  \n");
  EXPECT_EQ(LogLineText(Entry("", "", "x")), "2024-05-01T12:00:00.045Z  -  -  x\n");
}

// FakeLogs sends two lines; with follow it then waits for the client to go.
class FakeLogs final : public v1::Logs::Service {
 public:
  grpc::Status Tail(grpc::ServerContext* context, const v1::TailLogsRequest* request,
                    grpc::ServerWriter<v1::LogEntry>* writer) override {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(*request);
    }
    if (request->function() == "ghost") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "function \"ghost\" not found");
    }
    writer->Write(Entry("inv-1", "stdout", "hello"));
    writer->Write(Entry("", "stderr", "warming up"));
    if (!request->follow()) return grpc::Status::OK;
    following_.Notify();
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!context->IsCancelled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
  }

  std::vector<v1::TailLogsRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  absl::Notification following_;

 private:
  std::mutex mu_;
  std::vector<v1::TailLogsRequest> requests_;
};

class LogsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&logs_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override { server_->Shutdown(); }

  CliResult Sluice(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", address_});
    return RunSluice(args);
  }

  FakeLogs logs_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(LogsCommandTest, PrintsEachLineAndAsksForTheServerDefault) {
  const CliResult result = Sluice({"logs", "echo"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out,
            "2024-05-01T12:00:00.045Z  inv-1  stdout  hello\n"
            "2024-05-01T12:00:00.045Z  -  stderr  warming up\n");
  EXPECT_THAT(result.err, IsEmpty());
  const std::vector<v1::TailLogsRequest> requests = logs_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].function(), "echo");
  EXPECT_FALSE(requests[0].has_lines());
  EXPECT_FALSE(requests[0].follow());
}

TEST_F(LogsCommandTest, SendsTheNumberOfLines) {
  ASSERT_EQ(Sluice({"logs", "echo", "-n", "5"}).exit_code, 0);
  ASSERT_EQ(Sluice({"logs", "--lines", "0", "echo"}).exit_code, 0);
  const std::vector<v1::TailLogsRequest> requests = logs_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[0].has_lines());
  EXPECT_EQ(requests[0].lines(), 5u);
  EXPECT_TRUE(requests[1].has_lines());
  EXPECT_EQ(requests[1].lines(), 0u);
}

TEST_F(LogsCommandTest, JsonPrintsOneEntryPerLine) {
  const CliResult result = Sluice({"-o", "json", "logs", "echo"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2);
  EXPECT_THAT(result.out, HasSubstr("\"invocationId\":\"inv-1\""));
  EXPECT_THAT(result.out, HasSubstr("\"text\":\"warming up\""));
}

TEST_F(LogsCommandTest, UnknownFunctionExitsNotFound) {
  const CliResult result = Sluice({"logs", "ghost"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.err, HasSubstr("error: function \"ghost\" not found"));
}

// WatchedBuffer keeps what is written to it; another thread may wait for a
// piece of text to appear.
class WatchedBuffer final : public std::streambuf {
 public:
  bool WaitForText(const std::string& part, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const auto contains = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return text_.find(part) != std::string::npos;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&contains), timeout);
  }

  std::string text() {
    absl::MutexLock lock(&mu_);
    return text_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    absl::MutexLock lock(&mu_);
    text_ += traits_type::to_char_type(c);
    return c;
  }
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    absl::MutexLock lock(&mu_);
    text_.append(data, static_cast<size_t>(size));
    return size;
  }

 private:
  absl::Mutex mu_;
  std::string text_ ABSL_GUARDED_BY(mu_);
};

TEST_F(LogsCommandTest, FollowPrintsUntilInterruptedAndExitsZero) {
  WatchedBuffer out_buffer;
  std::ostream out(&out_buffer);
  std::istringstream in;
  std::ostringstream err;
  Console console{in, out, err, true};
  int exit_code = -1;
  std::thread command([&] {
    const std::vector<std::string> args = {"sluice", "--server", address_, "logs", "echo", "-f"};
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    exit_code = RunCli(static_cast<int>(argv.size()), argv.data(), console, nullptr);
  });
  // The command handles SIGINT from before its call starts.
  const bool following = logs_.following_.WaitForNotificationWithTimeout(absl::Seconds(30));
  const bool printed = out_buffer.WaitForText("warming up\n", absl::Seconds(30));
  if (following) kill(getpid(), SIGINT);
  command.join();
  ASSERT_TRUE(following);
  EXPECT_TRUE(printed);
  EXPECT_EQ(exit_code, 0) << err.str();
  EXPECT_EQ(out_buffer.text(),
            "2024-05-01T12:00:00.045Z  inv-1  stdout  hello\n"
            "2024-05-01T12:00:00.045Z  -  stderr  warming up\n");
  EXPECT_THAT(err.str(), IsEmpty());
  ASSERT_EQ(logs_.requests().size(), 1u);
  EXPECT_TRUE(logs_.requests()[0].follow());
}

}  // namespace
}  // namespace sluice::cli
