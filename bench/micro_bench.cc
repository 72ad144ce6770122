// micro_bench: Google Benchmark micro-benchmarks of the hot pieces of an
// invocation's path: the worker frame encode/decode, the dispatcher's
// enqueue-to-run hand-off, and the store's synced batch commit (alone and
// grouped).
//
//   micro_bench [--benchmark_filter=REGEX] [--benchmark_repetitions=N]
//               [--benchmark_report_aggregates_only=true]
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "benchmark/benchmark.h"
#include "monitoring/invocation_probe.h"
#include "prometheus/registry.h"
#include "runtime/clock.h"
#include "runtime/dispatcher.h"
#include "runtime/frames.h"
#include "runtime/group_committer.h"
#include "runtime/ids.h"
#include "runtime/rocksdb_store.h"
#include "sluice/internal/worker.pb.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

// A WorkRequest as an attempt of `payload_bytes` sends it to a worker.
internal::WorkRequest Work(size_t payload_bytes) {
  internal::WorkRequest work;
  work.set_invocation_id("inv_0190a5c4e2b87f3c9d1e2f3a4b5c6d7e");
  work.set_function_name("echo");
  work.set_function_version(3);
  work.set_attempt(1);
  work.set_deadline_unix_ms(1795821000123);
  work.set_payload(std::string(payload_bytes, 'x'));
  work.set_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  return work;
}

// Frame round trip: WriteFrame on one end of a socketpair, FrameReader on the
// other, as the executor and a native worker exchange them.
void BM_FrameRoundTrip(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const internal::WorkRequest work = Work(static_cast<size_t>(state.range(0)));
  internal::WorkRequest read;
  FrameReader reader(fds[1]);
  for (auto _ : state) {
    if (!WriteFrame(fds[0], work).ok() || !reader.Read(read).ok()) {
      state.SkipWithError("frame failed");
      break;
    }
    benchmark::DoNotOptimize(read);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(work.ByteSizeLong()));
  close(fds[0]);
  close(fds[1]);
}
BENCHMARK(BM_FrameRoundTrip)->Arg(100)->Arg(64 * 1024);

// Dispatcher: Submit a task and wait until it has run on a dispatcher
// thread (the sync path's enqueue, wake-up and dequeue).
void BM_DispatcherSubmitToRun(benchmark::State& state) {
  prometheus::Registry registry;
  InvocationProbe probe(registry);
  Dispatcher dispatcher(DispatcherOptions{.threads = 2}, &probe, Clock::Real());
  const QueueLimits limits{.concurrency = 8, .max_queue = 100000};
  for (auto _ : state) {
    absl::Notification ran;
    if (!dispatcher.Submit("echo", limits, Task{[&ran] { ran.Notify(); }, nullptr}).ok()) {
      state.SkipWithError("submit refused");
      break;
    }
    ran.WaitForNotification();
  }
  dispatcher.Shutdown();
}
BENCHMARK(BM_DispatcherSubmitToRun)->UseRealTime();

// Dispatcher throughput: `range(0)` tasks over 16 functions submitted at
// once, timed until all ran.
void BM_DispatcherBurst(benchmark::State& state) {
  prometheus::Registry registry;
  InvocationProbe probe(registry);
  Dispatcher dispatcher(DispatcherOptions{.threads = 2}, &probe, Clock::Real());
  const QueueLimits limits{.concurrency = 8, .max_queue = 1000000};
  const int64_t n = state.range(0);
  const std::vector<std::string> functions = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7",
                                              "f8", "f9", "fa", "fb", "fc", "fd", "fe", "ff"};
  for (auto _ : state) {
    std::atomic<int64_t> left{n};
    absl::Notification all;
    for (int64_t i = 0; i < n; ++i) {
      (void)dispatcher.Submit(functions[i % functions.size()], limits,
                              Task{[&left, &all] {
                                     if (left.fetch_sub(1) == 1) all.Notify();
                                   },
                                   nullptr});
    }
    all.WaitForNotification();
  }
  state.SetItemsProcessed(state.iterations() * n);
  dispatcher.Shutdown();
}
BENCHMARK(BM_DispatcherBurst)->Arg(10000)->UseRealTime();

// A record as InvokeAsync writes it.
v1::Invocation Record(size_t payload_bytes) {
  v1::Invocation record;
  record.set_id(NewInvocationId(absl::Now()));
  record.set_function("echo");
  record.set_state(v1::PENDING);
  record.set_payload(std::string(payload_bytes, 'x'));
  return record;
}

// Store commit: one synced batch of one invocation record per commit, with
// `range(1)` committers submitting at once (group commit merges them).
void BM_StoreGroupCommit(benchmark::State& state) {
  const std::string dir = testing::MakeTempDir();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(dir + "/db");
  if (!store.ok()) {
    state.SkipWithError("cannot open the store");
    return;
  }
  const size_t payload = static_cast<size_t>(state.range(0));
  const int writers = static_cast<int>(state.range(1));
  {
    GroupCommitter committer(store->get());
    for (auto _ : state) {
      std::atomic<int> left{writers};
      absl::Notification all;
      for (int w = 0; w < writers; ++w) {
        WriteBatch batch;
        batch.PutInvocation(Record(payload));
        committer.Submit(std::move(batch), [&left, &all](absl::Status) {
          if (left.fetch_sub(1) == 1) all.Notify();
        });
      }
      all.WaitForNotification();
    }
    state.SetItemsProcessed(state.iterations() * writers);
    state.counters["fsyncs_per_batch"] = benchmark::Counter(
        static_cast<double>(committer.commits()) / (state.iterations() * writers));
  }
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_StoreGroupCommit)
    ->Args({100, 1})
    ->Args({100, 64})
    ->Args({64 * 1024, 1})
    ->Args({64 * 1024, 64})
    ->UseRealTime();

}  // namespace
}  // namespace sluice

BENCHMARK_MAIN();
