// MemoryStore: ordered maps under one mutex.
#include "runtime/memory_store.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace sluice {
namespace {

bool IsUnfinished(v1::InvocationState state) {
  return state == v1::PENDING || state == v1::RUNNING;
}

class MemoryStore final : public Store {
 public:
  absl::Status Commit(const WriteBatch& batch) override {
    if (absl::Status status = batch.Validate(); !status.ok()) return status;
    absl::MutexLock lock(&mu_);
    for (const WriteBatch::Op& op : batch.ops()) {
      switch (op.kind) {
        case WriteBatch::Op::Kind::kPutFunction:
          functions_[op.key][op.function.version()] = op.function;
          break;
        case WriteBatch::Op::Kind::kDeleteFunction:
          functions_.erase(op.key);
          break;
        case WriteBatch::Op::Kind::kPutInvocation:
          invocations_[op.key] = *op.invocation;
          break;
        case WriteBatch::Op::Kind::kUpdateInvocation: {
          v1::Invocation& stored = invocations_[op.key];
          std::string payload = std::move(*stored.mutable_payload());
          stored = *op.invocation;
          *stored.mutable_payload() = std::move(payload);
          break;
        }
        case WriteBatch::Op::Kind::kDeleteInvocation:
          invocations_.erase(op.key);
          break;
        case WriteBatch::Op::Kind::kPutIdempotencyKey:
          idempotency_keys_[{op.key, op.idempotency_key}] = op.invocation_id;
          break;
        case WriteBatch::Op::Kind::kDeleteIdempotencyKey:
          idempotency_keys_.erase({op.key, op.idempotency_key});
          break;
        case WriteBatch::Op::Kind::kPutEntry:
          entries_[{op.table, op.key}] = op.value;
          break;
        case WriteBatch::Op::Kind::kDeleteEntry:
          entries_.erase({op.table, op.key});
          break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override { return absl::OkStatus(); }  // nothing outlives the process

  absl::StatusOr<v1::Function> GetFunction(const std::string& name, uint64_t version) override {
    absl::MutexLock lock(&mu_);
    auto versions = functions_.find(name);
    if (versions == functions_.end() || versions->second.empty()) {
      return absl::NotFoundError(absl::StrCat("function ", name, " not found"));
    }
    if (version == 0) return versions->second.rbegin()->second;
    auto it = versions->second.find(version);
    if (it == versions->second.end()) {
      return absl::NotFoundError(
          absl::StrCat("function ", name, " version ", version, " not found"));
    }
    return it->second;
  }

  absl::StatusOr<std::vector<v1::Function>> ListFunctions() override {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Function> functions;
    functions.reserve(functions_.size());
    for (const auto& [name, versions] : functions_) {
      if (!versions.empty()) functions.push_back(versions.rbegin()->second);
    }
    return functions;
  }

  absl::StatusOr<v1::Invocation> GetInvocation(const std::string& id) override {
    absl::MutexLock lock(&mu_);
    auto it = invocations_.find(id);
    if (it == invocations_.end()) {
      return absl::NotFoundError(absl::StrCat("invocation ", id, " not found"));
    }
    return it->second;
  }

  absl::StatusOr<std::vector<v1::Invocation>> ListInvocations(
      const InvocationFilter& filter) override {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Invocation> invocations;
    auto it =
        filter.before_id.empty() ? invocations_.end() : invocations_.lower_bound(filter.before_id);
    while (it != invocations_.begin() && invocations.size() < filter.limit) {
      --it;
      const v1::Invocation& invocation = it->second;
      if (!filter.function.empty() && invocation.function() != filter.function) continue;
      if (filter.state != v1::INVOCATION_STATE_UNSPECIFIED && invocation.state() != filter.state) {
        continue;
      }
      if (filter.dead_lettered && !invocation.dead_lettered()) continue;
      invocations.push_back(invocation);
      if (!filter.with_payloads) invocations.back().clear_payload();
    }
    return invocations;
  }

  absl::StatusOr<std::vector<v1::Invocation>> ScanInvocations(const std::string& after_id,
                                                              size_t limit) override {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Invocation> invocations;
    for (auto it = invocations_.upper_bound(after_id);
         it != invocations_.end() && invocations.size() < limit; ++it) {
      invocations.push_back(it->second);
      invocations.back().clear_payload();
    }
    return invocations;
  }

  absl::StatusOr<std::string> GetIdempotencyKey(const std::string& function,
                                                const std::string& key) override {
    absl::MutexLock lock(&mu_);
    auto it = idempotency_keys_.find({function, key});
    if (it == idempotency_keys_.end()) {
      return absl::NotFoundError(
          absl::StrCat("idempotency key of function ", function, " not found"));
    }
    return it->second;
  }

  absl::StatusOr<std::string> GetEntry(Table table, const std::string& key) override {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find({table, key});
    if (it == entries_.end()) return absl::NotFoundError(absl::StrCat("entry ", key, " not found"));
    return it->second;
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanEntries(
      Table table, const std::string& after_key, size_t limit) override {
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<std::string, std::string>> entries;
    for (auto it = entries_.upper_bound({table, after_key});
         it != entries_.end() && it->first.first == table && entries.size() < limit; ++it) {
      entries.emplace_back(it->first.second, it->second);
    }
    return entries;
  }

  absl::Status ForEachUnfinished(const std::function<void(const v1::Invocation&)>& fn) override {
    std::vector<v1::Invocation> unfinished;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, invocation] : invocations_) {
        if (IsUnfinished(invocation.state())) unfinished.push_back(invocation);
      }
    }
    for (const v1::Invocation& invocation : unfinished) fn(invocation);
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  // Function name -> version -> function.
  std::map<std::string, std::map<uint64_t, v1::Function>> functions_ ABSL_GUARDED_BY(mu_);
  // Invocation id -> invocation; ids sort by creation time.
  std::map<std::string, v1::Invocation> invocations_ ABSL_GUARDED_BY(mu_);
  // (function, idempotency key) -> invocation id.
  std::map<std::pair<std::string, std::string>, std::string> idempotency_keys_ ABSL_GUARDED_BY(mu_);
  // (table, key) -> value.
  std::map<std::pair<Table, std::string>, std::string> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace sluice
