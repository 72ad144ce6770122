#include "runtime/dispatcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/retry_info.h"
#include "runtime/thread_name.h"

namespace sluice {

void Dispatcher::RunTime::Add(absl::Duration sample) {
  if (sample < absl::ZeroDuration()) sample = absl::ZeroDuration();
  average = sampled ? average * 0.8 + sample * 0.2 : sample;
  sampled = true;
}

absl::Duration Dispatcher::RetryDelayEstimate(absl::Duration run_time, size_t ahead,
                                              uint32_t concurrency) {
  const double estimate_s = absl::ToDoubleSeconds(run_time) * static_cast<double>(ahead) /
                            static_cast<double>(std::max<uint32_t>(concurrency, 1));
  // Compare in seconds first: a huge queue must not overflow the Duration.
  if (!(estimate_s < absl::ToDoubleSeconds(kMaxRetryDelay))) return kMaxRetryDelay;
  return std::max(absl::Seconds(estimate_s), kMinRetryDelay);
}

Dispatcher::Dispatcher(const DispatcherOptions& options, InvocationProbe* probe, Clock* clock)
    : options_(options), probe_(probe), clock_(clock) {
  const int threads = std::max(options.threads, 1);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      NameThisThread("sluice-exec");
      Loop();
    });
  }
}

Dispatcher::Dispatcher(int threads, InvocationProbe* probe, Clock* clock)
    : Dispatcher(DispatcherOptions{.threads = threads}, probe, clock) {}

Dispatcher::~Dispatcher() { Shutdown(); }

int Dispatcher::LevelOf(v1::Priority priority) {
  switch (priority) {
    case v1::PRIORITY_LOW:
      return 0;
    case v1::PRIORITY_HIGH:
      return 2;
    case v1::PRIORITY_CRITICAL:
      return 3;
    default:  // NORMAL, UNSPECIFIED, and values from a newer client
      return 1;
  }
}

absl::Status Dispatcher::Reserve(const std::string& function, const QueueLimits& limits) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the server is shutting down");
  if (closed_) return absl::UnavailableError("the server is draining");
  Queue& q = queues_[function];
  q.limits = limits;
  if (q.size + q.reserved >= limits.max_queue) {
    probe_->OnRejected(function);
    absl::Status full = absl::ResourceExhaustedError(
        absl::StrCat("the queue of function \"", function, "\" is full (", limits.max_queue,
                     " waiting); retry later"));
    SetRetryDelay(full,
                  RetryDelayEstimate(q.run_time.sampled ? q.run_time.average : run_time_.average,
                                     q.size + q.reserved, limits.concurrency));
    return full;
  }
  if (total_queued_ >= options_.max_queued_total) {
    probe_->OnRejected(function);
    absl::Status full = absl::ResourceExhaustedError(
        absl::StrCat("the server's queue is full (", options_.max_queued_total,
                     " waiting across all functions); retry later"));
    SetRetryDelay(full, RetryDelayEstimate(run_time_.average, total_queued_,
                                           static_cast<uint32_t>(std::max(options_.threads, 1))));
    return full;
  }
  ++q.reserved;
  ++total_queued_;
  return absl::OkStatus();
}

void Dispatcher::SubmitReserved(const std::string& function, Task task) {
  {
    absl::MutexLock lock(&mu_);
    Queue& q = queues_[function];
    if (q.reserved > 0) {
      --q.reserved;
      --total_queued_;
    }
    if (Enqueue(function, task)) return;
  }
  if (task.drop) task.drop();
}

void Dispatcher::Unreserve(const std::string& function) {
  absl::MutexLock lock(&mu_);
  Queue& q = queues_[function];
  if (q.reserved > 0) {
    --q.reserved;
    --total_queued_;
  }
}

absl::Status Dispatcher::Submit(const std::string& function, const QueueLimits& limits, Task task) {
  if (absl::Status s = Reserve(function, limits); !s.ok()) return s;
  SubmitReserved(function, std::move(task));
  return absl::OkStatus();
}

bool Dispatcher::RunInline(const std::string& function, const QueueLimits& limits, Task& task,
                           bool alone) {
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    if (!Accepting()) return false;
    Queue& q = queues_[function];
    q.limits = limits;
    if (q.size > 0 || q.reserved > 0 || q.running >= limits.concurrency ||
        (alone && q.running > 0) || !q.run_time.sampled || q.run_time.average >= kInlineRunTime) {
      return false;
    }
    ++q.running;
    ++total_running_;
  }
  probe_->OnEnqueued(function);
  Run(function, task, now);
  return true;
}

void Dispatcher::SubmitUnbounded(const std::string& function, const QueueLimits& limits,
                                 Task task) {
  {
    absl::MutexLock lock(&mu_);
    queues_[function].limits = limits;
    if (Enqueue(function, task)) return;
  }
  if (task.drop) task.drop();
}

bool Dispatcher::Enqueue(const std::string& function, Task& task) {
  if (!Accepting()) return false;
  Queue& q = queues_[function];
  const int level = LevelOf(task.priority);
  q.waiting[level].push_back(Entry{std::move(task), clock_->Now(), next_seq_++});
  ++q.size;
  ++total_queued_;
  probe_->OnEnqueued(function);
  MaybeReady(function, q);
  return true;
}

void Dispatcher::MaybeReady(const std::string& name, Queue& q) {
  if (!q.in_ready && q.size > 0 && q.running < q.limits.concurrency) {
    q.in_ready = true;
    ready_.push_back(name);
  }
}

Dispatcher::Entry Dispatcher::PopNext(Queue& q) {
  const absl::Time now = clock_->Now();
  int best = -1;
  int64_t best_level = 0;
  for (int level = 0; level < kLevels; ++level) {
    if (q.waiting[level].empty()) continue;
    const Entry& head = q.waiting[level].front();
    int64_t effective = level;
    const absl::Duration waited = now - head.enqueued_at;
    if (waited > absl::ZeroDuration() && options_.aging_step > absl::ZeroDuration() &&
        options_.aging_step != absl::InfiniteDuration()) {
      absl::Duration rem;
      effective += absl::IDivDuration(waited, options_.aging_step, &rem);
    }
    if (best < 0 || effective > best_level ||
        (effective == best_level && head.seq < q.waiting[best].front().seq)) {
      best = level;
      best_level = effective;
    }
  }
  Entry entry = std::move(q.waiting[best].front());
  q.waiting[best].pop_front();
  --q.size;
  --total_queued_;
  return entry;
}

size_t Dispatcher::QueueDepth(const std::string& function) {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(function);
  return it == queues_.end() ? 0 : it->second.size + it->second.reserved;
}

std::vector<std::pair<std::string, absl::Duration>> Dispatcher::OldestWaits() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, absl::Duration>> waits;
  waits.reserve(queues_.size());
  for (const auto& [name, q] : queues_) {
    absl::Time oldest = absl::InfiniteFuture();
    for (const std::deque<Entry>& level : q.waiting) {
      if (!level.empty()) oldest = std::min(oldest, level.front().enqueued_at);
    }
    waits.emplace_back(name, oldest == absl::InfiniteFuture()
                                 ? absl::ZeroDuration()
                                 : std::max(now - oldest, absl::ZeroDuration()));
  }
  return waits;
}

size_t Dispatcher::TotalQueued() {
  absl::MutexLock lock(&mu_);
  return total_queued_;
}

void Dispatcher::Loop() {
  while (true) {
    std::string name;
    Entry entry;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Dispatcher* d)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return d->shutdown_ || !d->ready_.empty(); },
          this));
      if (shutdown_) return;
      name = std::move(ready_.front());
      ready_.pop_front();
      Queue& q = queues_[name];
      q.in_ready = false;
      entry = PopNext(q);
      ++q.running;
      ++total_running_;
      MaybeReady(name, q);  // back of the line: other functions go first
    }
    Run(name, entry.task, entry.enqueued_at);
  }
}

void Dispatcher::Run(const std::string& name, Task& task, absl::Time enqueued_at) {
  const absl::Time started = clock_->Now();
  probe_->OnStarted(name, started - enqueued_at);
  task.run();
  task = Task{};  // release captured state outside the lock
  const absl::Duration ran = clock_->Now() - started;
  absl::MutexLock lock(&mu_);
  Queue& q = queues_[name];
  q.run_time.Add(ran);
  run_time_.Add(ran);
  --q.running;
  --total_running_;
  MaybeReady(name, q);
}

std::vector<Task> Dispatcher::TakeQueued() {
  std::vector<Task> dropped;
  for (auto& [name, q] : queues_) {
    for (std::deque<Entry>& level : q.waiting) {
      for (Entry& e : level) {
        probe_->OnDropped(name);
        dropped.push_back(std::move(e.task));
      }
      total_queued_ -= level.size();
      level.clear();
    }
    q.size = 0;
  }
  ready_.clear();
  for (auto& [name, q] : queues_) q.in_ready = false;
  return dropped;
}

void Dispatcher::Close() {
  std::vector<Task> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || shutdown_) return;
    closed_ = true;
    dropped = TakeQueued();
  }
  for (Task& t : dropped) {
    if (t.drop) t.drop();
  }
}

bool Dispatcher::AwaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](Dispatcher* d) ABSL_NO_THREAD_SAFETY_ANALYSIS { return d->total_running_ == 0; },
          this),
      deadline);
}

void Dispatcher::Shutdown() {
  std::vector<Task> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    dropped = TakeQueued();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  for (Task& t : dropped) {
    if (t.drop) t.drop();
  }
}

}  // namespace sluice
