// The client's retry of calls refused because a queue is full, driven by an
// injected call and an injected wait (no server, no sleeping).
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/retry_info.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

grpc::Status QueueFull(absl::Duration delay) {
  absl::Status full = absl::ResourceExhaustedError("the queue of function \"f\" is full");
  SetRetryDelay(full, delay);
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(full.message()),
                      RpcStatusOf(full).SerializeAsString());
}

class ClientRetryTest : public ::testing::Test {
 protected:
  ClientRetryTest() {
    config_.wait_before_retry = [this](absl::Duration d) { waits_.push_back(d); };
  }

  // Run calls RunUnary with a call that answers `answers` in turn (OK after
  // the last) and returns the exit code.
  int Run(std::vector<grpc::Status> answers) {
    const size_t first = calls_;
    return RunUnary<v1::InvokeAsyncResponse>(
        [this, answers, first](grpc::ClientContext* context, v1::InvokeAsyncResponse* response) {
          EXPECT_NE(context, nullptr);
          EXPECT_TRUE(response->invocation_id().empty());  // fresh per attempt
          const size_t i = calls_++ - first;
          response->set_invocation_id("partial");
          if (i < answers.size()) return answers[i];
          response->set_invocation_id("inv-1");
          return grpc::Status::OK;
        },
        config_, console_,
        [this](const v1::InvokeAsyncResponse& r) { out_ << r.invocation_id() << "\n"; });
  }

  ClientConfig config_;
  std::istringstream in_;
  std::ostringstream out_, err_;
  Console console_{in_, out_, err_, true};
  std::vector<absl::Duration> waits_;
  size_t calls_ = 0;
};

TEST_F(ClientRetryTest, RetriesAfterTheServersDelayUntilAdmitted) {
  EXPECT_EQ(Run({QueueFull(absl::Milliseconds(1200)), QueueFull(absl::Milliseconds(250))}),
            kExitOk);
  EXPECT_EQ(calls_, 3u);
  EXPECT_THAT(waits_, ElementsAre(absl::Milliseconds(1200), absl::Milliseconds(250)));
  EXPECT_EQ(err_.str(), "queue full; retrying in 1.2s\nqueue full; retrying in 0.3s\n");
  EXPECT_EQ(out_.str(), "inv-1\n");
}

TEST_F(ClientRetryTest, GivesUpAfterTheConfiguredRetries) {
  config_.queue_full_retries = 2;
  std::vector<grpc::Status> answers(10, QueueFull(absl::Seconds(1)));
  EXPECT_NE(Run(answers), kExitOk);
  EXPECT_EQ(calls_, 3u);  // the call and two retries
  EXPECT_EQ(waits_.size(), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("error: "));
  EXPECT_THAT(err_.str(), HasSubstr("is full"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ClientRetryTest, ZeroRetriesDisablesRetrying) {
  config_.queue_full_retries = 0;
  EXPECT_NE(Run({QueueFull(absl::Seconds(1))}), kExitOk);
  EXPECT_EQ(calls_, 1u);
  EXPECT_TRUE(waits_.empty());
  EXPECT_THAT(err_.str(), ::testing::Not(HasSubstr("retrying")));
}

TEST_F(ClientRetryTest, OtherFailuresAreNotRetried) {
  EXPECT_NE(Run({grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "message too large")}),
            kExitOk);
  EXPECT_NE(Run({grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is draining")}), kExitOk);
  EXPECT_EQ(calls_, 2u);
  EXPECT_TRUE(waits_.empty());
}

TEST(QueueFullRetryDelayTest, ReadsRetryInfoAndClampsIt) {
  EXPECT_EQ(QueueFullRetryDelay(QueueFull(absl::Milliseconds(700))), absl::Milliseconds(700));
  EXPECT_EQ(QueueFullRetryDelay(QueueFull(absl::Hours(2))), kMaxQueueFullRetryDelay);
  EXPECT_FALSE(QueueFullRetryDelay(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "x", "junk"))
                   .has_value());
  const grpc::Status full = QueueFull(absl::Seconds(1));
  EXPECT_FALSE(QueueFullRetryDelay(grpc::Status(grpc::StatusCode::UNAVAILABLE, full.error_message(),
                                                full.error_details()))
                   .has_value());
}

}  // namespace
}  // namespace sluice::cli
