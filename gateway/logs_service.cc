#include "gateway/logs_service.h"

#include <atomic>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/status.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/function_spec.h"

namespace sluice {
namespace {

// kNoteStream is the stream of lines the server itself adds to a tail.
constexpr char kNoteStream[] = "sluice";

v1::LogEntry ToEntry(const LogLine& line) {
  v1::LogEntry entry;
  *entry.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(line.time));
  entry.set_function(line.function);
  entry.set_version(line.version);
  entry.set_invocation_id(line.invocation_id);
  entry.set_stream(line.stream);
  entry.set_text(line.text);
  return entry;
}

// BufferedSize is what a buffered line counts against max_buffered_bytes.
size_t BufferedSize(const SequencedLogLine& entry) {
  constexpr size_t kOverhead = 64;
  return entry.line.text.size() + entry.line.function.size() + entry.line.invocation_id.size() +
         entry.line.stream.size() + kOverhead;
}

// RefusedReactor ends a Tail stream with an error at once.
class RefusedReactor final : public grpc::ServerWriteReactor<v1::LogEntry> {
 public:
  explicit RefusedReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// TailReactor streams one Tail: the tail, then (with follow) each new line.
// Lines come in through a FunctionLogs subscription, taken before the tail;
// those numbered at or below the tail's last line are in the tail already
// and are skipped, so every line is sent once, in order. Writes go one at a
// time; lines that arrive meanwhile wait in a bounded buffer.
//
// It frees itself after both Start and OnDone have run.
class LogsService::TailReactor final : public grpc::ServerWriteReactor<v1::LogEntry> {
 public:
  // The constructor subscribes (with follow) but starts no operation.
  TailReactor(LogsService* service, const std::string& function, uint32_t lines, bool follow)
      : service_(service), function_(function), lines_(lines), follow_(follow) {
    if (follow_) {
      subscription_ = service_->logs_->SubscribeSequenced(
          function_, [this](const SequencedLogLine& entry) { Push(entry); });
    }
  }

  // Start finishes with `refusal` when it is not OK; otherwise it sends the
  // tail and keeps following. Call it exactly once, after the constructor.
  void Start(const grpc::Status& refusal) {
    if (!refusal.ok()) {
      Stop(refusal);
    } else {
      std::vector<SequencedLogLine> tail = service_->logs_->TailSequenced(function_, lines_);
      absl::MutexLock lock(&mu_);
      const uint64_t tail_end = tail.empty() ? 0 : tail.back().sequence;
      for (SequencedLogLine& entry : tail) EnqueueLocked(std::move(entry));
      for (SequencedLogLine& entry : early_) {
        if (entry.sequence > tail_end) EnqueueLocked(std::move(entry));
      }
      early_.clear();
      started_ = true;
      WriteNextLocked();
    }
    Unref();
  }

  // Stop finishes the stream with `status` unless it is finished already.
  void Stop(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override { Stop(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    service_->StreamEnded(this);
    if (subscription_ != 0) service_->logs_->Unsubscribe(function_, subscription_);
    Unref();
  }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  // Push takes a line from the subscription (under FunctionLogs' lock).
  void Push(const SequencedLogLine& entry) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (!started_) {
      // Only while Start takes the tail: a few lines at most.
      early_.push_back(entry);
      return;
    }
    EnqueueLocked(entry);
    WriteNextLocked();
  }

  void EnqueueLocked(SequencedLogLine entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    buffered_bytes_ += BufferedSize(entry);
    pending_.push_back(std::move(entry));
    const LogsServiceLimits& limits = service_->limits_;
    while (pending_.size() > limits.max_buffered_lines ||
           (buffered_bytes_ > limits.max_buffered_bytes && pending_.size() > 1)) {
      buffered_bytes_ -= BufferedSize(pending_.front());
      last_dropped_time_ = pending_.front().line.time;
      pending_.pop_front();
      ++dropped_;
    }
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || writing_ || finished_) return;
    if (dropped_ > 0) {
      // The gap is between the line last sent and the oldest one left; the
      // note bears the time of the last line dropped.
      current_.Clear();
      *current_.mutable_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
          absl::ToUnixNanos(last_dropped_time_));
      current_.set_function(function_);
      current_.set_stream(kNoteStream);
      current_.set_text(absl::StrCat(dropped_, " lines dropped: this reader fell behind"));
      dropped_ = 0;
    } else if (!pending_.empty()) {
      buffered_bytes_ -= BufferedSize(pending_.front());
      current_ = ToEntry(pending_.front().line);
      pending_.pop_front();
    } else {
      if (!follow_) FinishLocked(grpc::Status::OK);
      return;
    }
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    pending_.clear();
    early_.clear();
    Finish(status);
  }

  // Constant after construction.
  LogsService* const service_;
  const std::string function_;
  const uint32_t lines_;
  const bool follow_;
  uint64_t subscription_ = 0;  // set in the constructor; 0 without follow

  std::atomic<int> refs_{2};  // Start's and OnDone's

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Lines that arrived before Start took the tail.
  std::vector<SequencedLogLine> early_ ABSL_GUARDED_BY(mu_);
  std::deque<SequencedLogLine> pending_ ABSL_GUARDED_BY(mu_);
  size_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;  // since the last note
  absl::Time last_dropped_time_ ABSL_GUARDED_BY(mu_);
  v1::LogEntry current_ ABSL_GUARDED_BY(mu_);  // being written
};

LogsService::LogsService(FunctionLogs* logs, ExistsFunction exists, LogsServiceLimits limits)
    : logs_(logs), exists_(std::move(exists)), limits_(limits) {}

grpc::ServerWriteReactor<v1::LogEntry>* LogsService::Tail(grpc::CallbackServerContext*,
                                                          const v1::TailLogsRequest* request) {
  const std::string& function = request->function();
  if (absl::Status s = ValidateFunctionName(function, "function"); !s.ok()) {
    return new RefusedReactor(ToGrpcStatus(s));
  }
  if (exists_ && !exists_(function)) {
    return new RefusedReactor(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                           absl::StrCat("function \"", function, "\" not found")));
  }
  const uint32_t lines = request->has_lines() ? request->lines() : kDefaultTailLines;
  auto* reactor = new TailReactor(this, function, lines, request->follow());
  grpc::Status refusal;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    } else {
      streams_.insert(reactor);
    }
  }
  reactor->Start(refusal);
  return reactor;
}

void LogsService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  // A stream in OnDone waits for mu_ before it removes itself, so each one
  // here is alive.
  for (TailReactor* stream : streams_) {
    stream->Stop(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
  }
}

void LogsService::StreamEnded(TailReactor* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

}  // namespace sluice
