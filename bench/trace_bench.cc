// trace_bench: what tracing costs. Sync Invoke throughput of the `echo`
// example on a server exporting every span (100% sampling, OTLP/gRPC to a
// collector) against the same server with tracing off, in one run.
//
//   trace_bench [--rounds N] [--seconds S] [--concurrency C] [--warmup S]
//
// Two real `sluice serve` children run side by side: "off" without
// OTEL_EXPORTER_OTLP_ENDPOINT (trace contexts are still made and handed to
// functions, no span is recorded), and "on" with the endpoint of an OTLP
// receiver in this process and OTEL_TRACES_SAMPLER=always_on (three spans
// per call: the gateway call, the queue wait, the attempt). Rounds alternate
// off, on, off, on, ...; each drives its server with a closed loop of C
// outstanding Invoke calls for `warmup` seconds, then counts answers for S
// seconds. Figures are medians over rounds; the ratio is on / off. It finds
// the server and the example next to itself: <build>/sluice and
// <build>/functions/libecho.so.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/functions.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/support/otlp_receiver.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using bench::BuildDir;
using bench::Die;
using bench::Median;
using bench::Metrics;

struct Args {
  int rounds = 5;
  double seconds = 5;
  double warmup = 1;
  int concurrency = 16;
};

void DeployEcho(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Functions::NewStub(channel);
  const std::string artifact = testing::ReadFileOrDie(BuildDir() + "/functions/libecho.so");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::DeployResponse response;
  auto writer = stub->Deploy(&context, &response);
  v1::DeployRequest first;
  v1::FunctionSpec& spec = *first.mutable_spec()->mutable_spec();
  spec.set_name("echo");
  spec.set_runtime(v1::RUNTIME_NATIVE);
  spec.set_concurrency(16);
  spec.set_max_queue(100000);
  first.mutable_spec()->set_artifact_size(artifact.size());
  writer->Write(first);
  v1::DeployRequest chunk;
  chunk.set_chunk(artifact);
  writer->Write(chunk);
  writer->WritesDone();
  if (grpc::Status s = writer->Finish(); !s.ok()) Die("deploy echo: " + s.error_message());
}

// InvokeLoop keeps `concurrency` sync Invoke calls of "echo" outstanding
// until Stop(); it counts answers and keeps their latencies. Thread-safe.
class InvokeLoop {
 public:
  InvokeLoop(std::shared_ptr<grpc::Channel> channel, int concurrency)
      : stub_(v1::Invocations::NewStub(std::move(channel))) {
    request_.set_function("echo");
    request_.set_payload("hello");
    {
      absl::MutexLock lock(&mu_);
      outstanding_ = concurrency;
    }
    for (int i = 0; i < concurrency; ++i) Issue();
  }
  ~InvokeLoop() { Stop(); }

  uint64_t answers() const { return answers_.load(); }
  uint64_t errors() const { return errors_.load(); }

  // Latencies returns the latencies recorded since the last call, and
  // starts a new record.
  std::vector<absl::Duration> TakeLatencies() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return std::exchange(latencies_, {});
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.Await(absl::Condition(
        +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::InvokeResponse response;
    absl::Time start;
  };

  void Issue() ABSL_LOCKS_EXCLUDED(mu_) {
    auto* call = new Call();
    call->start = absl::Now();
    call->context.set_deadline(absl::ToChronoTime(call->start + absl::Seconds(30)));
    stub_->async()->Invoke(&call->context, &request_, &call->response,
                           [this, call](grpc::Status s) { Done(call, s); });
  }

  void Done(Call* call, const grpc::Status& s) ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Duration latency = absl::Now() - call->start;
    delete call;
    (s.ok() ? answers_ : errors_).fetch_add(1);
    {
      absl::MutexLock lock(&mu_);
      if (s.ok()) latencies_.push_back(latency);
      if (stopping_) {
        --outstanding_;
        return;
      }
    }
    Issue();
  }

  const std::unique_ptr<v1::Invocations::Stub> stub_;
  v1::InvokeRequest request_;  // constant after construction
  std::atomic<uint64_t> answers_{0};
  std::atomic<uint64_t> errors_{0};
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> latencies_ ABSL_GUARDED_BY(mu_);
};

struct Round {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

Round Drive(const std::shared_ptr<grpc::Channel>& channel, const Args& args) {
  InvokeLoop loop(channel, args.concurrency);
  absl::SleepFor(absl::Seconds(args.warmup));
  loop.TakeLatencies();
  const uint64_t n0 = loop.answers();
  const absl::Time t0 = absl::Now();
  absl::SleepFor(absl::Seconds(args.seconds));  // the measured window
  const uint64_t n1 = loop.answers();
  const absl::Time t1 = absl::Now();
  std::vector<absl::Duration> latencies = loop.TakeLatencies();
  loop.Stop();
  if (loop.errors() > 0) std::fprintf(stderr, "  %lu errors\n", loop.errors());
  std::sort(latencies.begin(), latencies.end());
  Round r;
  r.per_second = static_cast<double>(n1 - n0) / absl::ToDoubleSeconds(t1 - t0);
  if (!latencies.empty()) {
    r.p50_us = absl::ToDoubleMicroseconds(latencies[latencies.size() / 2]);
    r.p99_us = absl::ToDoubleMicroseconds(latencies[latencies.size() * 99 / 100]);
  }
  return r;
}

std::unique_ptr<testing::ServerProcess> StartServer(const std::string& dir,
                                                    const std::vector<std::string>& env) {
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start(dir, {}, env, dir + ".log");
  if (!server.ok()) Die(absl::StrCat("cannot start sluice serve: ", server.status().ToString()));
  return *std::move(server);
}

int Main(const Args& args) {
  // The server processes are started from the build tree this binary is in.
  setenv("SLUICE_BINARY_DIR", BuildDir().c_str(), /*overwrite=*/0);
  absl::StatusOr<std::unique_ptr<testing::OtlpReceiver>> receiver =
      testing::OtlpReceiver::Start(/*keep=*/false);
  if (!receiver.ok()) Die(receiver.status().ToString());
  const std::string dir = testing::MakeTempDir();
  std::unique_ptr<testing::ServerProcess> off = StartServer(dir + "/off", {});
  std::unique_ptr<testing::ServerProcess> on = StartServer(
      dir + "/on",
      {"OTEL_EXPORTER_OTLP_ENDPOINT=" + (*receiver)->endpoint(), "OTEL_TRACES_SAMPLER=always_on"});
  const std::shared_ptr<grpc::Channel> off_channel = off->Channel();
  const std::shared_ptr<grpc::Channel> on_channel = on->Channel();
  DeployEcho(off_channel);
  DeployEcho(on_channel);

  std::printf("sync Invoke of echo (native, worker process), concurrency %d, %d rounds of %gs\n",
              args.concurrency, args.rounds, args.seconds);
  std::printf("%-6s %-10s %12s %10s %10s\n", "round", "tracing", "calls/s", "p50 us", "p99 us");
  std::vector<double> off_qps, on_qps, off_p50, on_p50, off_p99, on_p99, ratios;
  for (int round = 1; round <= args.rounds; ++round) {
    const Round a = Drive(off_channel, args);
    const Round b = Drive(on_channel, args);
    std::printf("%-6d %-10s %12.0f %10.0f %10.0f\n", round, "off", a.per_second, a.p50_us,
                a.p99_us);
    std::printf("%-6d %-10s %12.0f %10.0f %10.0f\n", round, "100%", b.per_second, b.p50_us,
                b.p99_us);
    off_qps.push_back(a.per_second);
    on_qps.push_back(b.per_second);
    off_p50.push_back(a.p50_us);
    on_p50.push_back(b.p50_us);
    off_p99.push_back(a.p99_us);
    on_p99.push_back(b.p99_us);
    ratios.push_back(b.per_second / a.per_second);
  }
  const Metrics metrics(*testing::HttpGet(on->metrics_port(), "/metrics"));
  std::printf("\nmedians\n");
  std::printf("tracing off:   %8.0f calls/s  p50 %6.0f us  p99 %6.0f us\n", Median(off_qps),
              Median(off_p50), Median(off_p99));
  std::printf("tracing 100%%:  %8.0f calls/s  p50 %6.0f us  p99 %6.0f us\n", Median(on_qps),
              Median(on_p50), Median(on_p99));
  std::printf("ratio (100%% / off), median of per-round ratios: %.3f\n", Median(ratios));
  std::printf("spans received by the collector: %zu; exported %s, dropped %s\n",
              (*receiver)->span_count(),
              absl::StrCat(metrics.Sum("sluice_spans_exported_total").value_or(-1)).c_str(),
              absl::StrCat(metrics.Sum("sluice_spans_dropped_total").value_or(-1)).c_str());
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  sluice::Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    bool ok = false;
    if (flag == "--rounds") ok = absl::SimpleAtoi(value, &args.rounds);
    if (flag == "--seconds") ok = absl::SimpleAtod(value, &args.seconds);
    if (flag == "--warmup") ok = absl::SimpleAtod(value, &args.warmup);
    if (flag == "--concurrency") ok = absl::SimpleAtoi(value, &args.concurrency);
    if (!ok) sluice::bench::Die(absl::StrCat("bad flag ", flag, " ", value));
  }
  return sluice::Main(args);
}
