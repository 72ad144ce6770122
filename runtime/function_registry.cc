#include "runtime/function_registry.h"

#include "runtime/destination.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/function_spec.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<FunctionRegistry>> FunctionRegistry::Open(Store* store,
                                                                         ArtifactStore* artifacts,
                                                                         ExecutorFactory* executors,
                                                                         Clock* clock) {
  absl::StatusOr<std::vector<v1::Function>> functions = store->ListFunctions();
  if (!functions.ok()) return functions.status();
  std::unique_ptr<FunctionRegistry> registry(
      new FunctionRegistry(store, artifacts, executors, clock));
  absl::MutexLock lock(&registry->mu_);
  for (v1::Function& f : *functions) {
    std::string name = f.spec().name();
    registry->latest_.emplace(std::move(name), std::make_shared<const v1::Function>(std::move(f)));
  }
  return registry;
}

void FunctionRegistry::SetCallbackAllowlist(CallbackAllowlist allowlist) {
  absl::MutexLock deploy_lock(&deploy_mu_);
  callbacks_ = std::move(allowlist);
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
  for (const auto& [field, destination] :
       {std::pair<const char*, const std::string&>{"spec.on_success", spec.on_success()},
        std::pair<const char*, const std::string&>{"spec.on_failure", spec.on_failure()}}) {
    if (destination.empty()) continue;
    // NormalizeFunctionSpec parsed it.
    absl::StatusOr<Destination> parsed = ParseDestination(destination, field);
    if (!parsed.ok()) return parsed.status();
    if (absl::Status s = callbacks_.Check(*parsed, field); !s.ok()) return s;
  }
  std::optional<v1::Function> latest;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = latest_.find(spec.name()); it != latest_.end()) latest = *it->second;
  }
  if (skip_unchanged && latest.has_value() && latest->sha256() == sha256 &&
      google::protobuf::util::MessageDifferencer::Equals(latest->spec(), spec)) {
    return *latest;
  }

  // Validate the upload from a temporary file before anything is stored: a
  // bad artifact never replaces the version in service.
  if (artifacts_->Contains(sha256)) {
    if (absl::Status s = factory_->Validate(spec, artifacts_->PathOf(sha256)); !s.ok()) return s;
  } else {
    absl::StatusOr<std::string> temp = artifacts_->WriteTemp(artifact);
    if (!temp.ok()) return temp.status();
    absl::Status valid = factory_->Validate(spec, *temp);
    artifacts_->RemoveTemp(*temp);
    if (!valid.ok()) return valid;
    if (absl::StatusOr<std::string> put = artifacts_->Put(artifact); !put.ok()) return put.status();
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

  {
    absl::MutexLock lock(&mu_);
    latest_[function.spec().name()] = std::make_shared<const v1::Function>(function);
  }
  RetireExecutors(function.spec().name(), function.version());
  return function;
}

void FunctionRegistry::RetireExecutors(const std::string& name, uint64_t keep) {
  std::vector<std::shared_ptr<Executor>> retired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = executors_.lower_bound({name, 0});
         it != executors_.end() && it->first.first == name;) {
      if (it->first.second == keep) {
        ++it;
        continue;
      }
      retired.push_back(std::move(it->second));
      it = executors_.erase(it);
    }
  }
  for (const std::shared_ptr<Executor>& executor : retired) executor->Retire();
}

void FunctionRegistry::Maintain(absl::Time now) {
  std::vector<v1::Function> warm;
  std::vector<std::shared_ptr<Executor>> executors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, f] : latest_) {
      if (f->spec().min_warm() > 0 && !executors_.contains({name, f->version()})) {
        warm.push_back(*f);
      }
    }
    for (const auto& [key, executor] : executors_) executors.push_back(executor);
  }
  for (const v1::Function& f : warm) {
    if (absl::StatusOr<std::shared_ptr<Executor>> e = ExecutorFor(f); e.ok()) {
      executors.push_back(*e);
    }
  }
  for (const std::shared_ptr<Executor>& executor : executors) executor->Maintain(now);
}

absl::StatusOr<v1::Function> FunctionRegistry::Get(const std::string& name, uint64_t version) {
  absl::StatusOr<std::shared_ptr<const v1::Function>> function = GetShared(name, version);
  if (!function.ok()) return function.status();
  return **function;
}

absl::StatusOr<std::shared_ptr<const v1::Function>> FunctionRegistry::GetShared(
    const std::string& name, uint64_t version) {
  {
    absl::MutexLock lock(&mu_);
    auto it = latest_.find(name);
    if (it == latest_.end()) {
      return absl::NotFoundError(absl::StrCat("function \"", name, "\" not found"));
    }
    if (version == 0 || version == it->second->version()) return it->second;
    if (version > it->second->version()) {
      return absl::NotFoundError(absl::StrCat("function \"", name, "\" has no version ", version,
                                              " (latest is ", it->second->version(), ")"));
    }
  }
  absl::StatusOr<v1::Function> stored = store_->GetFunction(name, version);
  if (!stored.ok()) return stored.status();
  return std::make_shared<const v1::Function>(*std::move(stored));
}

std::vector<v1::Function> FunctionRegistry::List() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Function> out;
  out.reserve(latest_.size());
  for (const auto& [name, f] : latest_) out.push_back(*f);
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
    versions = it->second->version();
  }
  WriteBatch batch;
  batch.DeleteFunction(name);
  if (absl::Status s = store_->Commit(batch); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    latest_.erase(name);
  }
  RetireExecutors(name, /*keep=*/0);
  return versions;
}

absl::StatusOr<std::shared_ptr<Executor>> FunctionRegistry::ExecutorFor(
    const v1::Function& function) {
  const std::pair<std::string, uint64_t> key(function.spec().name(), function.version());
  {
    absl::MutexLock lock(&mu_);
    if (auto it = executors_.find(key); it != executors_.end()) return it->second;
  }
  absl::StatusOr<std::shared_ptr<Executor>> created =
      factory_->Create(function, artifacts_->PathOf(function.sha256()));
  if (!created.ok()) return created.status();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = executors_.try_emplace(key, *std::move(created));
  return it->second;
}

}  // namespace sluice
