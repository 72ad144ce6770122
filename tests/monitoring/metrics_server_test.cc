// Tests of MetricsServer over real TCP sockets, checking the served text with
// promtool when it is installed.
#include "monitoring/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "monitoring/invocation_probe.h"
#include "prometheus/registry.h"

extern char** environ;

namespace sluice {
namespace {

using ::testing::HasSubstr;

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// A socket connected to 127.0.0.1:`port`, with send and receive timeouts so
// a broken server fails the test instead of hanging it.
absl::StatusOr<std::unique_ptr<Fd>> ConnectToLocalhost(int port) {
  auto fd = std::make_unique<Fd>(socket(AF_INET, SOCK_STREAM, 0));
  if (fd->get() < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  const timeval timeout = absl::ToTimeval(absl::Seconds(10));
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(absl::StrCat("connect: ", strerror(errno)));
  }
  return fd;
}

// Sends a blocking HTTP/1.0 GET for `path` to 127.0.0.1:`port` and reads the
// response until the server closes the connection.
absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  absl::StatusOr<std::unique_ptr<Fd>> fd = ConnectToLocalhost(port);
  if (!fd.ok()) return fd.status();
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send((*fd)->get(), request.data() + sent, request.size() - sent, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("send: ", strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv((*fd)->get(), buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("recv: ", strerror(errno)));
    if (n == 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  const size_t header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return absl::InternalError(absl::StrCat("no end of headers in: ", raw));
  }
  // Status line: "HTTP/1.x 200 OK".
  std::vector<std::string> status_line =
      absl::StrSplit(raw.substr(0, raw.find("\r\n")), absl::MaxSplits(' ', 2));
  HttpResponse response;
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::InternalError(absl::StrCat("bad status line in: ", raw));
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

// The path of executable `name` found in $PATH; nullopt when there is none.
std::optional<std::string> FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally.
  std::string output;  // stdout and stderr, interleaved.
};

// Runs `argv` (argv[0] a path) with `input` on stdin and returns its exit code
// and combined output.
absl::StatusOr<CommandResult> RunWithInput(const std::vector<std::string>& argv,
                                           const std::string& input) {
  // stdin comes from an unlinked temporary file, so writing the input cannot
  // block on a child that is busy writing its output.
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::tmpfile(), &std::fclose);
  if (in == nullptr) return absl::InternalError(absl::StrCat("tmpfile: ", strerror(errno)));
  if (std::fwrite(input.data(), 1, input.size(), in.get()) != input.size() ||
      std::fflush(in.get()) != 0 || std::fseek(in.get(), 0, SEEK_SET) != 0) {
    return absl::InternalError("cannot write the command's input");
  }
  int out[2];
  if (pipe(out) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd out_read(out[0]);
  auto out_write = std::make_unique<Fd>(out[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fileno(in.get()), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error =
      posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn: ", strerror(spawn_error)));
  }
  out_write.reset();  // So that reading ends when the child exits.

  CommandResult result;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(out_read.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  }
  if (WIFEXITED(wait_status)) result.exit_code = WEXITSTATUS(wait_status);
  return result;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
};

TEST_F(MetricsServerTest, PortZeroBindsAFreePort) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_LE((*server)->port(), 65535);
}

TEST_F(MetricsServerTest, ServesRegisteredMetricsOnGetMetrics) {
  InvocationProbe probe(*registry_);
  probe.OnEnqueued("echo");
  probe.OnEnqueued("echo");
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry_);
  ASSERT_TRUE(server.ok()) << server.status();

  absl::StatusOr<HttpResponse> response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->body, HasSubstr("# TYPE sluice_queue_depth gauge\n"));
  EXPECT_THAT(response->body, HasSubstr("sluice_queue_depth{function=\"echo\"} 2\n"));

  // Each scrape reads the registry afresh.
  probe.OnDropped("echo");
  response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->body, HasSubstr("sluice_queue_depth{function=\"echo\"} 1\n"));
}

TEST_F(MetricsServerTest, ServedTextPassesPromtoolCheck) {
  const std::optional<std::string> promtool = FindInPath("promtool");
  if (!promtool) GTEST_SKIP() << "promtool is not installed";

  InvocationProbe probe(*registry_);
  probe.OnEnqueued("echo");
  probe.OnStarted("echo", absl::Milliseconds(2));
  probe.OnFinished("echo", "success", absl::Milliseconds(40));
  probe.OnEnqueued("resize");
  probe.OnDropped("resize");
  probe.OnRejected("resize");
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<HttpResponse> response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->status, 200);
  ASSERT_THAT(response->body, HasSubstr("sluice_invocation_duration_seconds_bucket"));

  absl::StatusOr<CommandResult> check =
      RunWithInput({*promtool, "check", "metrics"}, response->body);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->exit_code, 0) << check->output;
  EXPECT_EQ(check->output, "") << "served text:\n" << response->body;
}

TEST_F(MetricsServerTest, AddressInUseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> first =
      MetricsServer::Start("127.0.0.1:0", registry_);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*first)->port());

  absl::StatusOr<std::unique_ptr<MetricsServer>> second = MetricsServer::Start(address, registry_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr(address));

  // The first server still serves.
  absl::StatusOr<HttpResponse> response = HttpGet((*first)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(MetricsServerTest, StopsListeningWhenDestroyed) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry_);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_TRUE(ConnectToLocalhost(port).ok());
  server->reset();
  EXPECT_FALSE(ConnectToLocalhost(port).ok());
}

TEST_F(MetricsServerTest, RejectsNullRegistryAndMalformedAddresses) {
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:0", nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("", registry_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:0,127.0.0.1:0", registry_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
