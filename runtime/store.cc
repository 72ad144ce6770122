// WriteBatch: the storage-agnostic list of writes a Store commits.
#include "runtime/store.h"

#include <iterator>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sluice {

void WriteBatch::PutFunction(const v1::Function& function) {
  Op op;
  op.kind = Op::Kind::kPutFunction;
  op.key = function.spec().name();
  op.function = function;
  ops_.push_back(std::move(op));
}

void WriteBatch::DeleteFunction(const std::string& name) {
  Op op;
  op.kind = Op::Kind::kDeleteFunction;
  op.key = name;
  ops_.push_back(std::move(op));
}

void WriteBatch::PutInvocation(const v1::Invocation& invocation) {
  PutInvocation(std::make_shared<const v1::Invocation>(invocation));
}

void WriteBatch::PutInvocation(std::shared_ptr<const v1::Invocation> invocation) {
  AddInvocationWrite(Op::Kind::kPutInvocation, std::move(invocation));
}

void WriteBatch::UpdateInvocation(std::shared_ptr<const v1::Invocation> invocation) {
  AddInvocationWrite(Op::Kind::kUpdateInvocation, std::move(invocation));
}

void WriteBatch::AddInvocationWrite(Op::Kind kind,
                                    std::shared_ptr<const v1::Invocation> invocation) {
  Op op;
  op.kind = kind;
  op.key = invocation->id();
  op.invocation = std::move(invocation);
  ops_.push_back(std::move(op));
}

void WriteBatch::DeleteInvocation(const std::string& id) {
  Op op;
  op.kind = Op::Kind::kDeleteInvocation;
  op.key = id;
  ops_.push_back(std::move(op));
}

void WriteBatch::PutIdempotencyKey(const std::string& function, const std::string& key,
                                   const std::string& id) {
  Op op;
  op.kind = Op::Kind::kPutIdempotencyKey;
  op.key = function;
  op.idempotency_key = key;
  op.invocation_id = id;
  ops_.push_back(std::move(op));
}

void WriteBatch::DeleteIdempotencyKey(const std::string& function, const std::string& key) {
  Op op;
  op.kind = Op::Kind::kDeleteIdempotencyKey;
  op.key = function;
  op.idempotency_key = key;
  ops_.push_back(std::move(op));
}

void WriteBatch::PutEntry(Table table, std::string key, std::string value) {
  Op op;
  op.kind = Op::Kind::kPutEntry;
  op.table = table;
  op.key = std::move(key);
  op.value = std::move(value);
  ops_.push_back(std::move(op));
}

void WriteBatch::DeleteEntry(Table table, std::string key) {
  Op op;
  op.kind = Op::Kind::kDeleteEntry;
  op.table = table;
  op.key = std::move(key);
  ops_.push_back(std::move(op));
}

void WriteBatch::Append(WriteBatch&& other) {
  if (&other == this) return;
  sync_ = sync_ || other.sync_;
  if (ops_.empty()) {
    ops_ = std::move(other.ops_);
  } else {
    ops_.insert(ops_.end(), std::make_move_iterator(other.ops_.begin()),
                std::make_move_iterator(other.ops_.end()));
  }
  other.ops_.clear();
}

void WriteBatch::DropSupersededInvocationPuts() {
  absl::flat_hash_set<absl::string_view> replaced;  // ids put or deleted further on
  absl::flat_hash_set<absl::string_view> updated;   // ids updated further on
  std::vector<bool> keep(ops_.size(), true);
  bool dropped = false;
  for (size_t i = ops_.size(); i-- > 0;) {
    const Op& op = ops_[i];
    switch (op.kind) {
      case Op::Kind::kPutInvocation:
        keep[i] = !replaced.contains(op.key);
        replaced.insert(op.key);
        break;
      case Op::Kind::kUpdateInvocation:
        keep[i] = !replaced.contains(op.key) && !updated.contains(op.key);
        updated.insert(op.key);
        break;
      case Op::Kind::kDeleteInvocation:
        replaced.insert(op.key);
        break;
      default:
        break;
    }
    dropped = dropped || !keep[i];
  }
  if (!dropped) return;
  std::vector<Op> kept;
  kept.reserve(ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(ops_[i]));
  }
  ops_ = std::move(kept);
}

absl::Status WriteBatch::Validate() const {
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& op = ops_[i];
    switch (op.kind) {
      case Op::Kind::kPutFunction:
      case Op::Kind::kDeleteFunction:
        if (op.key.empty() || op.key.find('/') != std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("write ", i, ": bad function name \"", op.key, "\""));
        }
        if (op.kind == Op::Kind::kPutFunction && op.function.version() == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("write ", i, ": function ", op.key, " has version 0"));
        }
        break;
      case Op::Kind::kPutInvocation:
      case Op::Kind::kUpdateInvocation:
      case Op::Kind::kDeleteInvocation:
        if (op.key.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("write ", i, ": empty invocation id"));
        }
        break;
      case Op::Kind::kPutIdempotencyKey:
      case Op::Kind::kDeleteIdempotencyKey:
        if (op.key.empty() || op.key.find('/') != std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("write ", i, ": bad function name \"", op.key, "\""));
        }
        if (op.idempotency_key.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("write ", i, ": empty idempotency key for function ", op.key));
        }
        if (op.kind == Op::Kind::kPutIdempotencyKey && op.invocation_id.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("write ", i, ": idempotency key maps to an empty invocation id"));
        }
        break;
      case Op::Kind::kPutEntry:
      case Op::Kind::kDeleteEntry:
        if (op.key.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("write ", i, ": empty entry key"));
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace sluice
