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
#include "runtime/executor.h"
#include "runtime/store.h"
#include "sluice/v1/functions.pb.h"

namespace sluice {

// FunctionRegistry is thread-safe. It keeps the latest version of every
// function in memory, so resolving a function for an invocation does no I/O.
// Store, artifacts and clock are not owned and must outlive it.
class FunctionRegistry {
 public:
  // Open loads the latest version of every function from `store`.
  static absl::StatusOr<std::unique_ptr<FunctionRegistry>> Open(Store* store,
                                                                ArtifactStore* artifacts,
                                                                Clock* clock);

  // Deploy validates `spec` (INVALID_ARGUMENT naming the field) and the
  // artifact (INVALID_ARGUMENT when it is not a loadable shared object or
  // lacks the entry point; FAILED_PRECONDITION when `expected_sha256` is set
  // and differs), stores the artifact by content, and records version n+1.
  // On any error nothing changes and the previous version stays in service.
  // With `skip_unchanged`, a spec and artifact equal to the latest version
  // return that version instead of making a new one. Blocks on disk I/O.
  absl::StatusOr<v1::Function> Deploy(v1::FunctionSpec spec, std::string_view artifact,
                                      const std::string& expected_sha256,
                                      bool skip_unchanged = false);

  // Get returns `version` of `name` (latest when 0). NOT_FOUND otherwise.
  // Reading an old version may block on the store.
  absl::StatusOr<v1::Function> Get(const std::string& name, uint64_t version);

  // List returns the latest version of every function, by name.
  std::vector<v1::Function> List();

  // Delete removes every version of `name` and returns how many there were.
  // NOT_FOUND when there is no such function.
  absl::StatusOr<uint64_t> Delete(const std::string& name);

  // ExecutorFor returns the executor of `function`, loading its artifact on
  // first use. Shared by every invocation of the same artifact.
  absl::StatusOr<std::shared_ptr<Executor>> ExecutorFor(const v1::Function& function);

 private:
  FunctionRegistry(Store* store, ArtifactStore* artifacts, Clock* clock)
      : store_(store), artifacts_(artifacts), clock_(clock) {}

  // Constant after construction.
  Store* const store_;
  ArtifactStore* const artifacts_;
  Clock* const clock_;

  // Serializes deploys and deletes, so versions are assigned without gaps.
  absl::Mutex deploy_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, v1::Function> latest_ ABSL_GUARDED_BY(mu_);
  // Keyed by sha256 + "/" + entry point.
  absl::flat_hash_map<std::string, std::shared_ptr<Executor>> executors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
