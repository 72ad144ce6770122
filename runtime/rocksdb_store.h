// RocksDbStore: the embedded, durable Store, kept in one RocksDB database.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/store.h"

namespace sluice {

// RocksDbStore is the Store kept in one RocksDB database, with a few
// storage-specific extras. Thread-safe, like every Store.
class RocksDbStore : public Store {
 public:
  // ApproximateLiveBytes estimates the bytes of live data on disk (RocksDB's
  // "rocksdb.estimate-live-data-size"); deleted data stops counting once
  // compaction has dropped it. 0 when the estimate is unavailable.
  virtual uint64_t ApproximateLiveBytes() = 0;
  // CompactAll compacts the whole database now, dropping deleted data.
  // Blocks until done; for tests and maintenance.
  virtual absl::Status CompactAll() = 0;
};

// OpenRocksDbStore opens (creating it and its parent directories if missing)
// the store kept in the directory `path`. The returned Store is thread-safe
// and holds the directory exclusively until it is destroyed.
//
// Errors name `path`: FailedPrecondition "data dir <path> is in use by another
// sluice process" when another open store holds the directory, in this or any
// other process (IsDataDirInUse tells this case apart); DataLoss when the
// database is corrupt; Unavailable or ResourceExhausted on I/O failures.
absl::StatusOr<std::unique_ptr<RocksDbStore>> OpenRocksDbStore(const std::string& path);

// IsDataDirInUse tells whether `status` came from OpenRocksDbStore finding the
// directory held by another open store.
bool IsDataDirInUse(const absl::Status& status);

}  // namespace sluice
