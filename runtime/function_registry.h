// FunctionRegistry: deployed functions, their immutable versions and the
// executors that run them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/artifact_store.h"
#include "runtime/clock.h"
#include "runtime/destination.h"
#include "runtime/executor.h"
#include "runtime/executor_factory.h"
#include "runtime/store.h"
#include "sluice/v1/functions.pb.h"

namespace sluice {

// FunctionRegistry is thread-safe. It keeps the latest version of every
// function in memory, so resolving a function for an invocation does no I/O.
// Store, artifacts, executor factory and clock are not owned and must
// outlive it.
class FunctionRegistry {
 public:
  // Open loads the latest version of every function from `store`.
  static absl::StatusOr<std::unique_ptr<FunctionRegistry>> Open(Store* store,
                                                                ArtifactStore* artifacts,
                                                                ExecutorFactory* executors,
                                                                Clock* clock);

  // SetCallbackAllowlist sets the gRPC callback endpoints that destinations
  // may name (default: none); Deploy refuses others with PERMISSION_DENIED.
  // Functions already deployed keep theirs: deliveries check it again.
  void SetCallbackAllowlist(CallbackAllowlist allowlist) ABSL_LOCKS_EXCLUDED(deploy_mu_);

  // Deploy validates `spec` (INVALID_ARGUMENT naming the field) and the
  // artifact through the executor factory (INVALID_ARGUMENT when it cannot
  // run, e.g. not a loadable shared object, no entry point, no bootstrap;
  // also when `expected_sha256` is set and differs), stores the artifact by
  // content, records version n+1, and retires the previous version's
  // executor (its attempts in flight finish).
  // On any error nothing changes and the previous version stays in service.
  // With `skip_unchanged`, a spec and artifact equal to the latest version
  // return that version instead of making a new one. Blocks on disk I/O.
  absl::StatusOr<v1::Function> Deploy(v1::FunctionSpec spec, std::string_view artifact,
                                      const std::string& expected_sha256,
                                      bool skip_unchanged = false);

  // Get returns `version` of `name` (latest when 0). NOT_FOUND otherwise.
  // Reading an old version may block on the store.
  absl::StatusOr<v1::Function> Get(const std::string& name, uint64_t version);
  // GetShared is Get without the copy: the function as the registry holds
  // it, immutable, valid as long as the caller keeps the pointer.
  absl::StatusOr<std::shared_ptr<const v1::Function>> GetShared(const std::string& name,
                                                                uint64_t version);

  // List returns the latest version of every function, by name.
  std::vector<v1::Function> List();

  // Delete removes every version of `name` and returns how many there were.
  // NOT_FOUND when there is no such function.
  absl::StatusOr<uint64_t> Delete(const std::string& name);

  // ExecutorFor returns the executor of `function`, created on first use and
  // shared by every invocation of that version.
  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(const v1::Function& function);

  // Maintain gives every live executor its periodic housekeeping (idle
  // workers, warm pools), and creates the executors of latest versions that
  // keep warm workers. Call about once a second.
  void Maintain(absl::Time now);

 private:
  FunctionRegistry(Store* store, ArtifactStore* artifacts, ExecutorFactory* executors, Clock* clock)
      : store_(store), artifacts_(artifacts), factory_(executors), clock_(clock) {}

  // RetireExecutors retires the executors of `name` other than `keep`.
  void RetireExecutors(const std::string& name, uint64_t keep);

  // Constant after construction.
  Store* const store_;
  ArtifactStore* const artifacts_;
  ExecutorFactory* const factory_;
  Clock* const clock_;

  // Serializes deploys and deletes, so versions are assigned without gaps.
  absl::Mutex deploy_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  CallbackAllowlist callbacks_ ABSL_GUARDED_BY(deploy_mu_);
  std::map<std::string, std::shared_ptr<const v1::Function>> latest_ ABSL_GUARDED_BY(mu_);
  // Keyed by (name, version).
  std::map<std::pair<std::string, uint64_t>, std::shared_ptr<Executor>> executors_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
