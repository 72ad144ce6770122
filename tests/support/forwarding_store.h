// ForwardingStore: a Store that passes every call to another one, for tests
// that wrap a real store to observe or disturb some of its calls.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/store.h"

namespace sluice::testing {

// ForwardingStore forwards every method to `inner`, which must outlive it.
// Subclasses override what they observe. Thread-safe as `inner` is.
class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store* inner) : inner_(inner) {}

  absl::Status Commit(const WriteBatch& batch) override { return inner_->Commit(batch); }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::StatusOr<v1::Function> GetFunction(const std::string& name, uint64_t version) override {
    return inner_->GetFunction(name, version);
  }
  absl::StatusOr<std::vector<v1::Function>> ListFunctions() override {
    return inner_->ListFunctions();
  }
  absl::StatusOr<v1::Invocation> GetInvocation(const std::string& id) override {
    return inner_->GetInvocation(id);
  }
  absl::StatusOr<std::vector<v1::Invocation>> ListInvocations(
      const InvocationFilter& filter) override {
    return inner_->ListInvocations(filter);
  }
  absl::Status ForEachUnfinished(const std::function<void(const v1::Invocation&)>& fn) override {
    return inner_->ForEachUnfinished(fn);
  }
  absl::StatusOr<std::vector<v1::Invocation>> ScanInvocations(const std::string& after_id,
                                                              size_t limit) override {
    return inner_->ScanInvocations(after_id, limit);
  }
  absl::StatusOr<std::string> GetIdempotencyKey(const std::string& function,
                                                const std::string& key) override {
    return inner_->GetIdempotencyKey(function, key);
  }
  absl::StatusOr<std::string> GetEntry(Table table, const std::string& key) override {
    return inner_->GetEntry(table, key);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanEntries(
      Table table, const std::string& after_key, size_t limit) override {
    return inner_->ScanEntries(table, after_key, limit);
  }

 protected:
  Store* inner() const { return inner_; }

 private:
  Store* const inner_;
};

}  // namespace sluice::testing
