// Store: the durable home of function versions and background invocations.
//
// The interface is storage-agnostic; RocksDbStore (rocksdb_store.h) is the
// embedded implementation and MemoryStore (memory_store.h) keeps everything
// in memory for tests. Both pass one conformance suite
// (tests/runtime/store_conformance_test.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sluice/v1/functions.pb.h"
#include "sluice/v1/invocations.pb.h"

namespace sluice {

// Table names a keyspace of opaque entries (key -> bytes) that components
// other than the invocation engine keep in the store. Keys are non-empty
// byte strings; entries of a table are listed in key order.
enum class Table {
  kTriggers,   // trigger name -> v1::Trigger
  kEvents,     // event source '\0' event id -> publish time (deduplication)
  kCallbacks,  // invocation id -> a pending gRPC callback delivery
  kSchedules,  // trigger name -> the last time its schedule fired
};

// WriteBatch collects writes that a Store applies atomically, in the order
// they were added. Not thread-safe; cheap to move.
class WriteBatch {
 public:
  struct Op {
    enum class Kind {
      kPutFunction,
      kDeleteFunction,
      kPutInvocation,
      kUpdateInvocation,
      kDeleteInvocation,
      kPutIdempotencyKey,
      kDeleteIdempotencyKey,
      kPutEntry,
      kDeleteEntry,
    };
    Kind kind;
    std::string key;                 // function name or invocation id
    std::string idempotency_key;     // k*IdempotencyKey (key is the function name)
    std::string invocation_id;       // kPutIdempotencyKey
    Table table = Table::kTriggers;  // k*Entry (key is the entry's key)
    std::string value;               // kPutEntry
    v1::Function function;           // kPutFunction
    // k*Invocation; shared, so that the engine hands over its snapshot
    // without a copy. Never null in a kPutInvocation or kUpdateInvocation.
    std::shared_ptr<const v1::Invocation> invocation;
  };

  // PutFunction stores one version; the key is (spec.name, version). A
  // store rejects the batch if the name is empty or contains '/', or if the
  // version is 0.
  void PutFunction(const v1::Function& function);
  // DeleteFunction removes every version of `name`, including versions put
  // earlier in the same batch.
  void DeleteFunction(const std::string& name);
  // PutInvocation inserts or replaces the invocation with the same id. A
  // store rejects the batch if the id is empty.
  void PutInvocation(const v1::Invocation& invocation);
  // The same, sharing `invocation` (not null) instead of copying it.
  void PutInvocation(std::shared_ptr<const v1::Invocation> invocation);
  // UpdateInvocation replaces the invocation with the same id except its
  // payload, which stays as stored: `invocation`'s own payload is not
  // written. For state changes, which never change the payload, so that a
  // store need not write it again; an invocation not stored yet is stored
  // with an empty payload. A store rejects the batch if the id is empty.
  void UpdateInvocation(std::shared_ptr<const v1::Invocation> invocation);
  // DeleteInvocation removes the invocation `id`, if there is one.
  void DeleteInvocation(const std::string& id);
  // PutIdempotencyKey maps (function, key) to invocation `id`, replacing any
  // earlier mapping. `key` is arbitrary bytes. A store rejects the batch if
  // function, key or id is empty, or if function contains '/'.
  void PutIdempotencyKey(const std::string& function, const std::string& key,
                         const std::string& id);
  // DeleteIdempotencyKey removes the mapping of (function, key), if any. Same
  // validation as PutIdempotencyKey (but no id).
  void DeleteIdempotencyKey(const std::string& function, const std::string& key);
  // PutEntry sets the entry `key` of `table` to `value`. A store rejects
  // the batch if `key` is empty.
  void PutEntry(Table table, std::string key, std::string value);
  // DeleteEntry removes the entry `key` of `table`, if there is one.
  void DeleteEntry(Table table, std::string key);
  // Append moves all of `other`'s writes after this batch's own and leaves
  // `other` empty. The result must be synced if either had to be.
  void Append(WriteBatch&& other);
  // set_sync(false) lets Store::Commit return before the writes reach the
  // disk: they survive a crash of the process at once, and a crash of the
  // machine once a later synced commit or Store::Sync has returned. For
  // writes that nobody was promised yet (an invocation's state changes
  // after its acknowledgement); anything acknowledged to a caller stays
  // synced, the default.
  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }
  // DropSupersededInvocationPuts removes every PutInvocation or
  // UpdateInvocation followed, later in the batch, by a PutInvocation or
  // DeleteInvocation of the same id (either replaces the whole stored
  // invocation), and every UpdateInvocation followed by another
  // UpdateInvocation of the same id; the batch leaves a store exactly as
  // before. A PutInvocation followed only by updates stays: they keep the
  // payload it writes. The group committer calls it on a merged round, so
  // that an invocation whose state changed several times within one round
  // has only its last record written.
  void DropSupersededInvocationPuts();

  // Validate returns InvalidArgument naming the first malformed write (see
  // above), else OK. Store::Commit calls it before applying anything.
  absl::Status Validate() const;

  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  // AddInvocationWrite adds a write of `kind` carrying `invocation`.
  void AddInvocationWrite(Op::Kind kind, std::shared_ptr<const v1::Invocation> invocation);

  std::vector<Op> ops_;
  bool sync_ = true;
};

// InvocationFilter selects invocations for Store::ListInvocations.
struct InvocationFilter {
  // Only invocations of this function; empty: any function.
  std::string function;
  // Only invocations in this state; unspecified: any state.
  v1::InvocationState state = v1::INVOCATION_STATE_UNSPECIFIED;
  // Only ids ordered strictly before this one (ids sort by creation time);
  // empty starts from the newest. Need not name a stored invocation.
  std::string before_id;
  // At most this many results, counting only invocations that match.
  size_t limit = 100;
  // Only dead-lettered invocations.
  bool dead_lettered = false;
  // Whether the invocations carry their payloads. Without, they come with
  // empty payloads, and a store that keeps payloads apart skips reading
  // them.
  bool with_payloads = true;
};

// Store is thread-safe: any method may be called from any thread at once.
class Store {
 public:
  virtual ~Store() = default;

  // Commit applies `batch` atomically: either every write or none. When it
  // returns OK the writes survive a crash of the process, and, if
  // batch.sync() (the default), of the machine too, together with every
  // write committed before. InvalidArgument (and nothing applied) when a
  // write is malformed (see WriteBatch). An empty batch is OK and writes
  // nothing.
  virtual absl::Status Commit(const WriteBatch& batch) = 0;
  // Sync makes every write committed so far survive a crash of the machine.
  virtual absl::Status Sync() = 0;

  // GetFunction returns version `version` of `name`, or the latest version
  // when `version` is 0. NotFound when there is none.
  virtual absl::StatusOr<v1::Function> GetFunction(const std::string& name, uint64_t version) = 0;
  // ListFunctions returns the latest version of every function, by name.
  virtual absl::StatusOr<std::vector<v1::Function>> ListFunctions() = 0;

  // GetInvocation returns the invocation `id`, or NotFound.
  virtual absl::StatusOr<v1::Invocation> GetInvocation(const std::string& id) = 0;
  // ListInvocations returns at most `filter.limit` matching invocations,
  // newest (largest id) first.
  virtual absl::StatusOr<std::vector<v1::Invocation>> ListInvocations(
      const InvocationFilter& filter) = 0;
  // ForEachUnfinished calls `fn` for every PENDING or RUNNING invocation,
  // oldest first, on the calling thread and with no store lock held (`fn`
  // may call back into the store). Used once at start-up to recover the
  // queue.
  virtual absl::Status ForEachUnfinished(const std::function<void(const v1::Invocation&)>& fn) = 0;
  // ScanInvocations returns at most `limit` invocations whose ids sort
  // strictly after `after_id` (empty: from the oldest), oldest first,
  // without their payloads (empty). Used by retention GC, which decides on
  // states and times.
  virtual absl::StatusOr<std::vector<v1::Invocation>> ScanInvocations(const std::string& after_id,
                                                                      size_t limit) = 0;

  // GetIdempotencyKey returns the invocation id that (function, key) maps
  // to, or NotFound.
  virtual absl::StatusOr<std::string> GetIdempotencyKey(const std::string& function,
                                                        const std::string& key) = 0;

  // GetEntry returns the value of entry `key` of `table`, or NotFound.
  virtual absl::StatusOr<std::string> GetEntry(Table table, const std::string& key) = 0;
  // ScanEntries returns at most `limit` entries of `table` whose keys sort
  // strictly after `after_key` (empty: from the first), in key order.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanEntries(
      Table table, const std::string& after_key, size_t limit) = 0;
};

}  // namespace sluice
