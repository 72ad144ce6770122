#include "runtime/dispatcher.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sluice {

Dispatcher::Dispatcher(int threads, InvocationProbe* probe, Clock* clock)
    : probe_(probe), clock_(clock) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

Dispatcher::~Dispatcher() { Shutdown(); }

absl::Status Dispatcher::Reserve(const std::string& function, const QueueLimits& limits) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the server is shutting down");
  Queue& q = queues_[function];
  q.limits = limits;
  if (q.tasks.size() + q.reserved >= limits.max_queue) {
    probe_->OnRejected(function);
    return absl::ResourceExhaustedError(absl::StrCat("the queue of function \"", function,
                                                     "\" is full (", limits.max_queue,
                                                     " waiting); retry later"));
  }
  ++q.reserved;
  return absl::OkStatus();
}

void Dispatcher::SubmitReserved(const std::string& function, Task task) {
  absl::MutexLock lock(&mu_);
  Queue& q = queues_[function];
  if (q.reserved > 0) --q.reserved;
  Enqueue(function, std::move(task));
}

void Dispatcher::Unreserve(const std::string& function) {
  absl::MutexLock lock(&mu_);
  Queue& q = queues_[function];
  if (q.reserved > 0) --q.reserved;
}

absl::Status Dispatcher::Submit(const std::string& function, const QueueLimits& limits, Task task) {
  if (absl::Status s = Reserve(function, limits); !s.ok()) return s;
  SubmitReserved(function, std::move(task));
  return absl::OkStatus();
}

void Dispatcher::SubmitUnbounded(const std::string& function, const QueueLimits& limits,
                                 Task task) {
  absl::MutexLock lock(&mu_);
  queues_[function].limits = limits;
  Enqueue(function, std::move(task));
}

void Dispatcher::Enqueue(const std::string& function, Task task) {
  if (shutdown_) {
    if (task.drop) task.drop();
    return;
  }
  Queue& q = queues_[function];
  q.tasks.push_back(Entry{std::move(task), clock_->Now()});
  probe_->OnEnqueued(function);
  MaybeReady(function, q);
}

void Dispatcher::MaybeReady(const std::string& name, Queue& q) {
  if (!q.in_ready && !q.tasks.empty() && q.running < q.limits.concurrency) {
    q.in_ready = true;
    ready_.push_back(name);
  }
}

size_t Dispatcher::QueueDepth(const std::string& function) {
  absl::MutexLock lock(&mu_);
  auto it = queues_.find(function);
  return it == queues_.end() ? 0 : it->second.tasks.size() + it->second.reserved;
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
      entry = std::move(q.tasks.front());
      q.tasks.pop_front();
      ++q.running;
      MaybeReady(name, q);  // back of the line: other functions go first
    }
    probe_->OnStarted(name, clock_->Now() - entry.enqueued_at);
    entry.task.run();
    entry.task = Task{};  // release captured state outside the lock
    absl::MutexLock lock(&mu_);
    Queue& q = queues_[name];
    --q.running;
    MaybeReady(name, q);
  }
}

void Dispatcher::Shutdown() {
  std::vector<Task> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    for (auto& [name, q] : queues_) {
      for (Entry& e : q.tasks) {
        probe_->OnDropped(name);
        dropped.push_back(std::move(e.task));
      }
      q.tasks.clear();
    }
    ready_.clear();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  for (Task& t : dropped) {
    if (t.drop) t.drop();
  }
}

}  // namespace sluice
