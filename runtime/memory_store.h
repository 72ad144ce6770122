// MemoryStore: a Store that keeps everything in process memory, for tests
// and for components that need a Store without a disk.
#pragma once

#include <memory>

#include "runtime/store.h"

namespace sluice {

// NewMemoryStore returns an empty Store held in memory. It is thread-safe and
// behaves like RocksDbStore in every respect but one: nothing survives the
// returned object, so "durable" means "visible to later reads". Never null.
std::unique_ptr<Store> NewMemoryStore();

}  // namespace sluice
