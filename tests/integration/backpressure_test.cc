// Backpressure on a real server: a full queue answers RESOURCE_EXHAUSTED
// with a google.rpc.RetryInfo, the CLI waits and retries, and a storm of
// refused requests leaves the server's memory bounded.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

using testing::InvokeAsync;

using ::testing::HasSubstr;

class BackpressureTest : public testing::ServerTest {
 protected:
  // DeploySleep deploys the `sleep` example as `name` with these limits.
  void DeploySleep(const std::string& name, uint32_t concurrency, uint32_t max_queue) {
    v1::FunctionSpec spec;
    spec.set_concurrency(concurrency);
    spec.set_max_queue(max_queue);
    v1::DeployResponse deployed;
    const grpc::Status s = testing::DeployExample(*functions_, name, "sleep", &deployed, spec);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // WaitState waits until invocation `id` is in `state`.
  bool WaitState(const std::string& id, v1::InvocationState state,
                 absl::Duration timeout = absl::Seconds(30)) {
    return testing::WaitFor(
        [&] {
          v1::Invocation inv;
          return testing::GetInvocation(*invocations_, id, &inv).ok() && inv.state() == state;
        },
        timeout);
  }

  // FillQueue occupies `function` (concurrency 1, max_queue `max_queue`):
  // one invocation running and `max_queue` waiting, each sleeping `ms`.
  void FillQueue(const std::string& function, uint32_t max_queue, const std::string& ms) {
    std::string running;
    ASSERT_TRUE(InvokeAsync(*invocations_, function, ms, &running).ok());
    ASSERT_TRUE(WaitState(running, v1::RUNNING));
    for (uint32_t i = 0; i < max_queue; ++i) {
      ASSERT_TRUE(InvokeAsync(*invocations_, function, ms).ok());
    }
  }

  // RssKiB returns the server's resident set size (VmRSS) in KiB.
  int64_t RssKiB() {
    std::ifstream status(absl::StrCat("/proc/", server_->pid(), "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) != 0) continue;
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib;
    }
    ADD_FAILURE() << "no VmRSS for pid " << server_->pid();
    return 0;
  }
};

TEST_F(BackpressureTest, FullQueueIsResourceExhaustedWithRetryInfo) {
  DeploySleep("sleep", 1, 2);
  FillQueue("sleep", 2, "60000");

  const grpc::Status full = InvokeAsync(*invocations_, "sleep", "1");
  ASSERT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << full.error_message();
  EXPECT_THAT(full.error_message(), HasSubstr("is full"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(full.error_details()))
      << "grpc-status-details-bin is missing or not a google.rpc.Status";
  EXPECT_EQ(details.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(details.message(), full.error_message());
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry)) << details.details(0).type_url();
  const absl::Duration delay =
      absl::Seconds(retry.retry_delay().seconds()) + absl::Nanoseconds(retry.retry_delay().nanos());
  EXPECT_GT(delay, absl::ZeroDuration());
  EXPECT_LE(delay, absl::Seconds(60));
}

TEST_F(BackpressureTest, CliRetriesAFullQueueAndSucceedsOnceItDrains) {
  DeploySleep("sleep", 1, 1);
  FillQueue("sleep", 1, "1500");  // drains after about 1.5 s

  const testing::RunResult r = testing::RunCommand(
      {testing::BinaryDir() + "/sluice", "invoke", "sleep", "--async", "--data", "10"}, "",
      {"SLUICE_SERVER=" + server_->address()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("queue full; retrying in "));
  std::string id = r.out;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  ASSERT_FALSE(id.empty()) << r.out;
  EXPECT_TRUE(WaitState(id, v1::SUCCEEDED));
}

TEST_F(BackpressureTest, ClientRetryLoopWaitsOutAFullQueueOfARealServer) {
  DeploySleep("sleep", 1, 1);
  FillQueue("sleep", 1, "1500");  // drains after about 1.5 s

  cli::ClientConfig config;
  config.server = server_->address();
  std::istringstream in;
  std::ostringstream out, err;
  cli::Console console{in, out, err, true};
  v1::InvokeRequest request;
  request.set_function("sleep");
  request.set_payload("10");
  auto stub = v1::Invocations::NewStub(channel_);
  const int exit_code = cli::RunUnary<v1::InvokeAsyncResponse>(
      [&](grpc::ClientContext* context, v1::InvokeAsyncResponse* response) {
        return stub->InvokeAsync(context, request, response);
      },
      config, console,
      [&](const v1::InvokeAsyncResponse& response) { out << response.invocation_id(); });
  EXPECT_EQ(exit_code, 0) << err.str();
  EXPECT_THAT(err.str(), HasSubstr("queue full; retrying in "));
  ASSERT_FALSE(out.str().empty());
  EXPECT_TRUE(WaitState(out.str(), v1::SUCCEEDED));
}

// A storm of background invocations, far beyond what the function can run,
// against a bounded queue. What the server holds is bounded by the queue
// (max_queue + concurrency invocations of 16 KiB each, under 1 MiB), so its
// memory must stay close to where it was: the bound of +64 MiB leaves room
// for allocator arenas and gRPC buffers of the concurrent calls, and is far
// below what an unbounded queue would take (thousands of 16 KiB payloads
// per second of storm).
TEST_F(BackpressureTest, StormOfRefusedWorkKeepsMemoryAndAdmissionsBounded) {
  constexpr uint32_t kConcurrency = 2;
  constexpr uint32_t kMaxQueue = 50;
  constexpr int kClients = 8;
  constexpr int64_t kRssBoundKiB = 64 * 1024;
  const absl::Duration kStorm = absl::Seconds(4);
  DeploySleep("slow", kConcurrency, kMaxQueue);
  // "100" makes each run take 100 ms: the function runs 20 per second.
  const std::string payload = "100" + std::string(16 * 1024 - 3, ' ');
  ASSERT_TRUE(InvokeAsync(*invocations_, "slow", payload).ok());  // warm up

  const int64_t rss_before = RssKiB();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> attempts{0}, admitted{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Invocations::NewStub(channel_);
      while (!stop.load()) {
        const grpc::Status s = InvokeAsync(*stub, "slow", payload);
        ++attempts;
        if (s.ok()) {
          ++admitted;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  // Meanwhile, watch how many invocations are admitted and unfinished.
  int max_active = 0, samples = 0;
  auto monitor = v1::Invocations::NewStub(channel_);
  const absl::Time end = absl::Now() + kStorm;
  while (absl::Now() < end) {
    grpc::ClientContext context;
    v1::ListInvocationsRequest request;
    request.set_function("slow");
    request.set_page_size(1000);
    v1::ListInvocationsResponse response;
    if (monitor->List(&context, request, &response).ok()) {
      int active = 0;
      for (const v1::Invocation& inv : response.invocations()) {
        if (inv.state() == v1::PENDING || inv.state() == v1::RUNNING) ++active;
      }
      max_active = std::max(max_active, active);
      ++samples;
    }
  }
  stop = true;
  for (std::thread& t : clients) t.join();
  const int64_t rss_after = RssKiB();

  std::printf(
      "storm: %lld calls in %s (%lld admitted, %lld refused, %lld other); at most %d of "
      "max_queue %u + concurrency %u unfinished (%d samples); server RSS %lld KiB before, %lld "
      "KiB after (%+lld KiB)\n",
      static_cast<long long>(attempts.load()), absl::FormatDuration(kStorm).c_str(),
      static_cast<long long>(admitted.load()), static_cast<long long>(refused.load()),
      static_cast<long long>(other.load()), max_active, kMaxQueue, kConcurrency, samples,
      static_cast<long long>(rss_before), static_cast<long long>(rss_after),
      static_cast<long long>(rss_after - rss_before));

  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(samples, 0);
  EXPECT_LE(max_active, static_cast<int>(kMaxQueue + kConcurrency));
  EXPECT_LE(admitted.load(), kMaxQueue + kConcurrency + 20 * (absl::ToInt64Seconds(kStorm) + 2));
  if (kSanitized) {
    // Under AddressSanitizer the server answers several times slower, so the
    // clients cannot offer ten times its capacity, and the sanitizer's
    // allocator holds freed memory in quarantine, so RSS says nothing about
    // the server's own footprint. The regular build checks both.
    return;
  }
  // The function runs at most 20 per second: the storm offered ten times that.
  EXPECT_GE(attempts.load(), 10 * 20 * absl::ToInt64Seconds(kStorm));
  EXPECT_GE(attempts.load(), 10 * admitted.load());
  EXPECT_LT(rss_after - rss_before, kRssBoundKiB);
}

}  // namespace
}  // namespace sluice
