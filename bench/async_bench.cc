// async_bench: what a durable InvokeAsync acknowledgement costs, against a
// bare gRPC server that answers the same call at once without touching a
// disk, both measured in one run; and how fast the queue then runs what it
// acknowledged.
//
//   async_bench [--rounds N] [--seconds S] [--concurrency C] [--e2e-count M]
//               [--warmup S]
//
// Rounds alternate: bare, sluice, bare, sluice, ... Each round drives its
// server with a closed loop of C outstanding InvokeAsync calls on one
// channel for `warmup` seconds, then counts acknowledgements for S seconds.
// The sluice server is a real `sluice serve` child (fresh data dir) running
// the `echo` example; its /metrics are read around each round to count store
// commits (fsyncs) and the batches they merged. After each sluice round the
// bench waits until the queue has run everything it acknowledged, so rounds
// do not overlap; then `e2e-count` invocations are enqueued as fast as
// possible and timed until all have SUCCEEDED (end to end). Each figure is
// the median over rounds. It finds the server and the example next to
// itself: <build>/sluice and <build>/functions/libecho.so.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bare_invocations.h"
#include "bench/bench_util.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/functions.grpc.pb.h"
#include "sluice/v1/invocations.grpc.pb.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using bench::BareInvocations;
using bench::BuildDir;
using bench::Die;
using bench::Median;
using bench::Metrics;
using testing::HttpGet;

// The echo function's concurrency: enough workers to keep a 2-core machine
// busy without starting a process per outstanding call.
constexpr int kFunctionConcurrency = 16;

struct Args {
  int rounds = 5;
  double seconds = 5;
  double warmup = 1;
  int concurrency = 64;
  int e2e_count = 5000;
};

// ---------------------------------------------------------------------------
// The baseline: InvokeAsync answered at once with a fresh id, nothing stored.

// BareServer runs BareInvocations on 127.0.0.1 (port 0) in this process.
class BareServer {
 public:
  BareServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) Die("cannot start the bare gRPC server");
  }
  ~BareServer() { server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1))); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  BareInvocations service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// ---------------------------------------------------------------------------
// The real server: a `sluice serve` child process.

// SluiceServer owns a `sluice serve` child on a fresh data dir. Not
// thread-safe. The destructor stops the child and removes the data dir.
class SluiceServer {
 public:
  SluiceServer() {
    setenv("SLUICE_BINARY_DIR", BuildDir().c_str(), /*overwrite=*/0);
    dir_ = testing::MakeTempDir();
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
        testing::ServerProcess::Start(dir_ + "/data");
    if (!server.ok()) Die("cannot start sluice serve: " + server.status().ToString());
    server_ = *std::move(server);
  }

  ~SluiceServer() {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string address() const { return server_->address(); }

  // RssMib is the server's resident memory (VmRSS) in MiB, or -1.
  double RssMib() const {
    std::ifstream status(absl::StrCat("/proc/", server_->pid(), "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    }
    return -1;
  }

  Metrics Scrape() const {
    absl::StatusOr<std::string> text = HttpGet(server_->metrics_port(), "/metrics");
    if (!text.ok()) Die(absl::StrCat("cannot read /metrics: ", text.status().ToString()));
    return Metrics(*text);
  }

 private:
  std::string dir_;
  std::unique_ptr<testing::ServerProcess> server_;
};

// DeployEcho deploys the `echo` example as function "echo".
void DeployEcho(grpc::Channel& channel, int concurrency) {
  auto stub = v1::Functions::NewStub(std::shared_ptr<grpc::Channel>(&channel, [](auto*) {}));
  std::ifstream in(BuildDir() + "/functions/libecho.so", std::ios::binary);
  if (!in) Die("cannot read functions/libecho.so (build the echo target)");
  const std::string artifact(std::istreambuf_iterator<char>(in), {});
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::DeployResponse response;
  auto writer = stub->Deploy(&context, &response);
  v1::DeployRequest first;
  v1::FunctionSpec& spec = *first.mutable_spec()->mutable_spec();
  spec.set_name("echo");
  spec.set_runtime(v1::RUNTIME_NATIVE);
  spec.set_concurrency(concurrency);
  spec.set_max_queue(1000000);
  first.mutable_spec()->set_artifact_size(artifact.size());
  writer->Write(first);
  constexpr size_t kChunk = 512 * 1024;
  for (size_t off = 0; off < artifact.size(); off += kChunk) {
    v1::DeployRequest part;
    part.set_chunk(artifact.substr(off, kChunk));
    if (!writer->Write(part)) break;
  }
  writer->WritesDone();
  const grpc::Status s = writer->Finish();
  if (!s.ok()) Die("deploy echo: " + s.error_message());
}

// ---------------------------------------------------------------------------
// The closed-loop client.

// ClosedLoop keeps `concurrency` InvokeAsync calls of "echo" outstanding on
// one channel until Stop(), or until `limit` calls were acknowledged (0: no
// limit); failed calls are counted and replaced. Thread-safe. The destructor
// stops it.
class ClosedLoop {
 public:
  ClosedLoop(std::shared_ptr<grpc::Channel> channel, int concurrency, uint64_t limit = 0)
      : stub_(v1::Invocations::NewStub(std::move(channel))), limit_(limit) {
    request_.set_function("echo");
    request_.set_payload("hello");
    for (int i = 0; i < concurrency; ++i) {
      bool start = false;
      {
        absl::MutexLock lock(&mu_);
        start = Admit();
      }
      if (start) Issue();
    }
  }
  ~ClosedLoop() { Stop(); }

  uint64_t acks() const { return acks_.load(); }
  uint64_t errors() const { return errors_.load(); }
  std::string first_error() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

  // Stop issues no more calls and waits for the outstanding ones.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    mu_.Await(absl::Condition(
        +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  }

  // AwaitLimit waits until `limit` calls were acknowledged or `timeout`
  // passed; returns whether they were.
  bool AwaitLimit(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](int* outstanding) { return *outstanding == 0; }, &outstanding_),
        timeout);
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::InvokeAsyncResponse response;
  };

  // Admit reserves one more call; false when stopping or at the limit.
  bool Admit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stopping_ || (limit_ > 0 && started_ >= limit_)) return false;
    ++started_;
    ++outstanding_;
    return true;
  }

  // Issue starts one admitted call. Called without mu_ held, since gRPC may
  // run the callback on this thread.
  void Issue() ABSL_LOCKS_EXCLUDED(mu_) {
    auto* call = new Call();
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    stub_->async()->InvokeAsync(&call->context, &request_, &call->response,
                                [this, call](grpc::Status s) { Done(call, std::move(s)); });
  }

  void Done(Call* call, grpc::Status s) ABSL_LOCKS_EXCLUDED(mu_) {
    delete call;
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      if (s.ok()) {
        acks_.fetch_add(1);
      } else {
        errors_.fetch_add(1);
        if (first_error_.empty()) {
          first_error_ = absl::StrCat("code ", s.error_code(), ": ", s.error_message());
        }
        --started_;  // the limit counts acknowledgements
      }
      --outstanding_;
      again = Admit();
    }
    if (again) Issue();
  }

  const std::unique_ptr<v1::Invocations::Stub> stub_;
  const uint64_t limit_;
  v1::InvokeRequest request_;  // constant after construction
  std::atomic<uint64_t> acks_{0};
  std::atomic<uint64_t> errors_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
    Die("cannot connect to " + address);
  }
  return channel;
}

// Counters are the store and queue figures of one sluice round.
struct Counters {
  std::optional<double> commits;  // fsyncs
  std::optional<double> batches;
  double finished = 0;  // invocations of echo that ran to an end
  double succeeded = 0;
};

// fsync_metric is the metric that counts the store's fsyncs, picked once
// (older servers synced every commit and had no syncs counter).
std::string fsync_metric;

Counters Read(const SluiceServer& server) {
  const Metrics m = server.Scrape();
  Counters c;
  if (fsync_metric.empty()) {
    for (const char* name : {"sluice_store_syncs_total", "sluice_store_commits_total",
                             "sluice_store_commit_seconds_count"}) {
      if (m.Sum(name).has_value()) {
        fsync_metric = name;
        break;
      }
    }
  }
  if (!fsync_metric.empty()) c.commits = m.Sum(fsync_metric);
  c.batches = m.Sum("sluice_store_batches_total");
  c.finished = m.Sum("sluice_invocations_total", {"function=\"echo\""}).value_or(0);
  c.succeeded =
      m.Sum("sluice_invocations_total", {"function=\"echo\"", "outcome=\"success\""}).value_or(0);
  return c;
}

struct Round {
  double acks_per_second = 0;
  uint64_t total_acks = 0;  // warm-up and tail included
  uint64_t errors = 0;
  std::optional<double> commits_per_second;
  std::optional<double> batches_per_second;
};

// Drive runs one closed-loop round against `channel`; `scrape` (may be
// null) is called right before and after the measured window.
Round Drive(std::shared_ptr<grpc::Channel> channel, const Args& args,
            const std::function<Counters()>& scrape) {
  ClosedLoop loop(std::move(channel), args.concurrency);
  absl::SleepFor(absl::Seconds(args.warmup));
  Counters before, after;
  if (scrape) before = scrape();
  const uint64_t acks0 = loop.acks();
  const absl::Time t0 = absl::Now();
  absl::SleepFor(absl::Seconds(args.seconds));
  const uint64_t acks1 = loop.acks();
  const absl::Time t1 = absl::Now();
  if (scrape) after = scrape();
  loop.Stop();
  const double elapsed = absl::ToDoubleSeconds(t1 - t0);
  Round r;
  r.acks_per_second = static_cast<double>(acks1 - acks0) / elapsed;
  r.total_acks = loop.acks();
  r.errors = loop.errors();
  if (r.errors > 0) {
    std::fprintf(stderr, "  %lu errors, first: %s\n", r.errors, loop.first_error().c_str());
  }
  if (before.commits && after.commits) {
    r.commits_per_second = (*after.commits - *before.commits) / elapsed;
  }
  if (before.batches && after.batches) {
    r.batches_per_second = (*after.batches - *before.batches) / elapsed;
  }
  return r;
}

// AwaitFinished polls /metrics until `target` invocations of echo finished
// (outcome `success` only when `success_only`); returns when that happened
// or nullopt after `timeout`.
std::optional<absl::Time> AwaitFinished(const SluiceServer& server, double target,
                                        bool success_only, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const Counters c = Read(server);
    if ((success_only ? c.succeeded : c.finished) >= target) return absl::Now();
    absl::SleepFor(absl::Milliseconds(5));
  }
  return std::nullopt;
}

// Fmt prints `v` with `decimals` decimals, or "n/a".
std::string Fmt(std::optional<double> v, int decimals = 0) {
  return v ? absl::StrFormat("%.*f", decimals, *v) : "n/a";
}

// EndToEnd is one end-to-end round: `count` invocations enqueued as fast as
// the closed loop goes, then run until all SUCCEEDED.
struct EndToEnd {
  double enqueue_per_second = 0;
  double seconds = 0;  // from the first enqueue until the last success
  double per_second = 0;
};

EndToEnd RunEndToEnd(const SluiceServer& sluice, std::shared_ptr<grpc::Channel> channel,
                     const Args& args) {
  const double succeeded0 = Read(sluice).succeeded;
  const absl::Time start = absl::Now();
  ClosedLoop enqueue(std::move(channel), args.concurrency, args.e2e_count);
  if (!enqueue.AwaitLimit(absl::Seconds(600))) Die("end-to-end enqueue did not finish");
  const absl::Time enqueued = absl::Now();
  const std::optional<absl::Time> done =
      AwaitFinished(sluice, succeeded0 + args.e2e_count, true, absl::Seconds(600));
  if (!done) Die("end-to-end: not all invocations SUCCEEDED within 600s");
  EndToEnd e;
  e.enqueue_per_second = args.e2e_count / absl::ToDoubleSeconds(enqueued - start);
  e.seconds = absl::ToDoubleSeconds(*done - start);
  e.per_second = args.e2e_count / e.seconds;
  return e;
}

int Main(const Args& args) {
  BareServer bare;
  SluiceServer sluice;
  auto bare_channel = Connect(bare.address());
  auto sluice_channel = Connect(sluice.address());
  DeployEcho(*sluice_channel, kFunctionConcurrency);

  std::vector<double> bare_rates, sluice_rates, commit_rates, batch_rates, acks_per_commit,
      batches_per_commit, e2e_rates, e2e_enqueue_rates, e2e_seconds;
  double acked_total = Read(sluice).finished;
  uint64_t sluice_errors = 0;
  const double idle_rss = sluice.RssMib();
  double loaded_rss = idle_rss;
  for (int r = 0; r < args.rounds; ++r) {
    const Round b = Drive(bare_channel, args, nullptr);
    bare_rates.push_back(b.acks_per_second);

    const Round s = Drive(sluice_channel, args, [&] { return Read(sluice); });
    // Right after the window the queue still holds what was acknowledged
    // faster than it ran: the loaded footprint.
    loaded_rss = std::max(loaded_rss, sluice.RssMib());
    sluice_rates.push_back(s.acks_per_second);
    sluice_errors += s.errors;
    acked_total += s.total_acks;
    if (s.commits_per_second) {
      commit_rates.push_back(*s.commits_per_second);
      if (*s.commits_per_second > 0) {
        acks_per_commit.push_back(s.acks_per_second / *s.commits_per_second);
      }
    }
    if (s.batches_per_second) {
      batch_rates.push_back(*s.batches_per_second);
      if (s.commits_per_second && *s.commits_per_second > 0) {
        batches_per_commit.push_back(*s.batches_per_second / *s.commits_per_second);
      }
    }
    std::printf("round %d: bare %.0f acks/s, sluice %.0f acks/s, %s fsyncs/s, %s batches/s\n",
                r + 1, b.acks_per_second, s.acks_per_second, Fmt(s.commits_per_second).c_str(),
                Fmt(s.batches_per_second).c_str());
    std::fflush(stdout);
    // Let the queue run what this round acknowledged, so that rounds do not
    // overlap.
    const absl::Time drain_start = absl::Now();
    if (!AwaitFinished(sluice, acked_total, false, absl::Seconds(600))) {
      Die("the queue did not run what it acknowledged within 600s");
    }
    const double drained = absl::ToDoubleSeconds(absl::Now() - drain_start);
    const EndToEnd e = RunEndToEnd(sluice, sluice_channel, args);
    acked_total += args.e2e_count;
    e2e_rates.push_back(e.per_second);
    e2e_enqueue_rates.push_back(e.enqueue_per_second);
    e2e_seconds.push_back(e.seconds);
    std::printf(
        "  queue drained in %.2fs; end to end: %d enqueued at %.0f/s, all SUCCEEDED after "
        "%.2fs (%.0f/s)\n",
        drained, args.e2e_count, e.enqueue_per_second, e.seconds, e.per_second);
    std::fflush(stdout);
  }

  const double base = Median(bare_rates), durable = Median(sluice_rates);
  std::printf("\nInvokeAsync, closed loop, concurrency %d, %d rounds of %.1fs (medians):\n",
              args.concurrency, args.rounds, args.seconds);
  std::printf("| | acks/s | ratio |\n|---|---:|---:|\n");
  std::printf("| bare gRPC server, answers at once | %.0f | 1.00x (base) |\n", base);
  std::printf("| sluice serve, durable ack | %.0f | %.3fx |\n", durable, durable / base);
  std::printf("\nstore commits (%s): %s fsyncs/s for %.0f acks/s: %s acks per fsync",
              fsync_metric.empty() ? "metric absent" : fsync_metric.c_str(),
              commit_rates.empty() ? "n/a" : Fmt(Median(commit_rates)).c_str(), durable,
              acks_per_commit.empty() ? "n/a" : Fmt(Median(acks_per_commit), 2).c_str());
  std::printf("; batches: %s/s, %s batches per fsync\n",
              batch_rates.empty() ? "n/a" : Fmt(Median(batch_rates)).c_str(),
              batches_per_commit.empty() ? "n/a" : Fmt(Median(batches_per_commit), 2).c_str());
  std::printf("sluice errors during rounds: %lu\n", sluice_errors);
  std::printf(
      "sluice resident memory: %.1f MiB idle (echo deployed), %.1f MiB at most right "
      "after a round\n",
      idle_rss, loaded_rss);
  std::printf(
      "\nend to end, %d invocations per round (medians): enqueued at %.0f/s, all SUCCEEDED "
      "after %.2fs: %.0f invocations/s (%.3fx the bare ack rate)\n",
      args.e2e_count, Median(e2e_enqueue_rates), Median(e2e_seconds), Median(e2e_rates),
      Median(e2e_rates) / base);
  return 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  sluice::Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) sluice::bench::Die("missing value for " + flag);
      return argv[++i];
    };
    if (flag == "--rounds") {
      args.rounds = std::stoi(next());
    } else if (flag == "--seconds") {
      args.seconds = std::stod(next());
    } else if (flag == "--warmup") {
      args.warmup = std::stod(next());
    } else if (flag == "--concurrency") {
      args.concurrency = std::stoi(next());
    } else if (flag == "--e2e-count") {
      args.e2e_count = std::stoi(next());
    } else {
      sluice::bench::Die(
          "usage: async_bench [--rounds N] [--seconds S] [--warmup S] "
          "[--concurrency C] [--e2e-count M]");
    }
  }
  if (args.rounds < 1 || args.seconds <= 0 || args.concurrency < 1 || args.e2e_count < 1) {
    sluice::bench::Die("--rounds, --seconds, --concurrency and --e2e-count must be positive");
  }
  return sluice::Main(args);
}
