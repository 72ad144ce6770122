// Executors against the real server: isolated native workers, crashes,
// timeouts, warm pools, environment, logs, exec functions, and that nothing
// leaks after many invocations.
#include <dirent.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "sluice/v1/logs.grpc.pb.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using testing::ServerProcess;

// Children describes the direct children of `pid`: how many, and how many
// are zombies.
struct Children {
  int alive = 0;
  int zombies = 0;
};

Children ChildrenOf(pid_t pid) {
  Children children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != pid) continue;
    (state == 'Z' ? children.zombies : children.alive)++;
  }
  return children;
}

int OpenFds(pid_t pid) {
  int count = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++count;
  }
  return count;
}

class ExecutorsTest : public testing::ServerTest {
 protected:
  void DeployBytes(const std::string& name, const std::string& bytes, v1::FunctionSpec spec) {
    spec.set_name(name);
    v1::DeployResponse deployed;
    grpc::Status s = testing::Deploy(*functions_, spec, bytes, &deployed);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  grpc::Status Invoke(const std::string& function, const std::string& payload,
                      std::string* output = nullptr, absl::Duration deadline = absl::Seconds(30)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload(payload);
    v1::InvokeResponse response;
    grpc::Status s = invocations_->Invoke(&context, request, &response);
    if (output != nullptr) *output = response.output();
    return s;
  }

  std::string Metrics() {
    auto body = testing::HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? *body : "";
  }
};

TEST_F(ExecutorsTest, ACrashCostsOneWorkerAndIsReportedWithItsSignal) {
  DeployOk("crash", "crash");
  std::string out;
  ASSERT_TRUE(Invoke("crash", "before", &out).ok());
  EXPECT_EQ(out, "before");

  grpc::Status s = Invoke("crash", "segv");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), HasSubstr("Crash"));
  EXPECT_THAT(s.error_message(), HasSubstr("SIGSEGV"));
  s = Invoke("crash", "abort");
  EXPECT_THAT(s.error_message(), HasSubstr("SIGABRT"));
  s = Invoke("crash", "exit");
  EXPECT_THAT(s.error_message(), HasSubstr("exited with status 3"));

  // A fresh worker serves the next invocation; the server never went down.
  ASSERT_TRUE(Invoke("crash", "after", &out).ok());
  EXPECT_EQ(out, "after");

  // In the background a crash is retried like any failure (three attempts
  // by default), then ends the invocation with its type.
  grpc::ClientContext context;
  v1::InvokeRequest request;
  request.set_function("crash");
  request.set_payload("segv");
  request.mutable_retry()->set_max_attempts(2);
  *request.mutable_retry()->mutable_initial_backoff() =
      google::protobuf::util::TimeUtil::MillisecondsToDuration(10);
  v1::InvokeAsyncResponse queued;
  ASSERT_TRUE(invocations_->InvokeAsync(&context, request, &queued).ok());
  v1::Invocation inv;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::GetInvocation(*invocations_, queued.invocation_id(), &inv).ok() &&
               inv.state() == v1::FAILED;
      },
      absl::Seconds(30)));
  EXPECT_EQ(inv.error().type(), "Crash");
  EXPECT_THAT(inv.error().message(), HasSubstr("SIGSEGV"));
  EXPECT_EQ(inv.attempt(), 2u);
  EXPECT_TRUE(inv.dead_lettered());

  const std::string metrics = Metrics();
  EXPECT_THAT(metrics, HasSubstr("sluice_worker_crashes_total{function=\"crash\"} 5"));
  EXPECT_THAT(metrics, HasSubstr("sluice_retries_total{function=\"crash\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("sluice_dead_letters_total{function=\"crash\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("sluice_cold_start_duration_seconds_count{function=\"crash\"}"));
}

TEST_F(ExecutorsTest, TimeoutKillsTheWorkerAndTheNextCallGetsAFreshOne) {
  v1::FunctionSpec spec;
  spec.set_concurrency(1);
  DeployOk("sleep", "sleep", spec);
  // Long enough for a cold start, even of a sanitizer build (the timeout
  // counts from the start of the attempt, worker start included).
  spec.mutable_timeout()->set_seconds(2);
  DeployOk("hang", "crash", spec);
  const absl::Time start = absl::Now();
  grpc::Status s = Invoke("hang", "hang");  // ignores its deadline: only the kill stops it
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  std::string out;
  ASSERT_TRUE(Invoke("hang", "fresh", &out).ok());
  EXPECT_EQ(out, "fresh");
  ASSERT_TRUE(Invoke("sleep", "1", &out).ok());
  EXPECT_EQ(out, "slept 1 ms");
}

TEST_F(ExecutorsTest, IsolationNoneRunsInTheServerProcess) {
  v1::FunctionSpec spec;
  spec.set_isolation(v1::ISOLATION_NONE);
  DeployOk("fast", "echo", spec);
  std::string out;
  ASSERT_TRUE(Invoke("fast", "in-process", &out).ok());
  EXPECT_EQ(out, "in-process");
  EXPECT_EQ(ChildrenOf(server_->pid()).alive, 0);
}

TEST_F(ExecutorsTest, WorkersGetOnlyTheEnvironmentTheSpecGrants) {
  v1::FunctionSpec spec;
  (*spec.mutable_env())["GREETING"] = "hello";
  (*spec.mutable_env())["LEVEL"] = "3";
  DeployOk("env", "crash", spec);
  std::string out;
  ASSERT_TRUE(Invoke("env", "env", &out).ok());
  std::set<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines, (std::set<std::string>{"GREETING=hello", "LEVEL=3"}));
}

TEST_F(ExecutorsTest, MinWarmWorkersAreStartedAheadOfTraffic) {
  v1::FunctionSpec spec;
  spec.set_min_warm(2);
  spec.set_concurrency(4);
  DeployOk("warm", "echo", spec);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Metrics().find("sluice_workers{function=\"warm\",state=\"idle\"} 2") !=
               std::string::npos;
      },
      absl::Seconds(20)))
      << Metrics();
  EXPECT_GE(ChildrenOf(server_->pid()).alive, 2);
}

TEST_F(ExecutorsTest, ANewVersionDrainsTheOldWithoutFailingWorkInFlight) {
  v1::FunctionSpec spec;
  spec.set_concurrency(2);
  DeployOk("slow", "sleep", spec);
  std::string out;
  grpc::Status in_flight;
  std::thread caller([&] { in_flight = Invoke("slow", "700", &out); });
  // Wait until the attempt runs on a version-1 worker, then deploy version 2.
  const bool busy = testing::WaitFor(
      [&] {
        return Metrics().find("sluice_workers{function=\"slow\",state=\"busy\"} 1") !=
               std::string::npos;
      },
      absl::Seconds(20));
  if (busy) DeployOk("slow", "echo", spec);
  caller.join();
  ASSERT_TRUE(busy);
  ASSERT_TRUE(in_flight.ok()) << in_flight.error_message();
  EXPECT_EQ(out, "slept 700 ms");
  ASSERT_TRUE(Invoke("slow", "now echo", &out).ok());
  EXPECT_EQ(out, "now echo");
}

TEST_F(ExecutorsTest, OutputIsCapturedAndTaggedWithTheInvocation) {
  DeployOk("printer", "crash");
  grpc::ClientContext context;
  v1::InvokeRequest request;
  request.set_function("printer");
  request.set_payload("print");
  v1::InvokeResponse response;
  ASSERT_TRUE(invocations_->Invoke(&context, request, &response).ok());
  const std::string id = response.invocation_id();

  auto logs = v1::Logs::NewStub(channel_);
  std::vector<v1::LogEntry> entries;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        grpc::ClientContext tail_context;
        v1::TailLogsRequest tail;
        tail.set_function("printer");
        auto reader = logs->Tail(&tail_context, tail);
        entries.clear();
        v1::LogEntry entry;
        while (reader->Read(&entry)) entries.push_back(entry);
        return reader->Finish().ok() && entries.size() >= 2;
      },
      absl::Seconds(20)));
  std::set<std::string> seen;
  for (const v1::LogEntry& e : entries) {
    EXPECT_EQ(e.invocation_id(), id);
    seen.insert(e.stream() + ": " + e.text());
  }
  EXPECT_TRUE(seen.count("stdout: hello from " + id)) << entries.size();
  EXPECT_TRUE(seen.count("stderr: warning from " + id));
}

TEST_F(ExecutorsTest, ExecFunctionsRunOneProcessPerInvocation) {
  v1::FunctionSpec spec;
  spec.set_runtime(v1::RUNTIME_EXEC);
  DeployBytes("upper", "#!/bin/sh\ntr a-z A-Z\n", spec);
  std::string out;
  ASSERT_TRUE(Invoke("upper", "hello", &out).ok());
  EXPECT_EQ(out, "HELLO");

  DeployBytes("failing", "#!/bin/sh\necho 'something broke' >&2\nexit 3\n", spec);
  grpc::Status s = Invoke("failing", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), HasSubstr("status 3"));
  EXPECT_THAT(s.error_message(), HasSubstr("something broke"));

  DeployBytes("flood", "#!/bin/sh\nexec yes\n", spec);
  s = Invoke("flood", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), HasSubstr("OutputTooLarge"));
}

TEST_F(ExecutorsTest, LambdaBundlesRunUnmodifiedBootstraps) {
  v1::FunctionSpec spec;
  spec.set_runtime(v1::RUNTIME_LAMBDA);
  spec.set_handler("function.handler");
  DeployBytes("shell", testing::ReadFileOrDie(testing::BinaryDir() + "/functions/lambda-shell.zip"),
              spec);
  DeployBytes("python",
              testing::ReadFileOrDie(testing::BinaryDir() + "/functions/lambda-python.tar.gz"),
              spec);
  std::string out;
  for (int i = 0; i < 3; ++i) {  // the same warm worker answers each time
    ASSERT_TRUE(Invoke("shell", "{\"n\": 1}", &out).ok());
    EXPECT_THAT(out, HasSubstr("\"runtime\": \"bash\""));
    EXPECT_THAT(out, HasSubstr("\"echo\": {\"n\": 1}"));
  }
  ASSERT_TRUE(Invoke("python", "{\"n\": 2}", &out).ok());
  EXPECT_THAT(out, HasSubstr("\"runtime\": \"python\""));
  grpc::Status s = Invoke("python", "{\"fail\": \"no good\"}");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_THAT(s.error_message(), HasSubstr("ValueError"));
  EXPECT_THAT(s.error_message(), HasSubstr("no good"));
  EXPECT_THAT(Metrics(), HasSubstr("sluice_cold_starts_total{function=\"shell\"} 1"));

  // A bundle without a bootstrap is refused at deploy.
  v1::DeployResponse deployed;
  spec.set_name("broken");
  s = testing::Deploy(*functions_, spec, "plain text, not a bundle", &deployed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ExecutorsTest, NothingLeaksAfterAThousandInvocationsWithCrashes) {
  v1::FunctionSpec spec;
  spec.set_concurrency(4);
  spec.mutable_idle_timeout()->set_seconds(1);
  DeployOk("crash", "crash", spec);
  const int fds_before = OpenFds(server_->pid());

  std::atomic<int> crashes{0}, ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const bool crash = i % 25 == t;  // 10 crashes per thread
        grpc::Status s = Invoke("crash", crash ? "segv" : "fine");
        if (crash && s.error_code() == grpc::StatusCode::UNKNOWN) ++crashes;
        if (!crash && s.ok()) ++ok;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(crashes.load(), 40);
  EXPECT_EQ(ok.load(), 960);

  // Up to four workers stay warm; none of the crashed ones is a zombie.
  Children children = ChildrenOf(server_->pid());
  EXPECT_EQ(children.zombies, 0);
  EXPECT_LE(children.alive, 4);
  // Once the idle workers are reaped, the server is back to the descriptors
  // it had before the first worker started: 40 crashes and 1000 attempts
  // left nothing behind.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        children = ChildrenOf(server_->pid());
        return children.alive == 0 && children.zombies == 0;
      },
      absl::Seconds(30)));
  EXPECT_LE(OpenFds(server_->pid()), fds_before + 2);
}

TEST(RelativeDataDirTest, WorkersRunWhenTheDataDirIsGivenRelative) {
  const std::string dir = testing::MakeTempDir();
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  auto server = ServerProcess::Start("./data");
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(server.ok()) << server.status();
  auto functions = v1::Functions::NewStub((*server)->Channel());
  auto invocations = v1::Invocations::NewStub((*server)->Channel());
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions, "echo", "echo", &deployed).ok());
  v1::FunctionSpec exec;
  exec.set_name("upper");
  exec.set_runtime(v1::RUNTIME_EXEC);
  ASSERT_TRUE(testing::Deploy(*functions, exec, "#!/bin/sh\ntr a-z A-Z\n", &deployed).ok());
  for (const auto& [function, want] :
       {std::pair<std::string, std::string>{"echo", "abc"}, {"upper", "ABC"}}) {
    grpc::ClientContext context;
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload("abc");
    v1::InvokeResponse response;
    grpc::Status s = invocations->Invoke(&context, request, &response);
    ASSERT_TRUE(s.ok()) << function << ": " << s.error_message();
    EXPECT_EQ(response.output(), want);
  }
  server->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
