// ServerProcess: a real `sluice serve` child process for integration tests,
// bound to port 0 with its own data dir.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace sluice::testing {

// BinaryDir is the build directory (SLUICE_BINARY_DIR, set by CTest).
std::string BinaryDir();
// SourceDir is the source tree (SLUICE_SOURCE_DIR, set by CTest).
std::string SourceDir();
// ExamplePath is the built example function `name` (e.g. "echo").
std::string ExamplePath(const std::string& name);
// ReadFileOrDie returns the contents of `path`.
std::string ReadFileOrDie(const std::string& path);
// MakeTempDir creates a fresh directory for one test.
std::string MakeTempDir();

// WaitFor polls `condition` every few milliseconds until it holds or
// `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// ServerProcess is not thread-safe. The destructor kills the process.
class ServerProcess {
 public:
  // Start runs `sluice serve` on `data_dir` with `extra_args` and waits until
  // it serves, with `env` ("K=V") added to this process's environment and,
  // when `stderr_path` is set, its standard error written to that file.
  // Fails if it exits or is not ready within 30 seconds.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& data_dir, const std::vector<std::string>& extra_args = {},
      const std::vector<std::string>& env = {}, const std::string& stderr_path = "");
  ~ServerProcess();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }
  std::shared_ptr<grpc::Channel> Channel() const;

  // Kill sends SIGKILL and reaps the process.
  void Kill();
  // Stop sends SIGTERM and returns the exit status from waitpid.
  int Stop();
  // Signal sends `signal` to the server and returns at once.
  void Signal(int signal);
  // Wait reaps the server and returns its wait status, or nullopt if it is
  // still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

// HttpGet fetches http://127.0.0.1:`port``path` and returns the body;
// an error when the connection fails or the status is not 200.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// RunResult is what a finished command printed and how it exited.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// RunCommand runs `argv` with `stdin_data` on its standard input and the
// extra environment `env` ("K=V"), and waits for it.
RunResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data = "",
                     const std::vector<std::string>& env = {});

}  // namespace sluice::testing
