// The background-invocation API end to end on a real server: progress on
// Watch, dead letters and Redrive, destinations, and retention.
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using ::testing::ElementsAreArray;

class AsyncApiTest : public testing::ServerTest {
 protected:
  AsyncApiTest() : ServerTest({"--retention", "2s"}) {}

  v1::InvokeAsyncResponse InvokeAsync(v1::InvokeRequest request) {
    grpc::ClientContext context;
    v1::InvokeAsyncResponse response;
    grpc::Status s = invocations_->InvokeAsync(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
};

v1::InvokeRequest Request(const std::string& function, const std::string& payload) {
  v1::InvokeRequest request;
  request.set_function(function);
  request.set_payload(payload);
  return request;
}

TEST_F(AsyncApiTest, WatchStreamsProgressReportsInOrder) {
  DeployOk("progress", "progress");
  const std::string id = InvokeAsync(Request("progress", "300")).invocation_id();
  grpc::ClientContext context;
  v1::WatchInvocationRequest request;
  request.set_id(id);
  auto stream = invocations_->Watch(&context, request);
  std::vector<uint32_t> percents;
  v1::Invocation update;
  v1::InvocationState last = v1::INVOCATION_STATE_UNSPECIFIED;
  while (stream->Read(&update)) {
    last = update.state();
    if (update.has_progress() &&
        (percents.empty() || percents.back() != update.progress().percent())) {
      percents.push_back(update.progress().percent());
    }
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(last, v1::SUCCEEDED);
  // The watch starts while the first step runs; every later step is seen.
  ASSERT_GE(percents.size(), 3u);
  EXPECT_THAT(std::vector<uint32_t>(percents.end() - 3, percents.end()),
              ElementsAreArray({50u, 75u, 100u}));
}

TEST_F(AsyncApiTest, DeadLettersAreListedAndRedriven) {
  v1::FunctionSpec spec;
  spec.mutable_retry()->set_max_attempts(2);
  *spec.mutable_retry()->mutable_initial_backoff() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(10);
  DeployOk("fail", "fail", spec);
  DeployOk("echo", "echo");
  std::set<std::string> failed;
  for (int i = 0; i < 3; ++i) failed.insert(InvokeAsync(Request("fail", "x")).invocation_id());
  const std::string fine = InvokeAsync(Request("echo", "y")).invocation_id();
  for (const std::string& id : failed) {
    const v1::Invocation inv = AwaitState(id, v1::FAILED);
    EXPECT_TRUE(inv.dead_lettered());
    EXPECT_EQ(inv.attempt(), 2u);
  }
  AwaitState(fine, v1::SUCCEEDED);

  grpc::ClientContext list_context;
  v1::ListInvocationsRequest list;
  list.set_dead_lettered(true);
  v1::ListInvocationsResponse listed;
  ASSERT_TRUE(invocations_->List(&list_context, list, &listed).ok());
  std::set<std::string> dead;
  for (const auto& inv : listed.invocations()) dead.insert(inv.id());
  EXPECT_EQ(dead, failed);

  grpc::ClientContext redrive_context;
  v1::RedriveRequest redrive;
  redrive.set_function("fail");
  v1::RedriveResponse redriven;
  ASSERT_TRUE(invocations_->Redrive(&redrive_context, redrive, &redriven).ok());
  EXPECT_EQ(
      std::set<std::string>(redriven.invocation_ids().begin(), redriven.invocation_ids().end()),
      failed);
  for (const std::string& id : failed) AwaitState(id, v1::FAILED);

  grpc::ClientContext bad_context;
  v1::RedriveRequest bad;
  bad.set_id(fine);
  v1::RedriveResponse none;
  EXPECT_EQ(invocations_->Redrive(&bad_context, bad, &none).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(AsyncApiTest, FinishedInvocationsAndTheirKeysGoAfterTheRetention) {
  DeployOk("echo", "echo");
  v1::InvokeRequest request = Request("echo", "kept for 2s");
  request.set_idempotency_key("k-1");
  const std::string id = InvokeAsync(request).invocation_id();
  AwaitState(id, v1::SUCCEEDED);
  v1::InvokeAsyncResponse again = InvokeAsync(request);
  EXPECT_EQ(again.invocation_id(), id);
  EXPECT_TRUE(again.deduplicated());
  // The collector runs every second; the record is 2s past finishing soon.
  v1::Invocation inv;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::GetInvocation(*invocations_, id, &inv).error_code() ==
               grpc::StatusCode::NOT_FOUND;
      },
      absl::Seconds(30)));
  // The key went with it: the same key now makes a new invocation.
  v1::InvokeAsyncResponse fresh = InvokeAsync(request);
  EXPECT_NE(fresh.invocation_id(), id);
  EXPECT_FALSE(fresh.deduplicated());
  const std::string metrics = *testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, ::testing::HasSubstr("sluice_retention_deleted_total 1"));
}

TEST_F(AsyncApiTest, MetricsOfARealServerPassPromtool) {
  v1::FunctionSpec spec;
  spec.mutable_retry()->set_max_attempts(2);
  *spec.mutable_retry()->mutable_initial_backoff() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(10);
  DeployOk("fail", "fail", spec);
  AwaitState(InvokeAsync(Request("fail", "x")).invocation_id(), v1::FAILED);
  const std::vector<std::string> names = {"sluice_retries_total{function=\"fail\"} 1",
                                          "sluice_dead_letters_total{function=\"fail\"} 1",
                                          "sluice_store_commits_total",
                                          "sluice_store_syncs_total",
                                          "sluice_oldest_pending_age_seconds{function=\"fail\"}",
                                          "process_cpu_seconds_total",
                                          "process_resident_memory_bytes",
                                          "process_open_fds",
                                          "process_start_time_seconds",
                                          "grpc_server_started_total",
                                          "grpc_server_handled_total",
                                          "grpc_server_handling_seconds_bucket"};
  // The oldest-pending gauge is refreshed once a second: wait for a scrape
  // that has every series.
  absl::StatusOr<std::string> metrics;
  const bool complete = testing::WaitFor(
      [&] {
        metrics = testing::HttpGet(server_->metrics_port(), "/metrics");
        if (!metrics.ok()) return false;
        for (const std::string& name : names) {
          if (metrics->find(name) == std::string::npos) return false;
        }
        return true;
      },
      absl::Seconds(10));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  for (const std::string& name : names) EXPECT_THAT(*metrics, ::testing::HasSubstr(name));
  EXPECT_TRUE(complete);
  const testing::RunResult check =
      testing::RunCommand({"/usr/bin/promtool", "check", "metrics"}, *metrics);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << *metrics;
}

}  // namespace
}  // namespace sluice
