// Durability across a crash: every acknowledged InvokeAsync survives a
// SIGKILL of the server and runs to completion after the restart.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using testing::ServerProcess;

constexpr int kTotal = 1000;
constexpr int kClients = 4;

// EnqueueUntil has `kClients` threads enqueue invocations of "work" until
// `acked` holds `target` ids or the server stops answering.
void EnqueueUntil(ServerProcess& server, std::mutex& mu, std::set<std::string>& acked,
                  size_t target) {
  auto channel = server.Channel();
  std::vector<std::thread> clients;
  std::atomic<bool> down{false};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Invocations::NewStub(channel);
      while (!down.load()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (acked.size() >= target) return;
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::InvokeRequest request;
        request.set_function("work");
        request.set_payload("3");
        v1::InvokeAsyncResponse response;
        grpc::Status s = stub->InvokeAsync(&context, request, &response);
        if (!s.ok()) {
          // Only a dead server may refuse: the queue is large enough.
          EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
          down = true;
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        acked.insert(response.invocation_id());
      }
    });
  }
  for (std::thread& t : clients) t.join();
}

TEST(RestartTest, EveryAcknowledgedInvocationSurvivesSigkillAndSucceeds) {
  const std::string dir = testing::MakeTempDir();
  const std::string data = dir + "/data";
  auto server = ServerProcess::Start(data);
  ASSERT_TRUE(server.ok()) << server.status();
  {
    auto functions = v1::Functions::NewStub((*server)->Channel());
    v1::FunctionSpec spec;
    spec.set_concurrency(8);
    spec.set_max_queue(kTotal * 2);
    v1::DeployResponse deployed;
    ASSERT_TRUE(testing::DeployExample(*functions, "work", "sleep", &deployed, spec).ok());
  }

  std::mutex mu;
  std::set<std::string> acked;
  // Kill the server mid-way through the enqueues, while clients are still
  // sending and the executors are still working through the queue.
  std::thread killer([&] {
    testing::WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return acked.size() >= kTotal / 2;
        },
        absl::Seconds(60));
    (*server)->Kill();
  });
  EnqueueUntil(**server, mu, acked, kTotal);
  killer.join();
  const size_t before_kill = acked.size();
  ASSERT_GE(before_kill, static_cast<size_t>(kTotal / 2));
  ASSERT_LT(before_kill, static_cast<size_t>(kTotal)) << "the kill came after every enqueue";

  auto restarted = ServerProcess::Start(data);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EnqueueUntil(**restarted, mu, acked, kTotal);
  // Clients in flight when the target is reached may add one each.
  ASSERT_GE(acked.size(), static_cast<size_t>(kTotal));

  auto stub = v1::Invocations::NewStub((*restarted)->Channel());
  size_t succeeded = 0, restarted_attempts = 0;
  for (const std::string& id : acked) {
    v1::Invocation inv;
    const bool done = testing::WaitFor(
        [&] {
          grpc::Status s = testing::GetInvocation(*stub, id, &inv);
          EXPECT_TRUE(s.ok()) << id << ": " << s.error_message();
          return !s.ok() || inv.state() == v1::SUCCEEDED;
        },
        absl::Seconds(60));
    ASSERT_TRUE(done) << id << " is " << v1::InvocationState_Name(inv.state());
    ASSERT_EQ(inv.state(), v1::SUCCEEDED) << id;
    ++succeeded;
    if (inv.attempt() > 1) ++restarted_attempts;
  }
  EXPECT_EQ(succeeded, acked.size());
  std::cout << "acknowledged before the kill: " << before_kill
            << ", re-run after the restart: " << restarted_attempts << "\n";
  restarted->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
