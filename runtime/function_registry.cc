#include "runtime/function_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/function_spec.h"
#include "runtime/native_executor.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<FunctionRegistry>> FunctionRegistry::Open(Store* store,
                                                                         ArtifactStore* artifacts,
                                                                         Clock* clock) {
  absl::StatusOr<std::vector<v1::Function>> functions = store->ListFunctions();
  if (!functions.ok()) return functions.status();
  std::unique_ptr<FunctionRegistry> registry(new FunctionRegistry(store, artifacts, clock));
  absl::MutexLock lock(&registry->mu_);
  for (v1::Function& f : *functions) {
    std::string name = f.spec().name();
    registry->latest_.emplace(std::move(name), std::move(f));
  }
  return registry;
}

absl::StatusOr<v1::Function> FunctionRegistry::Deploy(v1::FunctionSpec spec,
                                                      std::string_view artifact,
                                                      const std::string& expected_sha256,
                                                      bool skip_unchanged) {
  if (absl::Status s = NormalizeFunctionSpec(spec); !s.ok()) return s;
  if (artifact.empty()) return absl::InvalidArgumentError("artifact: empty");
  const std::string sha256 = ArtifactStore::Sha256Hex(artifact);
  if (!expected_sha256.empty() && expected_sha256 != sha256) {
    return absl::InvalidArgumentError(absl::StrCat("sha256: the upload has sha256 ", sha256,
                                                   ", not the declared ", expected_sha256));
  }

  absl::MutexLock deploy_lock(&deploy_mu_);
  std::optional<v1::Function> latest;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = latest_.find(spec.name()); it != latest_.end()) latest = it->second;
  }
  if (skip_unchanged && latest.has_value() && latest->sha256() == sha256 &&
      google::protobuf::util::MessageDifferencer::Equals(latest->spec(), spec)) {
    return *latest;
  }

  // Validate by loading the upload from a temporary file before anything is
  // stored: a bad artifact never replaces the version in service.
  if (!artifacts_->Contains(sha256)) {
    absl::StatusOr<std::string> temp = artifacts_->WriteTemp(artifact);
    if (!temp.ok()) return temp.status();
    absl::StatusOr<std::unique_ptr<Executor>> probe = LoadNativeFunction(*temp, spec.entry_point());
    artifacts_->RemoveTemp(*temp);
    if (!probe.ok()) return probe.status();
    if (absl::StatusOr<std::string> put = artifacts_->Put(artifact); !put.ok()) return put.status();
  } else if (absl::StatusOr<std::unique_ptr<Executor>> probe =
                 LoadNativeFunction(artifacts_->PathOf(sha256), spec.entry_point());
             !probe.ok()) {
    return probe.status();
  }

  v1::Function function;
  *function.mutable_spec() = std::move(spec);
  function.set_version(latest.has_value() ? latest->version() + 1 : 1);
  function.set_sha256(sha256);
  function.set_artifact_size(artifact.size());
  *function.mutable_created_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(clock_->Now()));
  WriteBatch batch;
  batch.PutFunction(function);
  if (absl::Status s = store_->Commit(batch); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  latest_[function.spec().name()] = function;
  return function;
}

absl::StatusOr<v1::Function> FunctionRegistry::Get(const std::string& name, uint64_t version) {
  {
    absl::MutexLock lock(&mu_);
    auto it = latest_.find(name);
    if (it == latest_.end()) {
      return absl::NotFoundError(absl::StrCat("function \"", name, "\" not found"));
    }
    if (version == 0 || version == it->second.version()) return it->second;
    if (version > it->second.version()) {
      return absl::NotFoundError(absl::StrCat("function \"", name, "\" has no version ", version,
                                              " (latest is ", it->second.version(), ")"));
    }
  }
  return store_->GetFunction(name, version);
}

std::vector<v1::Function> FunctionRegistry::List() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Function> out;
  out.reserve(latest_.size());
  for (const auto& [name, f] : latest_) out.push_back(f);
  return out;
}

absl::StatusOr<uint64_t> FunctionRegistry::Delete(const std::string& name) {
  absl::MutexLock deploy_lock(&deploy_mu_);
  uint64_t versions = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = latest_.find(name);
    if (it == latest_.end()) {
      return absl::NotFoundError(absl::StrCat("function \"", name, "\" not found"));
    }
    versions = it->second.version();
  }
  WriteBatch batch;
  batch.DeleteFunction(name);
  if (absl::Status s = store_->Commit(batch); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  latest_.erase(name);
  return versions;
}

absl::StatusOr<std::shared_ptr<Executor>> FunctionRegistry::ExecutorFor(
    const v1::Function& function) {
  const std::string key = absl::StrCat(function.sha256(), "/", function.spec().entry_point());
  {
    absl::MutexLock lock(&mu_);
    if (auto it = executors_.find(key); it != executors_.end()) return it->second;
  }
  absl::StatusOr<std::unique_ptr<Executor>> loaded =
      LoadNativeFunction(artifacts_->PathOf(function.sha256()), function.spec().entry_point());
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = executors_.try_emplace(key, std::move(*loaded));
  return it->second;
}

}  // namespace sluice
