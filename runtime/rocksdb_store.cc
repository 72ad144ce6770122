// RocksDbStore: the Store on RocksDB.
//
// Key layout (values are serialized protobufs unless noted):
//   f/<name>/<version, 20 decimal digits>  v1::Function
//   i/<id>                                 v1::Invocation without its payload
//   p/<id>                                 the payload of i/<id> (raw bytes);
//                                          absent when it is empty
//   u/<id>                                 empty; present exactly while i/<id>
//                                          is PENDING or RUNNING
//   k/<function>/<idempotency key>         invocation id (raw bytes)
// Function names never contain '/' (WriteBatch::Validate), so the versions of
// one name are the contiguous key range ["f/<name>/", "f/<name>0"), and in an
// idempotency key the first '/' after "k/" ends the function name: the
// idempotency key (arbitrary bytes, '/' included) is everything after it, so
// distinct (function, key) pairs never share a RocksDB key.
//
// The payload has a key of its own so that an invocation's state changes,
// which rewrite its record, do not write the payload again
// (WriteBatch::UpdateInvocation). Stores written before that kept the
// payload inside i/<id>; opening one moves the payloads out once, and
// m/format records that it is done (kFormat).
#include "runtime/rocksdb_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/snapshot.h"
#include "rocksdb/write_batch.h"

namespace sluice {
namespace {

constexpr absl::string_view kFunctionPrefix = "f/";
constexpr absl::string_view kInvocationPrefix = "i/";
constexpr absl::string_view kUnfinishedPrefix = "u/";
constexpr absl::string_view kPayloadPrefix = "p/";
// The layout version of the store: "2" once payloads have keys of their own.
constexpr char kFormatKey[] = "m/format";
constexpr char kFormat[] = "2";
constexpr absl::string_view kIdempotencyPrefix = "k/";
// Entries of the other tables (see Table): "t/", "e/", "c/", "s/" + key.
constexpr absl::string_view kTriggerPrefix = "t/";
constexpr absl::string_view kSchedulePrefix = "s/";
constexpr absl::string_view kEventPrefix = "e/";
constexpr absl::string_view kCallbackPrefix = "c/";
constexpr size_t kVersionDigits = 20;  // enough for any uint64_t
constexpr char kLockFileName[] = "sluice.lock";
constexpr char kDataDirInUseUrl[] = "type.sluice.dev/sluice.DataDirInUse";

std::string FunctionPrefix(absl::string_view name) {
  return absl::StrCat(kFunctionPrefix, name, "/");
}

std::string FunctionKey(absl::string_view name, uint64_t version) {
  return absl::StrFormat("%s%s/%020u", kFunctionPrefix, name, version);
}

std::string InvocationKey(absl::string_view id) { return absl::StrCat(kInvocationPrefix, id); }

std::string UnfinishedKey(absl::string_view id) { return absl::StrCat(kUnfinishedPrefix, id); }

std::string PayloadKey(absl::string_view id) { return absl::StrCat(kPayloadPrefix, id); }

std::string IdempotencyKey(absl::string_view function, absl::string_view key) {
  return absl::StrCat(kIdempotencyPrefix, function, "/", key);
}

absl::string_view TablePrefix(Table table) {
  switch (table) {
    case Table::kTriggers:
      return kTriggerPrefix;
    case Table::kEvents:
      return kEventPrefix;
    case Table::kCallbacks:
      return kCallbackPrefix;
    case Table::kSchedules:
      return kSchedulePrefix;
  }
  return kTriggerPrefix;
}

std::string EntryKey(Table table, absl::string_view key) {
  return absl::StrCat(TablePrefix(table), key);
}

// PrefixEnd returns the smallest key greater than every key starting with
// `prefix`, which must end with '/'.
std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  end.back() = '/' + 1;
  return end;
}

bool IsUnfinished(v1::InvocationState state) {
  return state == v1::PENDING || state == v1::RUNNING;
}

absl::string_view ToStringView(const rocksdb::Slice& slice) { return {slice.data(), slice.size()}; }

// SerializeWithoutPayload writes `invocation` to `out` as it is stored in
// i/<id>: serialized, with the payload's field cut out (what serializing a
// copy without the payload gives, without copying the message). False if
// it cannot be serialized.
bool SerializeWithoutPayload(const v1::Invocation& invocation, std::string* out) {
  using google::protobuf::internal::WireFormatLite;
  if (!invocation.SerializeToString(out)) return false;
  if (invocation.payload().empty()) return true;  // an empty field is not serialized
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(out->data()),
                                               static_cast<int>(out->size()));
  while (true) {
    const int begin = input.CurrentPosition();
    const uint32_t tag = input.ReadTag();
    if (tag == 0) return false;  // the payload was not found
    if (!WireFormatLite::SkipField(&input, tag)) return false;
    if (WireFormatLite::GetTagFieldNumber(tag) == v1::Invocation::kPayloadFieldNumber) {
      out->erase(begin, input.CurrentPosition() - begin);
      return true;
    }
  }
}

// PutInvocationRecord adds to `writes` the record of `invocation` (without
// its payload) and its entry in the index of unfinished invocations.
rocksdb::Status PutInvocationRecord(const v1::Invocation& invocation, rocksdb::WriteBatch& writes,
                                    std::string& scratch) {
  if (!SerializeWithoutPayload(invocation, &scratch)) {
    return rocksdb::Status::InvalidArgument("cannot be serialized");
  }
  rocksdb::Status status = writes.Put(InvocationKey(invocation.id()), scratch);
  if (!status.ok()) return status;
  return IsUnfinished(invocation.state()) ? writes.Put(UnfinishedKey(invocation.id()), "")
                                          : writes.Delete(UnfinishedKey(invocation.id()));
}

// PutPayload adds to `writes` the payload of `invocation`: its key, or no
// key when it is empty.
rocksdb::Status PutPayload(const v1::Invocation& invocation, rocksdb::WriteBatch& writes) {
  return invocation.payload().empty()
             ? writes.Delete(PayloadKey(invocation.id()))
             : writes.Put(PayloadKey(invocation.id()), invocation.payload());
}

// FunctionNameOf returns the name in a function key (pointing into `key`),
// or nothing when `key` is not a well-formed function key.
std::optional<absl::string_view> FunctionNameOf(absl::string_view key) {
  if (!absl::StartsWith(key, kFunctionPrefix) ||
      key.size() < kFunctionPrefix.size() + 2 + kVersionDigits) {
    return std::nullopt;
  }
  const size_t slash = key.size() - kVersionDigits - 1;
  uint64_t version;
  if (key[slash] != '/' || !absl::SimpleAtoi(key.substr(slash + 1), &version)) {
    return std::nullopt;
  }
  return key.substr(kFunctionPrefix.size(), slash - kFunctionPrefix.size());
}

// FromRocks converts a RocksDB error; `what` says what was being done, with
// the path.
absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", status.ToString());
  switch (status.code()) {
    case rocksdb::Status::kOk:
      return absl::OkStatus();
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
      if (status.IsPathNotFound()) return absl::NotFoundError(message);
      return absl::UnavailableError(message);
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(message);
    case rocksdb::Status::kTimedOut:
      return absl::DeadlineExceededError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    case rocksdb::Status::kCompactionTooLarge:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

// ScopedRead is ReadOptions confined to the keys that start with `prefix`.
// Not copyable: the options point into it.
class ScopedRead {
 public:
  explicit ScopedRead(absl::string_view prefix, const rocksdb::Snapshot* snapshot = nullptr)
      : lower_(prefix), upper_(PrefixEnd(prefix)), lower_slice_(lower_), upper_slice_(upper_) {
    options_.iterate_lower_bound = &lower_slice_;
    options_.iterate_upper_bound = &upper_slice_;
    options_.snapshot = snapshot;
  }
  ScopedRead(const ScopedRead&) = delete;
  ScopedRead& operator=(const ScopedRead&) = delete;

  const rocksdb::ReadOptions& options() const { return options_; }

 private:
  const std::string lower_;
  const std::string upper_;
  const rocksdb::Slice lower_slice_;
  const rocksdb::Slice upper_slice_;
  rocksdb::ReadOptions options_;
};

// DataDirLock holds an exclusive flock(2) on a file in the data directory.
// flock locks belong to an open file description, so a second open in the
// same process conflicts too.
class DataDirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / kLockFileName).string();
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      close(fd);
      if (error == EWOULDBLOCK) {
        absl::Status status = absl::FailedPreconditionError(
            absl::StrCat("data dir ", dir, " is in use by another sluice process"));
        status.SetPayload(kDataDirInUseUrl, absl::Cord());
        return status;
      }
      return absl::ErrnoToStatus(error, absl::StrCat("lock ", path));
    }
    return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
  }

  ~DataDirLock() { close(fd_); }
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  const int fd_;
};

class RocksDbStoreImpl final : public RocksDbStore {
 public:
  RocksDbStoreImpl(std::string path, std::unique_ptr<DataDirLock> lock,
                   std::unique_ptr<rocksdb::DB> db)
      : path_(std::move(path)), lock_(std::move(lock)), db_(std::move(db)) {}

  ~RocksDbStoreImpl() override {
    // Close reports errors that the destructor of DB would swallow; nothing
    // can be done about them here, and every commit was already synced.
    db_->Close().PermitUncheckedError();
  }

  // UpgradeFormat brings a store written by an earlier version to kFormat:
  // it moves each payload kept inside its record to a key of its own, in
  // batches, then records the format, synced. An interrupted upgrade is
  // finished by the next open (a record already moved has no payload
  // inside). FailedPrecondition for a store of a later format.
  absl::Status UpgradeFormat() {
    std::string format;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), kFormatKey, &format);
    if (status.ok()) {
      if (format == kFormat) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat("the store in ", path_, " has format \"",
                                                        format, "\", which this sluice (format ",
                                                        kFormat, ") cannot read"));
    }
    if (!status.IsNotFound()) {
      return FromRocks(status, absl::StrCat("read ", kFormatKey, " in ", path_));
    }
    constexpr size_t kBatchBytes = 4 << 20;
    ScopedRead read(kInvocationPrefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    rocksdb::WriteBatch writes;
    std::string value;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      v1::Invocation invocation;
      // A record that does not parse is left as it is: reading it reports it.
      if (!invocation.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
          invocation.payload().empty()) {
        continue;
      }
      status = PutPayload(invocation, writes);
      if (status.ok()) status = PutInvocationRecord(invocation, writes, value);
      if (status.ok() && writes.GetDataSize() >= kBatchBytes) {
        status = db_->Write(rocksdb::WriteOptions(), &writes);
        writes.Clear();
      }
      if (!status.ok()) return FromRocks(status, absl::StrCat("upgrade the store in ", path_));
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("upgrade the store in ", path_));
    }
    status = writes.Put(kFormatKey, kFormat);
    rocksdb::WriteOptions synced;
    synced.sync = true;
    if (status.ok()) status = db_->Write(synced, &writes);
    return FromRocks(status, absl::StrCat("upgrade the store in ", path_));
  }

  absl::Status Commit(const WriteBatch& batch) override {
    if (absl::Status status = batch.Validate(); !status.ok()) return status;
    if (batch.empty()) return absl::OkStatus();
    rocksdb::WriteBatch writes;
    std::string value;
    for (const WriteBatch::Op& op : batch.ops()) {
      rocksdb::Status status;
      switch (op.kind) {
        case WriteBatch::Op::Kind::kPutFunction:
          if (!op.function.SerializeToString(&value)) {
            return absl::InvalidArgumentError(absl::StrCat(
                "function ", op.key, " version ", op.function.version(), " cannot be serialized"));
          }
          status = writes.Put(FunctionKey(op.key, op.function.version()), value);
          break;
        case WriteBatch::Op::Kind::kDeleteFunction: {
          const std::string prefix = FunctionPrefix(op.key);
          status = writes.DeleteRange(prefix, PrefixEnd(prefix));
          break;
        }
        case WriteBatch::Op::Kind::kPutInvocation:
        case WriteBatch::Op::Kind::kUpdateInvocation:
          status = PutInvocationRecord(*op.invocation, writes, value);
          if (status.IsInvalidArgument()) {
            return absl::InvalidArgumentError(
                absl::StrCat("invocation ", op.key, " cannot be serialized"));
          }
          if (status.ok() && op.kind == WriteBatch::Op::Kind::kPutInvocation) {
            status = PutPayload(*op.invocation, writes);
          }
          break;
        case WriteBatch::Op::Kind::kDeleteInvocation:
          status = writes.Delete(InvocationKey(op.key));
          if (status.ok()) status = writes.Delete(UnfinishedKey(op.key));
          if (status.ok()) status = writes.Delete(PayloadKey(op.key));
          break;
        case WriteBatch::Op::Kind::kPutIdempotencyKey:
          status = writes.Put(IdempotencyKey(op.key, op.idempotency_key), op.invocation_id);
          break;
        case WriteBatch::Op::Kind::kDeleteIdempotencyKey:
          status = writes.Delete(IdempotencyKey(op.key, op.idempotency_key));
          break;
        case WriteBatch::Op::Kind::kPutEntry:
          status = writes.Put(EntryKey(op.table, op.key), op.value);
          break;
        case WriteBatch::Op::Kind::kDeleteEntry:
          status = writes.Delete(EntryKey(op.table, op.key));
          break;
      }
      if (!status.ok()) return FromRocks(status, absl::StrCat("build batch for ", path_));
    }
    rocksdb::WriteOptions options;
    options.sync = batch.sync();
    return FromRocks(db_->Write(options, &writes), absl::StrCat("commit to ", path_));
  }

  absl::Status Sync() override {
    return FromRocks(db_->SyncWAL(), absl::StrCat("sync the log of ", path_));
  }

  absl::StatusOr<v1::Function> GetFunction(const std::string& name, uint64_t version) override {
    if (version != 0) {
      const std::string key = FunctionKey(name, version);
      std::string value;
      rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), key, &value);
      if (status.IsNotFound()) {
        return absl::NotFoundError(
            absl::StrCat("function ", name, " version ", version, " not found"));
      }
      if (!status.ok()) return FromRocks(status, absl::StrCat("read ", key, " in ", path_));
      return Parse<v1::Function>(key, value);
    }
    // The latest version is the last key of the name's range.
    const std::string prefix = FunctionPrefix(name);
    ScopedRead read(prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    it->SeekToLast();
    if (it->Valid()) return Parse<v1::Function>(it->key(), it->value());
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("read ", prefix, " in ", path_));
    }
    return absl::NotFoundError(absl::StrCat("function ", name, " not found"));
  }

  absl::StatusOr<std::vector<v1::Function>> ListFunctions() override {
    // Walk backwards: the first key met of each name is its latest version;
    // then jump to just before the name's range.
    std::vector<v1::Function> functions;
    ScopedRead read(kFunctionPrefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    it->SeekToLast();
    while (it->Valid()) {
      const std::optional<absl::string_view> name = FunctionNameOf(ToStringView(it->key()));
      if (!name.has_value()) {
        return absl::DataLossError(
            absl::StrCat("malformed function key \"", ToStringView(it->key()), "\" in ", path_));
      }
      absl::StatusOr<v1::Function> function = Parse<v1::Function>(it->key(), it->value());
      if (!function.ok()) return function.status();
      functions.push_back(*std::move(function));
      it->SeekForPrev(FunctionPrefix(*name));
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("list functions in ", path_));
    }
    // Key order is not name order: '-' sorts before the '/' that ends a name.
    std::sort(functions.begin(), functions.end(), [](const v1::Function& a, const v1::Function& b) {
      return a.spec().name() < b.spec().name();
    });
    return functions;
  }

  absl::StatusOr<v1::Invocation> GetInvocation(const std::string& id) override {
    const std::string key = InvocationKey(id);
    // The record and its payload are read from one snapshot, so that a
    // delete between the two reads cannot leave the record without it.
    rocksdb::ManagedSnapshot snapshot(db_.get());
    rocksdb::ReadOptions options;
    options.snapshot = snapshot.snapshot();
    std::string value;
    rocksdb::Status status = db_->Get(options, key, &value);
    if (status.IsNotFound()) {
      return absl::NotFoundError(absl::StrCat("invocation ", id, " not found"));
    }
    if (!status.ok()) return FromRocks(status, absl::StrCat("read ", key, " in ", path_));
    return ParseInvocation(options, key, value);
  }

  absl::StatusOr<std::vector<v1::Invocation>> ListInvocations(
      const InvocationFilter& filter) override {
    std::vector<v1::Invocation> invocations;
    if (filter.limit == 0) return invocations;
    // Records and payloads are read from one snapshot, so they agree.
    rocksdb::ManagedSnapshot snapshot(db_.get());
    ScopedRead read(kInvocationPrefix, snapshot.snapshot());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    if (filter.before_id.empty()) {
      it->SeekToLast();
    } else {
      const std::string before = InvocationKey(filter.before_id);
      it->SeekForPrev(before);
      if (it->Valid() && it->key() == before) it->Prev();
    }
    for (; it->Valid() && invocations.size() < filter.limit; it->Prev()) {
      absl::StatusOr<v1::Invocation> invocation = Parse<v1::Invocation>(it->key(), it->value());
      if (!invocation.ok()) return invocation.status();
      if (!filter.function.empty() && invocation->function() != filter.function) continue;
      if (filter.state != v1::INVOCATION_STATE_UNSPECIFIED && invocation->state() != filter.state) {
        continue;
      }
      if (filter.dead_lettered && !invocation->dead_lettered()) continue;
      if (filter.with_payloads) {
        if (absl::Status s = LoadPayload(read.options(), *invocation); !s.ok()) return s;
      }
      invocations.push_back(*std::move(invocation));
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("list invocations in ", path_));
    }
    return invocations;
  }

  absl::StatusOr<std::vector<v1::Invocation>> ScanInvocations(const std::string& after_id,
                                                              size_t limit) override {
    std::vector<v1::Invocation> invocations;
    if (limit == 0) return invocations;
    ScopedRead read(kInvocationPrefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    if (after_id.empty()) {
      it->SeekToFirst();
    } else {
      const std::string after = InvocationKey(after_id);
      it->Seek(after);
      if (it->Valid() && it->key() == after) it->Next();
    }
    for (; it->Valid() && invocations.size() < limit; it->Next()) {
      absl::StatusOr<v1::Invocation> invocation = Parse<v1::Invocation>(it->key(), it->value());
      if (!invocation.ok()) return invocation.status();
      invocations.push_back(*std::move(invocation));
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("scan invocations in ", path_));
    }
    return invocations;
  }

  absl::StatusOr<std::string> GetIdempotencyKey(const std::string& function,
                                                const std::string& key) override {
    std::string id;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), IdempotencyKey(function, key), &id);
    if (status.IsNotFound()) {
      return absl::NotFoundError(
          absl::StrCat("idempotency key of function ", function, " not found"));
    }
    if (!status.ok()) {
      return FromRocks(status, absl::StrCat("read idempotency key of ", function, " in ", path_));
    }
    return id;
  }

  absl::StatusOr<std::string> GetEntry(Table table, const std::string& key) override {
    const std::string stored_key = EntryKey(table, key);
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), stored_key, &value);
    if (status.IsNotFound()) return absl::NotFoundError(absl::StrCat("entry ", key, " not found"));
    if (!status.ok()) return FromRocks(status, absl::StrCat("read ", stored_key, " in ", path_));
    return value;
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ScanEntries(
      Table table, const std::string& after_key, size_t limit) override {
    std::vector<std::pair<std::string, std::string>> entries;
    if (limit == 0) return entries;
    const absl::string_view prefix = TablePrefix(table);
    ScopedRead read(prefix);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    if (after_key.empty()) {
      it->SeekToFirst();
    } else {
      const std::string after = EntryKey(table, after_key);
      it->Seek(after);
      if (it->Valid() && it->key() == after) it->Next();
    }
    for (; it->Valid() && entries.size() < limit; it->Next()) {
      entries.emplace_back(std::string(ToStringView(it->key()).substr(prefix.size())),
                           it->value().ToString());
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), absl::StrCat("scan ", prefix, " in ", path_));
    }
    return entries;
  }

  uint64_t ApproximateLiveBytes() override {
    uint64_t bytes = 0;
    if (!db_->GetIntProperty(rocksdb::DB::Properties::kEstimateLiveDataSize, &bytes)) return 0;
    return bytes;
  }

  absl::Status CompactAll() override {
    // Flush first so that data still in the memtable is compacted too.
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (rocksdb::Status status = db_->Flush(flush); !status.ok()) {
      return FromRocks(status, absl::StrCat("flush ", path_));
    }
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    return FromRocks(db_->CompactRange(options, nullptr, nullptr), absl::StrCat("compact ", path_));
  }

  absl::Status ForEachUnfinished(const std::function<void(const v1::Invocation&)>& fn) override {
    // Index and invocations are read from one snapshot, so they agree.
    rocksdb::ManagedSnapshot snapshot(db_.get());
    ScopedRead read(kUnfinishedPrefix, snapshot.snapshot());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read.options()));
    std::string value;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const absl::string_view id = ToStringView(it->key()).substr(kUnfinishedPrefix.size());
      const std::string key = InvocationKey(id);
      rocksdb::Status status = db_->Get(read.options(), key, &value);
      if (status.IsNotFound()) {
        return absl::DataLossError(absl::StrCat("index key ", ToStringView(it->key()),
                                                " names a missing invocation in ", path_));
      }
      if (!status.ok()) return FromRocks(status, absl::StrCat("read ", key, " in ", path_));
      absl::StatusOr<v1::Invocation> invocation = ParseInvocation(read.options(), key, value);
      if (!invocation.ok()) return invocation.status();
      if (!IsUnfinished(invocation->state())) {
        return absl::DataLossError(absl::StrCat("index key ", ToStringView(it->key()),
                                                " names a finished invocation in ", path_));
      }
      fn(*invocation);
    }
    return FromRocks(it->status(), absl::StrCat("scan unfinished invocations in ", path_));
  }

 private:
  // ParseInvocation decodes the record stored at `key` and adds its payload,
  // read with `options` (the snapshot of the record's read, if any).
  absl::StatusOr<v1::Invocation> ParseInvocation(const rocksdb::ReadOptions& options,
                                                 const rocksdb::Slice& key,
                                                 const rocksdb::Slice& value) const {
    absl::StatusOr<v1::Invocation> invocation = Parse<v1::Invocation>(key, value);
    if (!invocation.ok()) return invocation.status();
    if (absl::Status s = LoadPayload(options, *invocation); !s.ok()) return s;
    return invocation;
  }

  // LoadPayload sets the payload of `invocation`, parsed from its record,
  // from p/<id>; a missing key is an empty payload.
  absl::Status LoadPayload(const rocksdb::ReadOptions& options, v1::Invocation& invocation) const {
    const std::string key = PayloadKey(invocation.id());
    // ReadOptions bounded to another prefix would hide the key.
    rocksdb::ReadOptions point;
    point.snapshot = options.snapshot;
    std::string payload;
    rocksdb::Status status = db_->Get(point, key, &payload);
    if (status.IsNotFound()) return absl::OkStatus();
    if (!status.ok()) return FromRocks(status, absl::StrCat("read ", key, " in ", path_));
    *invocation.mutable_payload() = std::move(payload);
    return absl::OkStatus();
  }

  // Parse decodes the value stored at `key`; DataLoss naming the key if it
  // is not a valid T.
  template <typename T>
  absl::StatusOr<T> Parse(const rocksdb::Slice& key, const rocksdb::Slice& value) const {
    T message;
    if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError(
          absl::StrCat("corrupt value at key \"", ToStringView(key), "\" in ", path_));
    }
    return message;
  }

  // Constant after construction. lock_ is released after db_ is closed.
  const std::string path_;
  const std::unique_ptr<DataDirLock> lock_;
  const std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbStore>> OpenRocksDbStore(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return absl::ErrnoToStatus(error.value(), absl::StrCat("create data dir ", path));
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock = DataDirLock::Acquire(path);
  if (!lock.ok()) return lock.status();

  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.keep_log_file_num = 10;  // RocksDB's own info logs, one per restart
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, path, &db);
  if (!status.ok()) return FromRocks(status, absl::StrCat("open store ", path));
  auto store =
      std::make_unique<RocksDbStoreImpl>(path, *std::move(lock), std::unique_ptr<rocksdb::DB>(db));
  if (absl::Status upgraded = store->UpgradeFormat(); !upgraded.ok()) return upgraded;
  return store;
}

bool IsDataDirInUse(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         status.GetPayload(kDataDirInUseUrl).has_value();
}

}  // namespace sluice
