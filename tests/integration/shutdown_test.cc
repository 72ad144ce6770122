// Graceful shutdown: on SIGTERM health turns NOT_SERVING, new work gets
// UNAVAILABLE, running attempts finish within the grace period and nothing
// queued is lost; a second SIGTERM (or the grace running out) exits at once
// and the interrupted attempts run again after a restart.
#include <signal.h>
#include <sys/wait.h>

#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using testing::ServerProcess;

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override { data_ = testing::MakeTempDir() + "/data"; }

  std::unique_ptr<ServerProcess> StartServer(const std::vector<std::string>& args = {}) {
    auto server = ServerProcess::Start(data_, args);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  static void DeploySleep(ServerProcess& server) {
    auto functions = v1::Functions::NewStub(server.Channel());
    v1::FunctionSpec spec;
    spec.set_concurrency(1);
    *spec.mutable_timeout() = google::protobuf::util::TimeUtil::SecondsToDuration(120);
    v1::DeployResponse deployed;
    ASSERT_TRUE(testing::DeployExample(*functions, "sleep", "sleep", &deployed, spec).ok());
  }

  static grpc::Status InvokeAsync(ServerProcess& server, const std::string& payload,
                                  std::string* id) {
    auto stub = v1::Invocations::NewStub(server.Channel());
    return testing::InvokeAsync(*stub, "sleep", payload, id);
  }

  static v1::Invocation AwaitState(ServerProcess& server, const std::string& id,
                                   v1::InvocationState state) {
    auto stub = v1::Invocations::NewStub(server.Channel());
    v1::Invocation inv;
    EXPECT_TRUE(testing::WaitFor(
        [&] { return testing::GetInvocation(*stub, id, &inv).ok() && inv.state() == state; },
        absl::Seconds(30)))
        << id << " is " << v1::InvocationState_Name(inv.state());
    return inv;
  }

  static bool NotServing(ServerProcess& server) {
    auto health = grpc::health::v1::Health::NewStub(server.Channel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status s = health->Check(&context, {}, &response);
    return s.ok() && response.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }

  std::string data_;
};

TEST_F(ShutdownTest, SigtermDrainsRunningAttemptsAndKeepsTheQueue) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  DeploySleep(*server);
  std::string running, queued;
  // Long enough that the server is still draining it when the checks
  // below look, on a machine slowed by other tests.
  ASSERT_TRUE(InvokeAsync(*server, "5000", &running).ok());
  AwaitState(*server, running, v1::RUNNING);
  ASSERT_TRUE(InvokeAsync(*server, "1", &queued).ok());

  server->Signal(SIGTERM);
  ASSERT_TRUE(testing::WaitFor([&] { return NotServing(*server); }, absl::Seconds(10)));
  std::string refused;
  grpc::Status s = InvokeAsync(*server, "1", &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(refused.empty());

  std::optional<int> status = server->Wait(absl::Seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;

  // After a restart: the drained attempt was recorded as it finished, and
  // the queued invocation, never started, runs now as its first attempt.
  server = StartServer();
  ASSERT_NE(server, nullptr);
  const v1::Invocation drained = AwaitState(*server, running, v1::SUCCEEDED);
  EXPECT_EQ(drained.attempt(), 1u);
  const v1::Invocation resumed = AwaitState(*server, queued, v1::SUCCEEDED);
  EXPECT_EQ(resumed.attempt(), 1u);
}

TEST_F(ShutdownTest, ASecondSigtermExitsAtOnceAndTheAttemptRunsAgain) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  DeploySleep(*server);
  std::string id;
  ASSERT_TRUE(InvokeAsync(*server, "60000", &id).ok());
  AwaitState(*server, id, v1::RUNNING);

  server->Signal(SIGTERM);
  ASSERT_TRUE(testing::WaitFor([&] { return NotServing(*server); }, absl::Seconds(10)));
  // Still draining: the attempt has a minute to go.
  EXPECT_FALSE(server->Wait(absl::Milliseconds(300)).has_value());
  server->Signal(SIGTERM);
  std::optional<int> status = server->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << *status;

  server = StartServer();
  ASSERT_NE(server, nullptr);
  // The interrupted attempt lost its lease with the process and runs again.
  const v1::Invocation again = AwaitState(*server, id, v1::RUNNING);
  EXPECT_EQ(again.attempt(), 2u);
  bool lease_lost = false;
  for (const auto& change : again.timeline()) {
    if (change.reason().find("attempt 1 lost its lease") != std::string::npos) lease_lost = true;
  }
  EXPECT_TRUE(lease_lost);
  auto stub = v1::Invocations::NewStub(server->Channel());
  grpc::ClientContext context;
  v1::CancelInvocationRequest cancel;
  cancel.set_id(id);
  v1::Invocation cancelled;
  EXPECT_TRUE(stub->Cancel(&context, cancel, &cancelled).ok());
}

TEST_F(ShutdownTest, TheGracePeriodBoundsTheDrain) {
  auto server = StartServer({"--shutdown-grace", "1s"});
  ASSERT_NE(server, nullptr);
  DeploySleep(*server);
  std::string id;
  ASSERT_TRUE(InvokeAsync(*server, "60000", &id).ok());
  AwaitState(*server, id, v1::RUNNING);
  const absl::Time start = absl::Now();
  server->Signal(SIGTERM);
  std::optional<int> status = server->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << *status;
  // Far sooner than the attempt's minute.
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
}

}  // namespace
}  // namespace sluice
