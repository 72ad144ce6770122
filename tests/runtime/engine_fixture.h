// EngineFixture: a complete invocation engine over a MemoryStore, with the
// example functions available for deploys.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "runtime/artifact_store.h"
#include "runtime/dispatcher.h"
#include "runtime/executor_factory.h"
#include "runtime/function_registry.h"
#include "runtime/group_committer.h"
#include "runtime/invocation_service.h"
#include "runtime/memory_store.h"
#include "runtime/timer_queue.h"
#include "runtime/watch_hub.h"
#include "tests/support/server_process.h"

namespace sluice {

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    store_ = NewMemoryStore();
    auto artifacts = ArtifactStore::Open(dir_ + "/artifacts");
    ASSERT_TRUE(artifacts.ok()) << artifacts.status();
    artifacts_ = *std::move(artifacts);
    executors_ = MakeExecutors();
    auto registry =
        FunctionRegistry::Open(store_.get(), artifacts_.get(), executors_.get(), Clock::Real());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    StartEngine();
  }

  // MakeExecutors returns the executor factory of the engine: the real one,
  // unless a test replaces it.
  virtual std::unique_ptr<ExecutorFactory> MakeExecutors() {
    return NewRuntimeExecutorFactory({
        .worker_binary = testing::BinaryDir() + "/sluice",
        .functions_dir = dir_ + "/functions",
        .cgroup_root = "",
        .max_payload_bytes = 1024,
        .logs = nullptr,
        .pool_events = nullptr,
    });
  }

  void TearDown() override {
    StopEngine();
    std::filesystem::remove_all(dir_);
  }

  // StartEngine builds the parts that a restart replaces.
  void StartEngine() {
    committer_ = std::make_unique<GroupCommitter>(store_.get());
    dispatcher_ = std::make_unique<Dispatcher>(8, &probe_, Clock::Real());
    service_ = std::make_unique<InvocationService>(
        InvocationServiceOptions{.max_payload_bytes = 1024}, store_.get(), committer_.get(),
        registry_.get(), dispatcher_.get(), &watchers_, &timers_, &probe_, Clock::Real());
  }

  void StopEngine() {
    if (service_) service_->Shutdown();
    service_.reset();
    dispatcher_.reset();
    committer_.reset();
  }

  absl::StatusOr<SyncResult> InvokeSync(const std::string& function, const std::string& payload,
                                        absl::Time caller_deadline = absl::InfiniteFuture()) {
    absl::Notification done;
    absl::StatusOr<SyncResult> out = absl::UnknownError("not answered");
    service_->InvokeSync({function, 0, payload, {}}, caller_deadline,
                         [&](absl::StatusOr<SyncResult> r) {
                           out = std::move(r);
                           done.Notify();
                         });
    done.WaitForNotification();
    return out;
  }

  // InvokeAsyncWith queues `args` and returns the answer.
  absl::StatusOr<AsyncAccepted> InvokeAsyncWith(InvokeArgs args) {
    absl::Notification done;
    absl::StatusOr<AsyncAccepted> out = absl::UnknownError("not answered");
    service_->InvokeAsync(std::move(args), [&](absl::StatusOr<AsyncAccepted> r) {
      out = std::move(r);
      done.Notify();
    });
    done.WaitForNotification();
    return out;
  }

  // InvokeAsync queues `payload` for `function` (metadata k=v) and returns its id.
  absl::StatusOr<std::string> InvokeAsync(const std::string& function, const std::string& payload) {
    absl::StatusOr<AsyncAccepted> accepted = InvokeAsyncWith({function, 0, payload, {{"k", "v"}}});
    if (!accepted.ok()) return accepted.status();
    return accepted->invocation_id;
  }

  // AwaitState waits until invocation `id` is in `state`.
  v1::Invocation AwaitState(const std::string& id, v1::InvocationState state) {
    v1::Invocation last;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          auto inv = service_->Get(id);
          if (!inv.ok()) return false;
          last = *inv;
          return inv->state() == state;
        },
        absl::Seconds(20)))
        << id << " is " << v1::InvocationState_Name(last.state());
    return last;
  }

  static std::vector<v1::InvocationState> States(const v1::Invocation& inv) {
    std::vector<v1::InvocationState> states;
    for (const auto& change : inv.timeline()) states.push_back(change.state());
    return states;
  }

  // Deploy deploys example function `example` as `name` with `spec` fields.
  v1::Function Deploy(const std::string& name, const std::string& example,
                      v1::FunctionSpec spec = {}) {
    spec.set_name(name);
    auto f = registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath(example)), "");
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *f : v1::Function();
  }

  std::string dir_;
  prometheus::Registry metrics_;
  InvocationProbe probe_{metrics_};
  WatchHub watchers_;
  TimerQueue timers_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<ExecutorFactory> executors_;
  std::unique_ptr<FunctionRegistry> registry_;
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<InvocationService> service_;
};

}  // namespace sluice
