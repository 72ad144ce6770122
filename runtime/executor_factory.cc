#include "runtime/executor_factory.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/bundle.h"
#include "runtime/exec_executor.h"
#include "runtime/function_spec.h"
#include "runtime/lambda_worker.h"
#include "runtime/native_executor.h"
#include "runtime/native_worker.h"

namespace sluice {
namespace {

constexpr absl::Duration kInitTimeout = absl::Seconds(10);

std::vector<std::string> EnvOf(const v1::FunctionSpec& spec) {
  std::vector<std::string> env;
  for (const auto& [key, value] : spec.env()) env.push_back(absl::StrCat(key, "=", value));
  return env;
}

ProcessLimits LimitsOf(const v1::FunctionSpec& spec) {
  ProcessLimits limits;
  limits.memory_bytes = uint64_t{spec.memory_mb()} << 20;
  limits.open_files = spec.max_open_files();
  return limits;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class RuntimeExecutorFactory final : public ExecutorFactory {
 public:
  explicit RuntimeExecutorFactory(RuntimeExecutorOptions options) : options_(std::move(options)) {}

  absl::Status Validate(const v1::FunctionSpec& spec, const std::string& path) override {
    switch (spec.runtime()) {
      case v1::RUNTIME_NATIVE:
        if (spec.isolation() == v1::ISOLATION_NONE) {
          return LoadNativeFunction(path, spec.entry_point()).status();
        }
        return ValidateInWorker(spec, path);
      case v1::RUNTIME_LAMBDA:
      case v1::RUNTIME_EXEC: {
        absl::StatusOr<std::string> bytes = ReadAll(path);
        if (!bytes.ok()) return bytes.status();
        return ValidateLambdaArtifact(*bytes);
      }
      default:
        return absl::InvalidArgumentError("spec.runtime: unsupported");
    }
  }

  absl::StatusOr<std::shared_ptr<Executor>> Create(const v1::Function& function,
                                                   const std::string& artifact_path) override {
    const v1::FunctionSpec& spec = function.spec();
    if (spec.runtime() == v1::RUNTIME_NATIVE && spec.isolation() == v1::ISOLATION_NONE) {
      absl::StatusOr<std::unique_ptr<Executor>> loaded =
          LoadNativeFunction(artifact_path, spec.entry_point());
      if (!loaded.ok()) return loaded.status();
      return std::shared_ptr<Executor>(*std::move(loaded));
    }
    const std::string dir =
        absl::StrCat(options_.functions_dir, "/", spec.name(), "/", function.version());
    WorkerPoolEvents* events = options_.pool_events ? options_.pool_events(spec.name()) : nullptr;
    WorkerPoolOptions pool;
    pool.min_warm = spec.min_warm();
    pool.max_workers = spec.concurrency();
    pool.idle_timeout = IdleTimeoutOf(spec);

    if (spec.runtime() == v1::RUNTIME_NATIVE) {
      if (absl::Status s = MakeDir(dir); !s.ok()) return s;
      NativeWorkerOptions worker = NativeOptions(spec, artifact_path, dir);
      worker.function_version = function.version();
      return std::shared_ptr<Executor>(std::make_shared<WorkerPool>(
          pool,
          [worker]() -> absl::StatusOr<std::unique_ptr<Worker>> {
            absl::StatusOr<std::unique_ptr<NativeWorker>> w = NativeWorker::Start(worker);
            if (!w.ok()) return w.status();
            return std::unique_ptr<Worker>(*std::move(w));
          },
          events));
    }
    if (absl::Status s = PrepareTaskRoot(artifact_path, dir); !s.ok()) return s;
    if (spec.runtime() == v1::RUNTIME_EXEC) {
      ExecOptions exec;
      exec.program = dir + "/bootstrap";
      exec.working_dir = dir;
      exec.env = EnvOf(spec);
      exec.limits = LimitsOf(spec);
      exec.limits.cpu_seconds =
          static_cast<uint64_t>(absl::ToInt64Seconds(TimeoutOf(spec) + absl::Seconds(1))) + 1;
      exec.max_output_bytes = options_.max_payload_bytes;
      exec.function_name = spec.name();
      exec.function_version = function.version();
      exec.logs = options_.logs;
      exec.cgroup_root = options_.cgroup_root;
      return std::shared_ptr<Executor>(NewExecExecutor(std::move(exec)));
    }
    LambdaWorkerOptions lambda;
    lambda.task_root = dir;
    lambda.handler = spec.handler();
    lambda.function_name = spec.name();
    lambda.function_version = function.version();
    lambda.memory_mb = spec.memory_mb();
    lambda.env = EnvOf(spec);
    lambda.limits = LimitsOf(spec);
    lambda.max_payload_bytes = options_.max_payload_bytes;
    lambda.init_timeout = kInitTimeout;
    lambda.logs = options_.logs;
    lambda.cgroup_root = options_.cgroup_root;
    return std::shared_ptr<Executor>(std::make_shared<WorkerPool>(
        pool,
        [lambda]() -> absl::StatusOr<std::unique_ptr<Worker>> {
          absl::StatusOr<std::unique_ptr<LambdaWorker>> w = LambdaWorker::Start(lambda);
          if (!w.ok()) return w.status();
          return std::unique_ptr<Worker>(*std::move(w));
        },
        events));
  }

 private:
  static absl::Status MakeDir(const std::string& dir) {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error)
      return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", error.message()));
    return absl::OkStatus();
  }

  NativeWorkerOptions NativeOptions(const v1::FunctionSpec& spec, const std::string& artifact,
                                    const std::string& dir) const {
    NativeWorkerOptions worker;
    worker.worker_binary = options_.worker_binary;
    worker.artifact_path = artifact;
    worker.entry_point = spec.entry_point();
    worker.function_name = spec.name();
    worker.working_dir = dir;
    worker.env = EnvOf(spec);
    worker.limits = LimitsOf(spec);
    worker.cgroup_root = options_.cgroup_root;
    worker.init_timeout = kInitTimeout;
    worker.logs = options_.logs;
    return worker;
  }

  // ValidateInWorker loads the artifact in a throwaway worker process, so a
  // shared object that crashes while loading cannot take the server down.
  absl::Status ValidateInWorker(const v1::FunctionSpec& spec, const std::string& path) {
    NativeWorkerOptions worker = NativeOptions(spec, path, "/");
    worker.logs = nullptr;
    absl::StatusOr<std::unique_ptr<NativeWorker>> started = NativeWorker::Start(worker);
    if (started.ok()) return absl::OkStatus();
    if (absl::IsInvalidArgument(started.status())) return started.status();
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: the function failed while loading: ", started.status().message()));
  }

  const RuntimeExecutorOptions options_;
};

}  // namespace

std::unique_ptr<ExecutorFactory> NewRuntimeExecutorFactory(RuntimeExecutorOptions options) {
  return std::make_unique<RuntimeExecutorFactory>(std::move(options));
}

}  // namespace sluice
