// runtime_bench: what each runtime adds to a warm invocation, against the
// same function run in-process, and what a cold start costs, against a bare
// fork+exec+wait of the same binary, all measured in one run.
//
//   runtime_bench [--rounds N] [--calls N] [--starts N]
//
// Each figure is the median over rounds (each round: `calls` warm
// invocations, or `starts` cold starts); ratios divide by the baseline's
// median of the same run. Run from the build directory.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "runtime/executor_factory.h"
#include "runtime/function_spec.h"
#include "runtime/native_worker.h"

namespace sluice {
namespace {

using bench::BuildDir;
using bench::Median;

struct Args {
  int rounds = 7;
  int calls = 2000;
  int starts = 30;
};

// PerCall times `calls` calls of `call` and returns microseconds per call.
double PerCall(int calls, const std::function<void()>& call) {
  const absl::Time start = absl::Now();
  for (int i = 0; i < calls; ++i) call();
  return absl::ToDoubleMicroseconds(absl::Now() - start) / calls;
}

// WarmMicros returns the median microseconds of one warm call of `executor`.
double WarmMicros(Executor& executor, const Args& args, int calls,
                  const std::string& payload = "hello") {
  ExecutionRequest request;
  request.invocation_id = "inv_bench";
  request.function_name = "bench";
  request.payload = payload;
  for (int i = 0; i < 3; ++i) executor.Execute(request);  // warm up
  std::vector<double> rounds;
  for (int r = 0; r < args.rounds; ++r) {
    rounds.push_back(PerCall(calls, [&] {
      ExecutionResult result = executor.Execute(request);
      if (!result.ok) {
        std::fprintf(stderr, "call failed: %s: %s\n", result.error_type.c_str(),
                     result.error_message.c_str());
        std::exit(1);
      }
    }));
  }
  return Median(rounds);
}

// MakeFunction describes version 1 of function `name`; each executor gets a
// name of its own, and so a working directory of its own.
v1::Function MakeFunction(const std::string& name, v1::Runtime runtime, v1::Isolation isolation) {
  v1::Function f;
  f.mutable_spec()->set_name(name);
  f.mutable_spec()->set_runtime(runtime);
  f.mutable_spec()->set_isolation(isolation);
  f.mutable_spec()->set_concurrency(1);
  if (!NormalizeFunctionSpec(*f.mutable_spec()).ok()) std::exit(2);
  f.set_version(1);
  return f;
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) args.rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--calls") == 0) args.calls = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--starts") == 0) args.starts = std::atoi(argv[i + 1]);
  }
  const std::string build = BuildDir();
  const std::string sluice = build + "/sluice";
  const std::string echo = build + "/functions/libecho.so";
  const std::string work = std::filesystem::temp_directory_path() / "sluice-bench";
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work);
  const std::string cat_script = work + "/cat.sh";
  std::ofstream(cat_script) << "#!/bin/sh\nexec cat\n";
  std::filesystem::permissions(cat_script, std::filesystem::perms::owner_all);

  std::unique_ptr<ExecutorFactory> factory =
      NewRuntimeExecutorFactory({.worker_binary = sluice,
                                 .functions_dir = work + "/functions",
                                 .cgroup_root = "",
                                 .max_payload_bytes = 6 << 20,
                                 .logs = nullptr,
                                 .pool_events = nullptr});
  auto in_process =
      factory->Create(MakeFunction("in-process", v1::RUNTIME_NATIVE, v1::ISOLATION_NONE), echo);
  auto worker =
      factory->Create(MakeFunction("worker", v1::RUNTIME_NATIVE, v1::ISOLATION_PROCESS), echo);
  auto exec =
      factory->Create(MakeFunction("exec", v1::RUNTIME_EXEC, v1::ISOLATION_PROCESS), cat_script);
  v1::Function lambda_function = MakeFunction("lambda", v1::RUNTIME_LAMBDA, v1::ISOLATION_PROCESS);
  lambda_function.mutable_spec()->set_handler("function.handler");
  auto lambda = factory->Create(lambda_function, build + "/functions/lambda-python.tar.gz");
  if (!in_process.ok() || !worker.ok() || !exec.ok() || !lambda.ok()) {
    std::fprintf(stderr, "cannot create executors\n");
    return 1;
  }
  std::printf("warm invocation, median of %d rounds, microseconds per call\n", args.rounds);
  const double base = WarmMicros(**in_process, args, args.calls);
  std::printf("  %-28s %10.2f us  %8.2fx\n", "native, in-process (base)", base, 1.0);
  const double w = WarmMicros(**worker, args, args.calls);
  std::printf("  %-28s %10.2f us  %8.2fx\n", "native, worker process", w, w / base);
  const double l = WarmMicros(**lambda, args, std::max(1, args.calls / 4), "\"hello\"");
  std::printf("  %-28s %10.2f us  %8.2fx\n", "lambda (python bootstrap)", l, l / base);
  const double e = WarmMicros(**exec, args, std::max(1, args.calls / 20));
  std::printf("  %-28s %10.2f us  %8.2fx\n", "exec (process per call)", e, e / base);

  // Cold start: a native worker from fork to "function loaded", against a
  // bare fork+exec+wait of the same binary that exits at once.
  std::vector<double> bare_rounds, cold_rounds;
  for (int r = 0; r < args.rounds; ++r) {
    bare_rounds.push_back(PerCall(args.starts, [&] {
      const pid_t pid = fork();
      if (pid == 0) {
        execl(sluice.c_str(), sluice.c_str(), "worker", static_cast<char*>(nullptr));
        _exit(127);
      }
      int status = 0;
      waitpid(pid, &status, 0);
    }));
    NativeWorkerOptions options;
    options.worker_binary = sluice;
    options.artifact_path = echo;
    options.entry_point = kDefaultEntryPoint;
    options.function_name = "bench";
    cold_rounds.push_back(PerCall(args.starts, [&] {
      auto started = NativeWorker::Start(options);
      if (!started.ok()) std::exit(1);
    }));
  }
  const double bare = Median(bare_rounds);
  const double cold = Median(cold_rounds);
  std::printf("cold start, median of %d rounds, microseconds per start\n", args.rounds);
  std::printf("  %-28s %10.2f us  %8.2fx\n", "bare fork+exec+wait (base)", bare, 1.0);
  std::printf("  %-28s %10.2f us  %8.2fx\n", "native worker ready", cold, cold / bare);
  std::filesystem::remove_all(work);
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) { return sluice::Main(argc, argv); }
