// Store factories for typed tests that run against every Store
// implementation: `Open` returns a new, empty store; `rocks` returns the
// store as a RocksDbStore, or null for the in-memory one.
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/memory_store.h"
#include "runtime/rocksdb_store.h"
#include "tests/support/scoped_temp_dir.h"

namespace sluice {

class MemoryStoreFactory {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open() { return NewMemoryStore(); }
  static RocksDbStore* rocks(Store*) { return nullptr; }
};

class RocksDbStoreFactory {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open() {
    if (dir_.path().empty()) return absl::InternalError("mkdtemp failed");
    return OpenRocksDbStore(dir_.path() + "/db");
  }
  static RocksDbStore* rocks(Store* store) { return static_cast<RocksDbStore*>(store); }

 private:
  testing::ScopedTempDir dir_{"store_test_"};
};

using StoreTypes = ::testing::Types<MemoryStoreFactory, RocksDbStoreFactory>;

// StoreTypeNames names the typed tests by implementation.
class StoreTypeNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemoryStoreFactory>) return "MemoryStore";
    if (std::is_same_v<T, RocksDbStoreFactory>) return "RocksDbStore";
    return "Unknown";
  }
};

}  // namespace sluice
