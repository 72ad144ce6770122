// EngineFixture: a complete invocation engine over a MemoryStore, with the
// example functions available for deploys.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

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
    executors_ = NewRuntimeExecutorFactory({
        .worker_binary = testing::BinaryDir() + "/sluice",
        .functions_dir = dir_ + "/functions",
        .cgroup_root = "",
        .max_payload_bytes = 1024,
        .logs = nullptr,
        .pool_events = nullptr,
    });
    auto registry =
        FunctionRegistry::Open(store_.get(), artifacts_.get(), executors_.get(), Clock::Real());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    StartEngine();
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
