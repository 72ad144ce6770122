// A real Prometheus server (/usr/bin/prometheus) scraping a real `sluice
// serve`: the counts it stores match the invocations made, the latency
// histogram gives a sane quantile, the target is up, and Sluice's alerting
// rules evaluate without errors on the real series.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago: Prometheus
// cannot report the port it bound, so the test picks one and retries the
// start when it is taken meanwhile.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// UrlEncode percent-encodes `s` for a URL query parameter.
std::string UrlEncode(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

// PrometheusProcess is a child /usr/bin/prometheus on 127.0.0.1 with its own
// storage, its output in a log file. Not thread-safe. The destructor stops
// it (SIGTERM, then SIGKILL if it does not exit), and the child is killed if
// the test process dies first.
class PrometheusProcess {
 public:
  // Start runs Prometheus with `config_path` on a free port and waits until
  // /-/ready answers; it retries on another port when the port was taken.
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(const std::string& config_path,
                                                                  const std::string& dir) {
    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::unique_ptr<PrometheusProcess> p(new PrometheusProcess());
      p->port_ = FreePort();
      if (p->port_ <= 0) return absl::InternalError("no free port");
      p->log_path_ = absl::StrCat(dir, "/prometheus-", attempt, ".log");
      const std::vector<std::string> args = {
          kPrometheus, "--config.file=" + config_path,
          absl::StrCat("--storage.tsdb.path=", dir, "/tsdb-", attempt),
          absl::StrCat("--web.listen-address=127.0.0.1:", p->port_), "--log.level=info"};
      p->pid_ = Spawn(args, p->log_path_);
      if (p->pid_ < 0) return absl::InternalError("fork failed");
      bool exited = false;
      const bool ready = testing::WaitFor(
          [&] {
            int status = 0;
            if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
              p->pid_ = -1;
              exited = true;
              return true;
            }
            return testing::HttpGet(p->port_, "/-/ready").ok();
          },
          absl::Seconds(30));
      if (ready && !exited) return p;
      why = absl::StrCat(
          exited ? "prometheus exited during start-up" : "prometheus was not ready within 30s",
          " on port ", p->port_, "; its log:\n", p->Log());
      // Only a port taken meanwhile is worth another try.
      if (p->Log().find("address already in use") == std::string::npos) break;
    }
    return absl::UnavailableError(why);
  }

  ~PrometheusProcess() { Stop(); }

  int port() const { return port_; }

  // Log is what Prometheus printed so far.
  std::string Log() const {
    std::ifstream in(log_path_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // Stop sends SIGTERM and reaps the process, with SIGKILL after 10 s.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    if (!testing::WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                          absl::Seconds(10))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

  // Query runs the instant query `promql` and returns the parsed response,
  // or an error when the request fails or Prometheus answers an error.
  absl::StatusOr<google::protobuf::Struct> Query(const std::string& promql) const {
    return GetJson("/api/v1/query?query=" + UrlEncode(promql));
  }

  absl::StatusOr<google::protobuf::Struct> GetJson(const std::string& path) const {
    absl::StatusOr<std::string> body = testing::HttpGet(port_, path);
    if (!body.ok()) return body.status();
    google::protobuf::Struct response;
    if (!google::protobuf::util::JsonStringToMessage(*body, &response).ok()) {
      return absl::InternalError("not JSON: " + *body);
    }
    if (response.fields().at("status").string_value() != "success") {
      return absl::InternalError("query failed: " + *body);
    }
    return response;
  }

 private:
  PrometheusProcess() = default;

  static pid_t Spawn(std::vector<std::string> args, const std::string& log_path) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: die with the test process, and log to the file.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// ScalarResult is the single sample of an instant-vector query result, or
// nullopt when the result is empty; an error when there are several.
absl::StatusOr<std::optional<double>> ScalarResult(const google::protobuf::Struct& response) {
  const auto& data = response.fields().at("data").struct_value().fields();
  const auto& result = data.at("result").list_value();
  if (result.values_size() == 0) return std::nullopt;
  if (result.values_size() > 1) return absl::InternalError("more than one series");
  // A sample is [<unix time>, "<value>"].
  const auto& sample = result.values(0).struct_value().fields().at("value").list_value();
  const std::string& text = sample.values(1).string_value();
  // Prometheus writes NaN and infinities as "NaN", "+Inf", "-Inf".
  if (text == "NaN") return std::nan("");
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  return std::stod(text);
}

class PrometheusTest : public testing::ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    ASSERT_NE(server_, nullptr);
    // Scrape every second; evaluate Sluice's alerting rules on the real
    // series every second too.
    const std::string rules = dir_ + "/sluice-alerts.yml";
    std::filesystem::copy_file(testing::SourceDir() + "/monitoring/prometheus/sluice-alerts.yml",
                               rules);
    const std::string config_path = dir_ + "/prometheus.yml";
    std::ofstream(config_path) << absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - )",
                                               rules, R"(
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ['127.0.0.1:)",
                                               server_->metrics_port(), R"(']
)");
    auto prometheus = PrometheusProcess::Start(config_path, dir_);
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = *std::move(prometheus);
  }

  void TearDown() override {
    prometheus_.reset();
    ServerTest::TearDown();
  }

  // Log is the Prometheus log, for failure messages.
  std::string Log() const {
    return prometheus_ == nullptr ? "" : "\nprometheus log:\n" + prometheus_->Log();
  }

  // Value is the single sample `promql` gives now; nullopt when the result
  // is empty or the query failed (the failure saved in last_error_).
  std::optional<double> Value(const std::string& promql) {
    absl::StatusOr<google::protobuf::Struct> response = prometheus_->Query(promql);
    if (!response.ok()) {
      last_error_ = response.status().ToString();
      return std::nullopt;
    }
    absl::StatusOr<std::optional<double>> value = ScalarResult(*response);
    if (!value.ok()) {
      last_error_ = value.status().ToString();
      return std::nullopt;
    }
    return *value;
  }

  // AwaitValue polls `promql` until it gives exactly `want` or 30 s pass;
  // returns the last value seen.
  std::optional<double> AwaitValue(const std::string& promql, double want) {
    std::optional<double> got;
    testing::WaitFor(
        [&] {
          got = Value(promql);
          return got.has_value() && *got == want;
        },
        absl::Seconds(30));
    return got;
  }

  grpc::Status Invoke(const std::string& function, const std::string& payload) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::InvokeRequest request;
    request.set_function(function);
    request.set_payload(payload);
    v1::InvokeResponse response;
    return invocations_->Invoke(&context, request, &response);
  }

  std::unique_ptr<PrometheusProcess> prometheus_;
  std::string last_error_;
};

TEST_F(PrometheusTest, StoresExactlyTheInvocationsMadeAndTheirLatency) {
  v1::DeployResponse deployed;
  for (const char* name : {"echo", "fail", "wordcount"}) {
    ASSERT_TRUE(testing::DeployExample(*functions_, name, name, &deployed).ok()) << name;
  }
  constexpr int kEchoes = 25, kFailures = 3, kAsyncWordcounts = 4;
  for (int i = 0; i < kEchoes; ++i) {
    const grpc::Status s = Invoke("echo", absl::StrCat("hello ", i));
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (int i = 0; i < kFailures; ++i) {
    const grpc::Status s = Invoke("fail", "x");
    ASSERT_FALSE(s.ok());
  }
  std::vector<std::string> ids(kAsyncWordcounts);
  for (std::string& id : ids) {
    ASSERT_TRUE(testing::InvokeAsync(*invocations_, "wordcount", "one two three", &id).ok());
  }
  for (const std::string& id : ids) {
    v1::Invocation inv;
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          return testing::GetInvocation(*invocations_, id, &inv).ok() &&
                 inv.state() == v1::SUCCEEDED;
        },
        absl::Seconds(30)))
        << id << " is " << v1::InvocationState_Name(inv.state());
  }

  const std::optional<double> echoes = AwaitValue(
      R"(sum(sluice_invocations_total{job="sluice",function="echo",outcome="success"}))", kEchoes);
  EXPECT_EQ(echoes, kEchoes) << last_error_ << Log();
  EXPECT_EQ(
      AwaitValue(R"(sum(sluice_invocations_total{function="fail",outcome="error"}))", kFailures),
      kFailures)
      << last_error_ << Log();
  EXPECT_EQ(AwaitValue(R"(sum(sluice_invocations_total{function="wordcount",outcome="success"}))",
                       kAsyncWordcounts),
            kAsyncWordcounts)
      << last_error_ << Log();
  // Nothing else was counted for these functions.
  EXPECT_EQ(Value(R"(sum(sluice_invocations_total{function=~"echo|fail|wordcount"}))"),
            kEchoes + kFailures + kAsyncWordcounts)
      << last_error_;
  EXPECT_EQ(Value(R"(sum(sluice_invocation_duration_seconds_count{function="echo"}))"), kEchoes)
      << last_error_;

  const std::optional<double> median = Value(
      R"(histogram_quantile(0.5, sum by (le) (sluice_invocation_duration_seconds_bucket{function="echo"})))");
  ASSERT_TRUE(median.has_value()) << last_error_ << Log();
  EXPECT_TRUE(std::isfinite(*median)) << *median;
  EXPECT_GT(*median, 0);
  // echo answers at once; its timeout is 10 s.
  EXPECT_LT(*median, 10) << *median;

  EXPECT_EQ(Value(R"(up{job="sluice"})"), 1) << last_error_ << Log();
}

TEST_F(PrometheusTest, AlertingRulesEvaluateWithoutErrorsOnRealSeries) {
  v1::DeployResponse deployed;
  ASSERT_TRUE(testing::DeployExample(*functions_, "fail", "fail", &deployed).ok());
  ASSERT_FALSE(Invoke("fail", "x").ok());
  ASSERT_EQ(AwaitValue(R"(sum(sluice_invocations_total{function="fail"}))", 1), 1)
      << last_error_ << Log();
  const absl::Time series_seen = absl::Now();
  // Every rule is then evaluated on the real series without an error:
  // health "ok" at an evaluation after the series were stored.
  std::string health;
  int rules = 0;
  const bool all_ok = testing::WaitFor(
      [&] {
        absl::StatusOr<google::protobuf::Struct> response = prometheus_->GetJson("/api/v1/rules");
        if (!response.ok()) {
          health = response.status().ToString();
          return false;
        }
        health.clear();
        rules = 0;
        bool ok = true;
        for (const auto& group : response->fields()
                                     .at("data")
                                     .struct_value()
                                     .fields()
                                     .at("groups")
                                     .list_value()
                                     .values()) {
          for (const auto& rule : group.struct_value().fields().at("rules").list_value().values()) {
            const auto& fields = rule.struct_value().fields();
            ++rules;
            const std::string h = fields.at("health").string_value();
            const std::string evaluated = fields.at("lastEvaluation").string_value();
            absl::StrAppend(
                &health, fields.at("name").string_value(), "=", h, " at ", evaluated,
                fields.contains("lastError") ? " " + fields.at("lastError").string_value() : "",
                "\n");
            absl::Time at;
            std::string error;
            if (h != "ok" || !absl::ParseTime(absl::RFC3339_full, evaluated, &at, &error) ||
                at < series_seen) {
              ok = false;
            }
          }
        }
        return ok && rules > 0;
      },
      absl::Seconds(30));
  EXPECT_TRUE(all_ok) << health << Log();
  EXPECT_EQ(rules, 8) << health;
}

}  // namespace
}  // namespace sluice
