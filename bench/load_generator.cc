#include "bench/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "sluice/v1/invocations.grpc.pb.h"

namespace sluice::bench {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

// Recorder collects the outcomes of the calls inside the window.
// Thread-safe.
class Recorder {
 public:
  Recorder(absl::Time window_start, absl::Time window_end)
      : start_(window_start), end_(window_end) {}

  bool InWindow(absl::Time t) const { return t >= start_ && t < end_; }

  void Record(absl::Time due, absl::Time done, const char* code) ABSL_LOCKS_EXCLUDED(mu_) {
    if (!InWindow(due)) return;
    absl::MutexLock lock(&mu_);
    if (code == nullptr) {
      latencies_.push_back(absl::ToInt64Nanoseconds(done - due));
    } else {
      ++errors_[code];
    }
  }

  LoadReport Report() ABSL_LOCKS_EXCLUDED(mu_) {
    LoadReport report;
    std::vector<int64_t> latencies;
    {
      absl::MutexLock lock(&mu_);
      latencies = latencies_;
      report.errors = errors_;
    }
    report.seconds = absl::ToDoubleSeconds(end_ - start_);
    report.ok = latencies.size();
    report.ok_per_second = static_cast<double>(report.ok) / report.seconds;
    std::sort(latencies.begin(), latencies.end());
    auto at = [&latencies](double q) {
      if (latencies.empty()) return absl::ZeroDuration();
      const size_t rank = static_cast<size_t>(std::ceil(q * latencies.size()));
      return absl::Nanoseconds(
          latencies[std::min(latencies.size(), std::max<size_t>(rank, 1)) - 1]);
    };
    report.p50 = at(0.5);
    report.p90 = at(0.9);
    report.p99 = at(0.99);
    report.p999 = at(0.999);
    report.max = at(1.0);
    return report;
  }

 private:
  const absl::Time start_;
  const absl::Time end_;
  absl::Mutex mu_;
  std::vector<int64_t> latencies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> errors_ ABSL_GUARDED_BY(mu_);
};

// Caller issues calls of one kind on a set of channels and reports each
// outcome to a callback. Thread-safe; waits for its outstanding calls in
// its destructor.
class Caller {
 public:
  using Done = std::function<void(const char* error_code)>;  // null: OK

  Caller(const LoadOptions& options, std::vector<std::shared_ptr<grpc::Channel>> channels)
      : options_(options) {
    for (auto& channel : channels) stubs_.push_back(v1::Invocations::NewStub(channel));
    request_.set_function(options.function);
    std::string payload(options.payload_bytes, 'x');
    if (options.json_payload && payload.size() >= 2) payload.front() = payload.back() = '"';
    request_.set_payload(std::move(payload));
  }

  ~Caller() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* outstanding) { return *outstanding == 0; }, &outstanding_));
  }

  int outstanding() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return outstanding_;
  }

  // Call sends one call on channel `connection` and calls `done` when it
  // ends, on a gRPC thread.
  void Call(int connection, Done done) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    auto* state = new State();
    state->done = std::move(done);
    state->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_deadline));
    auto finish = [this, state](grpc::Status s) {
      state->done(s.ok() ? nullptr : CodeName(s.error_code()));
      delete state;
      absl::MutexLock lock(&mu_);
      --outstanding_;
    };
    v1::Invocations::Stub* stub = stubs_[connection % stubs_.size()].get();
    if (options_.method == LoadOptions::Method::kInvoke) {
      stub->async()->Invoke(&state->context, &request_, &state->sync, std::move(finish));
    } else {
      stub->async()->InvokeAsync(&state->context, &request_, &state->async, std::move(finish));
    }
  }

 private:
  struct State {
    Done done;
    grpc::ClientContext context;
    v1::InvokeResponse sync;
    v1::InvokeAsyncResponse async;
  };

  const LoadOptions options_;
  std::vector<std::unique_ptr<v1::Invocations::Stub>> stubs_;
  v1::InvokeRequest request_;  // constant after construction
  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

// ClosedSlot keeps one call outstanding on its connection until `end`.
void RunClosedSlot(Caller& caller, Recorder& recorder, int connection, absl::Time end) {
  const absl::Time start = absl::Now();
  caller.Call(connection, [&caller, &recorder, connection, start, end](const char* code) {
    const absl::Time done = absl::Now();
    recorder.Record(start, done, code);
    if (done < end) RunClosedSlot(caller, recorder, connection, end);
  });
}

}  // namespace

absl::StatusOr<LoadReport> RunLoad(const LoadOptions& options) {
  if (options.connections < 1 || options.streams < 1 || options.rate <= 0 ||
      options.duration <= absl::ZeroDuration() || options.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "connections and streams must be at least 1, rate and duration positive");
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("sluice.loadgen.connection", i);  // a distinct channel, so its own connection
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    auto channel =
        grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", options.target));
    }
    channels.push_back(std::move(channel));
  }
  const absl::Time begin = absl::Now();
  const absl::Time window_start = begin + options.warmup;
  const absl::Time window_end = window_start + options.duration;
  Recorder recorder(window_start, window_end);
  {
    Caller caller(options, channels);
    if (options.mode == LoadOptions::Mode::kClosed) {
      for (int c = 0; c < options.connections; ++c) {
        for (int s = 0; s < options.streams; ++s) RunClosedSlot(caller, recorder, c, window_end);
      }
      absl::SleepFor(window_end - absl::Now());
    } else {
      const absl::Duration interval = absl::Seconds(1) / options.rate;
      for (int64_t i = 0;; ++i) {
        const absl::Time due = begin + i * interval;
        if (due >= window_end) break;
        const absl::Time now = absl::Now();
        if (due > now) absl::SleepFor(due - now);
        if (caller.outstanding() >= options.max_outstanding) {
          recorder.Record(due, absl::Now(), "CLIENT_BACKLOG");
          continue;
        }
        caller.Call(static_cast<int>(i % options.connections), [&recorder, due](const char* code) {
          recorder.Record(due, absl::Now(), code);
        });
      }
    }
    // The caller's destructor waits for the calls still outstanding.
  }
  return recorder.Report();
}

std::string ReportJson(const LoadReport& report) {
  std::vector<std::string> errors;
  for (const auto& [code, count] : report.errors) {
    errors.push_back(absl::StrCat("\"", code, "\": ", count));
  }
  auto us = [](absl::Duration d) { return absl::StrCat(absl::ToDoubleMicroseconds(d)); };
  return absl::StrCat("{\"seconds\": ", report.seconds, ", \"ok\": ", report.ok,
                      ", \"ok_per_second\": ", report.ok_per_second,
                      ", \"p50_us\": ", us(report.p50), ", \"p90_us\": ", us(report.p90),
                      ", \"p99_us\": ", us(report.p99), ", \"p999_us\": ", us(report.p999),
                      ", \"max_us\": ", us(report.max), ", \"errors\": {",
                      absl::StrJoin(errors, ", "), "}}");
}

}  // namespace sluice::bench
