#include "runtime/worker_pool.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"

namespace sluice {
namespace {

// ScriptedWorker answers with its id, dies on payload "die", and can be made
// unusable from outside while idle. Stands in for a process.
class ScriptedWorker final : public Worker {
 public:
  ScriptedWorker(int id, std::atomic<int>* alive, std::shared_ptr<std::atomic<bool>> broken)
      : id_(id), alive_(alive), broken_(std::move(broken)) {
    ++*alive_;
  }
  ~ScriptedWorker() override { --*alive_; }

  ExecutionResult Run(const ExecutionRequest& request) override {
    if (request.payload == "die") {
      dead_ = true;
      return ExecutionResult::Error("Crash", "killed by signal 11 (SIGSEGV)");
    }
    return ExecutionResult::Success("worker " + std::to_string(id_));
  }
  bool Reusable() const override { return !dead_ && !broken_->load(); }

 private:
  const int id_;
  std::atomic<int>* const alive_;
  std::shared_ptr<std::atomic<bool>> broken_;
  bool dead_ = false;
};

class RecordingEvents final : public WorkerPoolEvents {
 public:
  void OnColdStart(absl::Duration) override { ++cold_starts; }
  void OnWorkerCrashed() override { ++crashes; }
  void OnWorkers(int i, int b) override {
    idle = i;
    busy = b;
  }
  std::atomic<int> cold_starts{0}, crashes{0}, idle{0}, busy{0};
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<WorkerPool> MakePool(WorkerPoolOptions options) {
    return std::make_unique<WorkerPool>(
        options,
        [this]() -> absl::StatusOr<std::unique_ptr<Worker>> {
          if (fail_starts_) return absl::UnavailableError("cannot start");
          return std::unique_ptr<Worker>(
              std::make_unique<ScriptedWorker>(++started_, &alive_, broken_));
        },
        &events_);
  }

  ExecutionResult Run(WorkerPool& pool, const std::string& payload = "x") {
    ExecutionRequest request;
    request.payload = payload;
    return pool.Execute(request);
  }

  std::atomic<int> started_{0}, alive_{0};
  std::shared_ptr<std::atomic<bool>> broken_ = std::make_shared<std::atomic<bool>>(false);
  bool fail_starts_ = false;
  RecordingEvents events_;
};

TEST_F(WorkerPoolTest, ReusesAWarmWorker) {
  auto pool = MakePool({.min_warm = 0, .max_workers = 2, .idle_timeout = absl::Minutes(1)});
  const ExecutionResult first = Run(*pool);
  EXPECT_EQ(first.output, "worker 1");
  EXPECT_TRUE(first.cold_start);
  const ExecutionResult second = Run(*pool);
  EXPECT_EQ(second.output, "worker 1");
  EXPECT_FALSE(second.cold_start);
  EXPECT_EQ(events_.cold_starts.load(), 1);
  EXPECT_EQ(pool->idle_workers(), 1);
  EXPECT_EQ(events_.idle.load(), 1);
}

TEST_F(WorkerPoolTest, WarmOnlyWhileAnIdleWorkerWaits) {
  auto pool = MakePool({.min_warm = 0, .max_workers = 2, .idle_timeout = absl::Minutes(1)});
  EXPECT_FALSE(pool->Warm()) << "nothing started yet: the next attempt cold-starts";
  Run(*pool);
  EXPECT_TRUE(pool->Warm());
  pool->Drain();
  EXPECT_FALSE(pool->Warm());
}

TEST_F(WorkerPoolTest, ACrashedWorkerIsReplacedByAFreshOne) {
  auto pool = MakePool({.min_warm = 0, .max_workers = 2, .idle_timeout = absl::Minutes(1)});
  EXPECT_EQ(Run(*pool).output, "worker 1");
  const ExecutionResult crashed = Run(*pool, "die");
  EXPECT_EQ(crashed.error_type, "Crash");
  EXPECT_EQ(events_.crashes.load(), 1);
  EXPECT_EQ(alive_.load(), 0);  // the dead worker was discarded
  EXPECT_EQ(Run(*pool).output, "worker 2");
}

TEST_F(WorkerPoolTest, AnIdleWorkerThatBecameUnusableIsSkipped) {
  auto pool = MakePool({.min_warm = 0, .max_workers = 2, .idle_timeout = absl::Minutes(1)});
  EXPECT_EQ(Run(*pool).output, "worker 1");
  broken_->store(true);  // e.g. a lambda bootstrap posted twice after answering
  auto fresh = std::make_shared<std::atomic<bool>>(false);
  broken_ = fresh;  // workers started from now on are fine
  EXPECT_EQ(Run(*pool).output, "worker 2");
  EXPECT_EQ(alive_.load(), 1);
}

TEST_F(WorkerPoolTest, MaintainKeepsMinWarmAndReapsIdleWorkers) {
  auto pool = MakePool({.min_warm = 1, .max_workers = 3, .idle_timeout = absl::Seconds(10)});
  const absl::Time t0 = absl::Now();
  pool->Maintain(t0);
  EXPECT_EQ(pool->idle_workers(), 1);
  // The warm worker serves the first call: no cold start on the call path.
  EXPECT_EQ(Run(*pool).output, "worker 1");
  EXPECT_EQ(events_.cold_starts.load(), 1);
  // Idle for less than the timeout: kept.
  pool->Maintain(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(pool->idle_workers(), 1);
  // Idle past the timeout, but min_warm keeps one.
  pool->Maintain(absl::Now() + absl::Seconds(60));
  EXPECT_EQ(pool->idle_workers(), 1);
}

TEST_F(WorkerPoolTest, IdleWorkersAboveMinWarmAreStoppedAfterTheTimeout) {
  auto pool = MakePool({.min_warm = 0, .max_workers = 3, .idle_timeout = absl::Seconds(10)});
  Run(*pool);
  EXPECT_EQ(alive_.load(), 1);
  pool->Maintain(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(alive_.load(), 1);
  pool->Maintain(absl::Now() + absl::Seconds(11));
  EXPECT_EQ(alive_.load(), 0);
  EXPECT_EQ(pool->idle_workers(), 0);
}

TEST_F(WorkerPoolTest, DrainStopsIdleWorkersAndKeepsNothingWarm) {
  auto pool = MakePool({.min_warm = 2, .max_workers = 3, .idle_timeout = absl::Minutes(1)});
  pool->Maintain(absl::Now());
  EXPECT_EQ(alive_.load(), 2);
  pool->Drain();
  EXPECT_EQ(alive_.load(), 0);
  pool->Maintain(absl::Now());
  EXPECT_EQ(alive_.load(), 0);
  // A late attempt still runs, on a worker stopped right after.
  EXPECT_EQ(Run(*pool).output, "worker 3");
  EXPECT_EQ(alive_.load(), 0);
}

TEST_F(WorkerPoolTest, AWorkerThatCannotStartIsAnError) {
  fail_starts_ = true;
  auto pool = MakePool({.min_warm = 0, .max_workers = 1, .idle_timeout = absl::Minutes(1)});
  const ExecutionResult result = Run(*pool);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error_type, "WorkerStartFailed");
  EXPECT_EQ(result.error_message, "cannot start");
  EXPECT_EQ(pool->busy_workers(), 0);
}

}  // namespace
}  // namespace sluice
