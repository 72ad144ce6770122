// One suite that every Store implementation must pass, plus the behaviour
// only the durable RocksDbStore has (reopening, exclusive data dir, corrupt
// values).
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "runtime/memory_store.h"
#include "runtime/rocksdb_store.h"
#include "runtime/store.h"
#include "tests/runtime/store_factories.h"
#include "tests/support/scoped_temp_dir.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::Function MakeFunction(const std::string& name, uint64_t version) {
  v1::Function function;
  function.mutable_spec()->set_name(name);
  function.mutable_spec()->set_description(absl::StrFormat("%s v%d", name, version));
  function.set_version(version);
  function.set_sha256(std::string(64, 'a'));
  return function;
}

// InvocationId returns the n-th id in creation order, shaped like real ids.
std::string InvocationId(int n) { return absl::StrFormat("inv_%012x%016x", 1000 + n, 77 * n); }

v1::Invocation MakeInvocation(int n, const std::string& function, v1::InvocationState state) {
  v1::Invocation invocation;
  invocation.set_id(InvocationId(n));
  invocation.set_function(function);
  invocation.set_state(state);
  invocation.set_payload(absl::StrFormat("payload %d", n));
  return invocation;
}

// Query builds an InvocationFilter, field by field.
class Query {
 public:
  Query& Function(std::string function) {
    filter_.function = std::move(function);
    return *this;
  }
  Query& State(v1::InvocationState state) {
    filter_.state = state;
    return *this;
  }
  Query& Before(std::string id) {
    filter_.before_id = std::move(id);
    return *this;
  }
  Query& Limit(size_t limit) {
    filter_.limit = limit;
    return *this;
  }
  Query& DeadLettered() {
    filter_.dead_lettered = true;
    return *this;
  }
  const InvocationFilter& filter() const { return filter_; }

 private:
  InvocationFilter filter_;
};

std::vector<uint64_t> VersionsOf(const std::vector<v1::Function>& functions) {
  std::vector<uint64_t> versions;
  for (const v1::Function& function : functions) versions.push_back(function.version());
  return versions;
}

std::vector<std::string> NamesOf(const std::vector<v1::Function>& functions) {
  std::vector<std::string> names;
  for (const v1::Function& function : functions) names.push_back(function.spec().name());
  return names;
}

std::vector<std::string> IdsOf(const std::vector<v1::Invocation>& invocations) {
  std::vector<std::string> ids;
  for (const v1::Invocation& invocation : invocations) ids.push_back(invocation.id());
  return ids;
}

template <typename Factory>
class StoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = factory_.Open();
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void PutFunctions(const std::vector<v1::Function>& functions) {
    WriteBatch batch;
    for (const v1::Function& function : functions) batch.PutFunction(function);
    ASSERT_TRUE(store_->Commit(batch).ok());
  }

  void PutInvocations(const std::vector<v1::Invocation>& invocations) {
    WriteBatch batch;
    for (const v1::Invocation& invocation : invocations) batch.PutInvocation(invocation);
    ASSERT_TRUE(store_->Commit(batch).ok());
  }

  std::vector<std::string> List(const Query& query) {
    absl::StatusOr<std::vector<v1::Invocation>> invocations =
        store_->ListInvocations(query.filter());
    EXPECT_TRUE(invocations.ok()) << invocations.status();
    return invocations.ok() ? IdsOf(*invocations) : std::vector<std::string>{};
  }

  std::vector<std::string> Scan(const std::string& after_id, size_t limit) {
    absl::StatusOr<std::vector<v1::Invocation>> invocations =
        store_->ScanInvocations(after_id, limit);
    EXPECT_TRUE(invocations.ok()) << invocations.status();
    return invocations.ok() ? IdsOf(*invocations) : std::vector<std::string>{};
  }

  // KeyOf returns the id (function, key) maps to, or "<code>" on error.
  std::string KeyOf(const std::string& function, const std::string& key) {
    absl::StatusOr<std::string> id = store_->GetIdempotencyKey(function, key);
    return id.ok() ? *id : absl::StrCat("<", absl::StatusCodeToString(id.status().code()), ">");
  }

  std::vector<std::string> Unfinished() {
    std::vector<std::string> ids;
    absl::Status status = store_->ForEachUnfinished(
        [&](const v1::Invocation& invocation) { ids.push_back(invocation.id()); });
    EXPECT_TRUE(status.ok()) << status;
    return ids;
  }

  // Declared first, destroyed last: the store closes before its files go.
  Factory factory_;
  std::unique_ptr<Store> store_;
};

TYPED_TEST_SUITE(StoreConformanceTest, StoreTypes, StoreTypeNames);

TYPED_TEST(StoreConformanceTest, GetsEachFunctionVersionAndLatestForZero) {
  this->PutFunctions({MakeFunction("echo", 1), MakeFunction("echo", 2)});

  absl::StatusOr<v1::Function> first = this->store_->GetFunction("echo", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version(), 1u);
  EXPECT_EQ(first->spec().description(), "echo v1");

  absl::StatusOr<v1::Function> latest = this->store_->GetFunction("echo", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version(), 2u);
  EXPECT_EQ(latest->spec().description(), "echo v2");
}

TYPED_TEST(StoreConformanceTest, LatestVersionComparesNumerically) {
  this->PutFunctions({MakeFunction("echo", 10), MakeFunction("echo", 9)});

  absl::StatusOr<v1::Function> latest = this->store_->GetFunction("echo", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version(), 10u);
}

TYPED_TEST(StoreConformanceTest, MissingFunctionOrVersionIsNotFound) {
  this->PutFunctions({MakeFunction("echo-b", 1), MakeFunction("echo", 1)});

  EXPECT_EQ(this->store_->GetFunction("echo", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->GetFunction("ech", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->GetFunction("echo-c", 0).status().code(), absl::StatusCode::kNotFound);
  // A name that is a prefix of another does not see the other's versions.
  absl::StatusOr<v1::Function> echo = this->store_->GetFunction("echo", 0);
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->spec().name(), "echo");
}

TYPED_TEST(StoreConformanceTest, ListFunctionsReturnsLatestOfEachSortedByName) {
  this->PutFunctions({MakeFunction("b", 1), MakeFunction("b", 2), MakeFunction("a", 1),
                      MakeFunction("a-b", 2), MakeFunction("a-b", 3), MakeFunction("a0", 7)});

  absl::StatusOr<std::vector<v1::Function>> functions = this->store_->ListFunctions();
  ASSERT_TRUE(functions.ok()) << functions.status();
  EXPECT_THAT(NamesOf(*functions), ElementsAre("a", "a-b", "a0", "b"));
  EXPECT_EQ(VersionsOf(*functions), (std::vector<uint64_t>{1, 3, 7, 2}));
}

TYPED_TEST(StoreConformanceTest, ListFunctionsOfEmptyStoreIsEmpty) {
  absl::StatusOr<std::vector<v1::Function>> functions = this->store_->ListFunctions();
  ASSERT_TRUE(functions.ok()) << functions.status();
  EXPECT_THAT(*functions, IsEmpty());
}

TYPED_TEST(StoreConformanceTest, DeleteFunctionRemovesAllVersionsAndOnlyThem) {
  this->PutFunctions({MakeFunction("x", 1), MakeFunction("x", 2), MakeFunction("x", 3),
                      MakeFunction("x-y", 1), MakeFunction("w", 4)});
  WriteBatch batch;
  batch.DeleteFunction("x");
  ASSERT_TRUE(this->store_->Commit(batch).ok());

  for (uint64_t version : {0, 1, 2, 3}) {
    EXPECT_EQ(this->store_->GetFunction("x", version).status().code(), absl::StatusCode::kNotFound)
        << "version " << version;
  }
  absl::StatusOr<std::vector<v1::Function>> functions = this->store_->ListFunctions();
  ASSERT_TRUE(functions.ok()) << functions.status();
  EXPECT_THAT(NamesOf(*functions), ElementsAre("w", "x-y"));
}

TYPED_TEST(StoreConformanceTest, WritesOfOneBatchApplyInOrder) {
  WriteBatch batch;
  batch.PutFunction(MakeFunction("x", 1));
  batch.DeleteFunction("x");
  batch.PutFunction(MakeFunction("x", 2));
  batch.PutInvocation(MakeInvocation(1, "x", v1::PENDING));
  batch.DeleteInvocation(InvocationId(1));
  batch.PutInvocation(MakeInvocation(2, "x", v1::PENDING));
  batch.PutInvocation(MakeInvocation(2, "x", v1::SUCCEEDED));
  ASSERT_TRUE(this->store_->Commit(batch).ok());

  EXPECT_EQ(this->store_->GetFunction("x", 1).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<v1::Function> latest = this->store_->GetFunction("x", 0);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version(), 2u);
  EXPECT_EQ(this->store_->GetInvocation(InvocationId(1)).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<v1::Invocation> second = this->store_->GetInvocation(InvocationId(2));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->state(), v1::SUCCEEDED);
  EXPECT_THAT(this->Unfinished(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, PutInvocationInsertsAndReplaces) {
  EXPECT_EQ(this->store_->GetInvocation(InvocationId(1)).status().code(),
            absl::StatusCode::kNotFound);
  v1::Invocation invocation = MakeInvocation(1, "echo", v1::PENDING);
  (*invocation.mutable_metadata())["k"] = "v";
  this->PutInvocations({invocation});

  absl::StatusOr<v1::Invocation> stored = this->store_->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->SerializeAsString(), invocation.SerializeAsString());

  invocation.set_state(v1::RUNNING);
  invocation.set_attempt(1);
  this->PutInvocations({invocation});
  stored = this->store_->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::RUNNING);
  EXPECT_EQ(stored->attempt(), 1u);
  EXPECT_EQ(stored->payload(), "payload 1");
}

TYPED_TEST(StoreConformanceTest, DeleteInvocationRemovesIt) {
  this->PutInvocations({MakeInvocation(1, "echo", v1::PENDING)});
  WriteBatch batch;
  batch.DeleteInvocation(InvocationId(1));
  ASSERT_TRUE(this->store_->Commit(batch).ok());

  EXPECT_EQ(this->store_->GetInvocation(InvocationId(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(this->List(Query()), IsEmpty());
  EXPECT_THAT(this->Unfinished(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, UpdateInvocationReplacesAllButThePayload) {
  v1::Invocation invocation = MakeInvocation(1, "echo", v1::PENDING);
  this->PutInvocations({invocation});
  invocation.set_state(v1::RUNNING);
  invocation.set_attempt(1);
  invocation.set_payload("not written");
  WriteBatch batch;
  batch.UpdateInvocation(std::make_shared<const v1::Invocation>(invocation));
  ASSERT_TRUE(this->store_->Commit(batch).ok());

  // Every read returns the updated record with the payload of the put.
  absl::StatusOr<v1::Invocation> stored = this->store_->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::RUNNING);
  EXPECT_EQ(stored->attempt(), 1u);
  EXPECT_EQ(stored->payload(), "payload 1");
  absl::StatusOr<std::vector<v1::Invocation>> listed = this->store_->ListInvocations({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state(), v1::RUNNING);
  EXPECT_EQ((*listed)[0].payload(), "payload 1");
  absl::StatusOr<std::vector<v1::Invocation>> scanned = this->store_->ScanInvocations("", 10);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].state(), v1::RUNNING);
  std::vector<std::string> payloads;
  ASSERT_TRUE(this->store_
                  ->ForEachUnfinished([&](const v1::Invocation& unfinished) {
                    payloads.push_back(unfinished.payload());
                  })
                  .ok());
  EXPECT_THAT(payloads, ElementsAre("payload 1"));

  // Finished by an update: out of the unfinished index, payload kept.
  invocation.set_state(v1::SUCCEEDED);
  invocation.set_output("out");
  WriteBatch finish;
  finish.UpdateInvocation(std::make_shared<const v1::Invocation>(invocation));
  ASSERT_TRUE(this->store_->Commit(finish).ok());
  stored = this->store_->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::SUCCEEDED);
  EXPECT_EQ(stored->output(), "out");
  EXPECT_EQ(stored->payload(), "payload 1");
  EXPECT_THAT(this->Unfinished(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, ListWithoutPayloadsAndScanLeaveThemOut) {
  v1::Invocation invocation = MakeInvocation(1, "echo", v1::SUCCEEDED);
  invocation.set_output("out");
  this->PutInvocations({invocation});
  InvocationFilter filter;
  filter.with_payloads = false;
  absl::StatusOr<std::vector<v1::Invocation>> listed = this->store_->ListInvocations(filter);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  v1::Invocation without = invocation;
  without.clear_payload();
  EXPECT_EQ((*listed)[0].SerializeAsString(), without.SerializeAsString());
  absl::StatusOr<std::vector<v1::Invocation>> scanned = this->store_->ScanInvocations("", 10);
  ASSERT_TRUE(scanned.ok()) << scanned.status();
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].SerializeAsString(), without.SerializeAsString());
  // By default a list carries them.
  listed = this->store_->ListInvocations({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].payload(), "payload 1");
}

TYPED_TEST(StoreConformanceTest, PutAfterDeleteOrWithoutPayloadLeavesNoOldPayload) {
  this->PutInvocations(
      {MakeInvocation(1, "echo", v1::PENDING), MakeInvocation(2, "echo", v1::PENDING)});
  // A put replaces the payload too, even with an empty one.
  v1::Invocation empty = MakeInvocation(1, "echo", v1::PENDING);
  empty.clear_payload();
  this->PutInvocations({empty});
  absl::StatusOr<v1::Invocation> stored = this->store_->GetInvocation(InvocationId(1));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->payload(), "");

  // A delete removes the payload: an update of the id afterwards stores
  // the record without one.
  WriteBatch remove;
  remove.DeleteInvocation(InvocationId(2));
  ASSERT_TRUE(this->store_->Commit(remove).ok());
  WriteBatch update;
  update.UpdateInvocation(
      std::make_shared<const v1::Invocation>(MakeInvocation(2, "echo", v1::RUNNING)));
  ASSERT_TRUE(this->store_->Commit(update).ok());
  stored = this->store_->GetInvocation(InvocationId(2));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::RUNNING);
  EXPECT_EQ(stored->payload(), "");
}

TYPED_TEST(StoreConformanceTest, ListInvocationsIsNewestFirst) {
  // Inserted out of order: the order comes from the ids.
  this->PutInvocations({MakeInvocation(3, "a", v1::PENDING), MakeInvocation(1, "a", v1::PENDING),
                        MakeInvocation(2, "b", v1::SUCCEEDED)});

  EXPECT_THAT(this->List(Query()), ElementsAre(InvocationId(3), InvocationId(2), InvocationId(1)));
}

TYPED_TEST(StoreConformanceTest, ListInvocationsFiltersByFunctionAndState) {
  this->PutInvocations({MakeInvocation(1, "a", v1::PENDING), MakeInvocation(2, "b", v1::PENDING),
                        MakeInvocation(3, "a", v1::SUCCEEDED), MakeInvocation(4, "ab", v1::FAILED),
                        MakeInvocation(5, "a", v1::FAILED)});

  EXPECT_THAT(this->List(Query().Function("a")),
              ElementsAre(InvocationId(5), InvocationId(3), InvocationId(1)));
  EXPECT_THAT(this->List(Query().State(v1::FAILED)), ElementsAre(InvocationId(5), InvocationId(4)));
  EXPECT_THAT(this->List(Query().Function("a").State(v1::PENDING)), ElementsAre(InvocationId(1)));
  EXPECT_THAT(this->List(Query().Function("c")), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, ListInvocationsPagesWithBeforeIdAndLimit) {
  std::vector<v1::Invocation> invocations;
  for (int n = 1; n <= 5; ++n) invocations.push_back(MakeInvocation(n, "a", v1::PENDING));
  this->PutInvocations(invocations);

  EXPECT_THAT(this->List(Query().Limit(2)), ElementsAre(InvocationId(5), InvocationId(4)));
  EXPECT_THAT(this->List(Query().Before(InvocationId(4)).Limit(2)),
              ElementsAre(InvocationId(3), InvocationId(2)));
  EXPECT_THAT(this->List(Query().Before(InvocationId(2)).Limit(2)), ElementsAre(InvocationId(1)));
  EXPECT_THAT(this->List(Query().Before(InvocationId(1))), IsEmpty());
  // before_id need not name a stored invocation.
  EXPECT_THAT(this->List(Query().Before(InvocationId(3) + "0").Limit(2)),
              ElementsAre(InvocationId(3), InvocationId(2)));
  EXPECT_THAT(this->List(Query().Before("inw_")), ::testing::SizeIs(5));
  EXPECT_THAT(this->List(Query().Limit(0)), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, ListInvocationsLimitCountsOnlyMatches) {
  this->PutInvocations({MakeInvocation(1, "a", v1::PENDING), MakeInvocation(2, "a", v1::PENDING),
                        MakeInvocation(3, "b", v1::PENDING), MakeInvocation(4, "b", v1::PENDING),
                        MakeInvocation(5, "a", v1::PENDING)});

  EXPECT_THAT(this->List(Query().Function("a").Limit(2)),
              ElementsAre(InvocationId(5), InvocationId(2)));
  EXPECT_THAT(this->List(Query().Function("a").Before(InvocationId(2)).Limit(2)),
              ElementsAre(InvocationId(1)));
}

TYPED_TEST(StoreConformanceTest, ForEachUnfinishedVisitsPendingAndRunningOldestFirst) {
  this->PutInvocations({MakeInvocation(6, "a", v1::PENDING), MakeInvocation(5, "a", v1::CANCELLED),
                        MakeInvocation(4, "a", v1::FAILED), MakeInvocation(3, "b", v1::RUNNING),
                        MakeInvocation(2, "a", v1::SUCCEEDED),
                        MakeInvocation(1, "a", v1::PENDING)});

  EXPECT_THAT(this->Unfinished(), ElementsAre(InvocationId(1), InvocationId(3), InvocationId(6)));

  // Finishing an invocation drops it; retrying brings it back.
  this->PutInvocations({MakeInvocation(3, "b", v1::SUCCEEDED)});
  EXPECT_THAT(this->Unfinished(), ElementsAre(InvocationId(1), InvocationId(6)));
  this->PutInvocations({MakeInvocation(4, "a", v1::PENDING)});
  EXPECT_THAT(this->Unfinished(), ElementsAre(InvocationId(1), InvocationId(4), InvocationId(6)));
  this->PutInvocations({MakeInvocation(1, "a", v1::RUNNING)});
  EXPECT_THAT(this->Unfinished(), ElementsAre(InvocationId(1), InvocationId(4), InvocationId(6)));
}

TYPED_TEST(StoreConformanceTest, ForEachUnfinishedPassesWholeInvocationsAndAllowsReentry) {
  v1::Invocation pending = MakeInvocation(1, "a", v1::PENDING);
  pending.set_attempt(2);
  this->PutInvocations({pending});

  std::vector<v1::Invocation> seen;
  absl::Status status = this->store_->ForEachUnfinished([&](const v1::Invocation& invocation) {
    seen.push_back(invocation);
    // Calling back into the store must not deadlock.
    EXPECT_TRUE(this->store_->GetInvocation(invocation.id()).ok());
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].SerializeAsString(), pending.SerializeAsString());
}

TYPED_TEST(StoreConformanceTest, MalformedBatchIsRejectedWhole) {
  WriteBatch batch;
  batch.PutInvocation(MakeInvocation(1, "a", v1::PENDING));
  batch.PutFunction(MakeFunction("good", 1));
  batch.PutFunction(MakeFunction("bad", 0));
  absl::Status status = this->store_->Commit(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;

  EXPECT_EQ(this->store_->GetInvocation(InvocationId(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->store_->GetFunction("good", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(this->Unfinished(), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, RejectsNamesAndIdsThatCannotBeKeys) {
  for (const std::string& name : {std::string(), std::string("a/b")}) {
    WriteBatch put;
    put.PutFunction(MakeFunction(name, 1));
    EXPECT_EQ(this->store_->Commit(put).code(), absl::StatusCode::kInvalidArgument) << name;
    WriteBatch remove;
    remove.DeleteFunction(name);
    EXPECT_EQ(this->store_->Commit(remove).code(), absl::StatusCode::kInvalidArgument) << name;
  }
  WriteBatch batch;
  batch.PutInvocation(v1::Invocation());
  EXPECT_EQ(this->store_->Commit(batch).code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(StoreConformanceTest, ListInvocationsFiltersDeadLetteredWithFunctionAndState) {
  std::vector<v1::Invocation> invocations = {
      MakeInvocation(1, "a", v1::FAILED),    MakeInvocation(2, "a", v1::FAILED),
      MakeInvocation(3, "b", v1::FAILED),    MakeInvocation(4, "a", v1::SUCCEEDED),
      MakeInvocation(5, "a", v1::CANCELLED), MakeInvocation(6, "a", v1::FAILED)};
  for (int index : {0, 2, 4, 5}) invocations[index].set_dead_lettered(true);
  this->PutInvocations(invocations);

  EXPECT_THAT(this->List(Query().DeadLettered()),
              ElementsAre(InvocationId(6), InvocationId(5), InvocationId(3), InvocationId(1)));
  EXPECT_THAT(this->List(Query().DeadLettered().Function("a")),
              ElementsAre(InvocationId(6), InvocationId(5), InvocationId(1)));
  EXPECT_THAT(this->List(Query().DeadLettered().Function("a").State(v1::FAILED)),
              ElementsAre(InvocationId(6), InvocationId(1)));
  EXPECT_THAT(this->List(Query().DeadLettered().Function("a").State(v1::FAILED).Limit(1)),
              ElementsAre(InvocationId(6)));
  EXPECT_THAT(this->List(Query().DeadLettered().Before(InvocationId(5)).Limit(1)),
              ElementsAre(InvocationId(3)));
  EXPECT_THAT(this->List(Query().DeadLettered().State(v1::SUCCEEDED)), IsEmpty());
  // Without the flag, dead-lettered and other invocations alike.
  EXPECT_THAT(this->List(Query().Function("a").State(v1::FAILED)),
              ElementsAre(InvocationId(6), InvocationId(2), InvocationId(1)));

  // Redriving clears the flag.
  v1::Invocation redriven = invocations[0];
  redriven.set_state(v1::PENDING);
  redriven.set_dead_lettered(false);
  this->PutInvocations({redriven});
  EXPECT_THAT(this->List(Query().DeadLettered().Function("a")),
              ElementsAre(InvocationId(6), InvocationId(5)));
}

TYPED_TEST(StoreConformanceTest, ScanInvocationsPagesOldestFirst) {
  // Inserted out of order, with every state: the scan filters nothing.
  this->PutInvocations({MakeInvocation(4, "a", v1::PENDING), MakeInvocation(2, "b", v1::SUCCEEDED),
                        MakeInvocation(5, "a", v1::RUNNING), MakeInvocation(1, "a", v1::FAILED),
                        MakeInvocation(3, "c", v1::CANCELLED)});

  EXPECT_THAT(this->Scan("", 2), ElementsAre(InvocationId(1), InvocationId(2)));
  EXPECT_THAT(this->Scan(InvocationId(2), 2), ElementsAre(InvocationId(3), InvocationId(4)));
  EXPECT_THAT(this->Scan(InvocationId(4), 2), ElementsAre(InvocationId(5)));
  EXPECT_THAT(this->Scan(InvocationId(5), 2), IsEmpty());
  EXPECT_THAT(this->Scan("", 100), ::testing::SizeIs(5));
  EXPECT_THAT(this->Scan("", 0), IsEmpty());
  // after_id need not name a stored invocation.
  EXPECT_THAT(this->Scan(InvocationId(2) + "0", 2), ElementsAre(InvocationId(3), InvocationId(4)));
  EXPECT_THAT(this->Scan("inv_", 1), ElementsAre(InvocationId(1)));
  EXPECT_THAT(this->Scan("inw_", 1), IsEmpty());

  // Invocations as stored, but for their payloads.
  absl::StatusOr<std::vector<v1::Invocation>> first = this->store_->ScanInvocations("", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  v1::Invocation expected = MakeInvocation(1, "a", v1::FAILED);
  expected.clear_payload();
  EXPECT_EQ((*first)[0].SerializeAsString(), expected.SerializeAsString());

  // Deleted invocations are skipped.
  WriteBatch batch;
  batch.DeleteInvocation(InvocationId(3));
  ASSERT_TRUE(this->store_->Commit(batch).ok());
  EXPECT_THAT(this->Scan(InvocationId(2), 2), ElementsAre(InvocationId(4), InvocationId(5)));
}

TYPED_TEST(StoreConformanceTest, IdempotencyKeyMapsReplacesAndDeletes) {
  EXPECT_EQ(this->KeyOf("a", "order-1"), "<NOT_FOUND>");

  WriteBatch put;
  put.PutIdempotencyKey("a", "order-1", InvocationId(1));
  put.PutIdempotencyKey("b", "order-1", InvocationId(2));
  ASSERT_TRUE(this->store_->Commit(put).ok());
  EXPECT_EQ(this->KeyOf("a", "order-1"), InvocationId(1));
  EXPECT_EQ(this->KeyOf("b", "order-1"), InvocationId(2));
  EXPECT_EQ(this->KeyOf("a", "order-2"), "<NOT_FOUND>");
  EXPECT_EQ(this->KeyOf("c", "order-1"), "<NOT_FOUND>");

  WriteBatch replace;
  replace.PutIdempotencyKey("a", "order-1", InvocationId(3));
  ASSERT_TRUE(this->store_->Commit(replace).ok());
  EXPECT_EQ(this->KeyOf("a", "order-1"), InvocationId(3));

  WriteBatch remove;
  remove.DeleteIdempotencyKey("a", "order-1");
  remove.DeleteIdempotencyKey("a", "never-there");
  ASSERT_TRUE(this->store_->Commit(remove).ok());
  EXPECT_EQ(this->KeyOf("a", "order-1"), "<NOT_FOUND>");
  EXPECT_EQ(this->KeyOf("b", "order-1"), InvocationId(2));

  // Keys are not invocations.
  EXPECT_THAT(this->List(Query()), IsEmpty());
  EXPECT_THAT(this->Scan("", 10), IsEmpty());
}

TYPED_TEST(StoreConformanceTest, IdempotencyKeyWritesApplyInBatchOrder) {
  WriteBatch batch;
  batch.PutIdempotencyKey("a", "k", InvocationId(1));
  batch.DeleteIdempotencyKey("a", "k");
  batch.PutIdempotencyKey("a", "j", InvocationId(1));
  batch.PutIdempotencyKey("a", "j", InvocationId(2));
  ASSERT_TRUE(this->store_->Commit(batch).ok());
  EXPECT_EQ(this->KeyOf("a", "k"), "<NOT_FOUND>");
  EXPECT_EQ(this->KeyOf("a", "j"), InvocationId(2));
}

TYPED_TEST(StoreConformanceTest, IdempotencyKeysAreArbitraryBytesThatNeverCollide) {
  // Pairs that would share a key if the key were joined to the function
  // naively, and keys with separators, NUL, high bytes, and the 256-byte
  // maximum.
  const std::vector<std::pair<std::string, std::string>> pairs = {{"a", "b/c"},
                                                                  {"a", "b"},
                                                                  {"a", "/"},
                                                                  {"a", "//"},
                                                                  {"ab", "c"},
                                                                  {"a", "bc"},
                                                                  {"a", "b/"},
                                                                  {"a-b", "c"},
                                                                  {"a", "-b/c"},
                                                                  {"a", std::string("x\0y", 3)},
                                                                  {"a", std::string("x\0", 2)},
                                                                  {"a", "x"},
                                                                  {"a", "\xff\xfe"},
                                                                  {"a", std::string(256, 'k')},
                                                                  {"a", std::string(255, 'k')}};
  WriteBatch batch;
  for (size_t i = 0; i < pairs.size(); ++i) {
    batch.PutIdempotencyKey(pairs[i].first, pairs[i].second, InvocationId(static_cast<int>(i)));
  }
  ASSERT_TRUE(this->store_->Commit(batch).ok());
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(this->KeyOf(pairs[i].first, pairs[i].second), InvocationId(static_cast<int>(i))) << i;
  }
  EXPECT_EQ(this->KeyOf("a", "b/c/"), "<NOT_FOUND>");
  EXPECT_EQ(this->KeyOf("a", std::string("x\0z", 3)), "<NOT_FOUND>");

  // Deleting one leaves every other.
  WriteBatch remove;
  remove.DeleteIdempotencyKey("a", "b");
  ASSERT_TRUE(this->store_->Commit(remove).ok());
  for (size_t i = 0; i < pairs.size(); ++i) {
    const bool removed = pairs[i] == std::make_pair(std::string("a"), std::string("b"));
    EXPECT_EQ(this->KeyOf(pairs[i].first, pairs[i].second),
              removed ? "<NOT_FOUND>" : InvocationId(static_cast<int>(i)))
        << i;
  }
}

TYPED_TEST(StoreConformanceTest, RejectsMalformedIdempotencyKeyWritesWhole) {
  const struct {
    std::string function, key, id;
  } cases[] = {{"", "k", "id"}, {"a/b", "k", "id"}, {"a", "", "id"}, {"a", "k", ""}};
  for (const auto& c : cases) {
    WriteBatch put;
    put.PutInvocation(MakeInvocation(1, "a", v1::PENDING));
    put.PutIdempotencyKey(c.function, c.key, c.id);
    EXPECT_EQ(this->store_->Commit(put).code(), absl::StatusCode::kInvalidArgument)
        << c.function << " " << c.key << " " << c.id;
    if (!c.id.empty()) {
      WriteBatch remove;
      remove.DeleteIdempotencyKey(c.function, c.key);
      EXPECT_EQ(this->store_->Commit(remove).code(), absl::StatusCode::kInvalidArgument)
          << c.function << " " << c.key;
    }
  }
  EXPECT_EQ(this->store_->GetInvocation(InvocationId(1)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(this->KeyOf("a", "k"), "<NOT_FOUND>");
}

TYPED_TEST(StoreConformanceTest, EmptyBatchCommits) {
  EXPECT_TRUE(this->store_->Commit(WriteBatch()).ok());
}

TYPED_TEST(StoreConformanceTest, ReadersSeeABatchWholeOrNotAtAll) {
  // Each batch moves two invocations to the same attempt; a reader listing
  // both must never see them disagree.
  constexpr int kBatches = 50;
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int attempt = 1; attempt <= kBatches; ++attempt) {
      WriteBatch batch;
      for (int n : {1, 2}) {
        v1::Invocation invocation = MakeInvocation(n, "a", v1::RUNNING);
        invocation.set_attempt(attempt);
        batch.PutInvocation(invocation);
      }
      EXPECT_TRUE(this->store_->Commit(batch).ok());
    }
    writing = false;
  });
  int torn = 0;
  int reads = 0;
  do {
    absl::StatusOr<std::vector<v1::Invocation>> both = this->store_->ListInvocations({});
    if (!both.ok()) {
      ADD_FAILURE() << both.status();
      break;
    }
    ++reads;
    if (both->size() == 1 || (both->size() == 2 && (*both)[0].attempt() != (*both)[1].attempt())) {
      ++torn;
    }
  } while (writing);
  writer.join();
  EXPECT_EQ(torn, 0) << "in " << reads << " reads";
  absl::StatusOr<v1::Invocation> last = this->store_->GetInvocation(InvocationId(2));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->attempt(), static_cast<uint32_t>(kBatches));
}

TYPED_TEST(StoreConformanceTest, EntriesArePerTableAndScanInKeyOrder) {
  WriteBatch batch;
  batch.PutEntry(Table::kTriggers, "b", "trigger b");
  batch.PutEntry(Table::kTriggers, "a", "trigger a");
  batch.PutEntry(Table::kTriggers, "c", "trigger c");
  batch.PutEntry(Table::kEvents, std::string("src\0id", 6), "event");
  batch.PutEntry(Table::kCallbacks, "a", "callback a");
  ASSERT_TRUE(this->store_->Commit(batch).ok());

  absl::StatusOr<std::string> value = this->store_->GetEntry(Table::kTriggers, "a");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "trigger a");
  value = this->store_->GetEntry(Table::kCallbacks, "a");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "callback a");
  value = this->store_->GetEntry(Table::kEvents, std::string("src\0id", 6));
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "event");
  EXPECT_EQ(this->store_->GetEntry(Table::kEvents, "a").status().code(),
            absl::StatusCode::kNotFound);

  using Entries = std::vector<std::pair<std::string, std::string>>;
  absl::StatusOr<Entries> all = this->store_->ScanEntries(Table::kTriggers, "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (Entries{{"a", "trigger a"}, {"b", "trigger b"}, {"c", "trigger c"}}));
  absl::StatusOr<Entries> page = this->store_->ScanEntries(Table::kTriggers, "a", 1);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page, (Entries{{"b", "trigger b"}}));
  absl::StatusOr<Entries> none = this->store_->ScanEntries(Table::kTriggers, "c", 10);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  WriteBatch remove;
  remove.DeleteEntry(Table::kTriggers, "b");
  remove.PutEntry(Table::kTriggers, "c", "trigger c2");
  ASSERT_TRUE(this->store_->Commit(remove).ok());
  all = this->store_->ScanEntries(Table::kTriggers, "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (Entries{{"a", "trigger a"}, {"c", "trigger c2"}}));
}

TYPED_TEST(StoreConformanceTest, EmptyEntryKeyRejectsTheWholeBatch) {
  WriteBatch batch;
  batch.PutEntry(Table::kTriggers, "kept-out", "x");
  batch.PutEntry(Table::kTriggers, "", "x");
  absl::Status status = this->store_->Commit(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(this->store_->GetEntry(Table::kTriggers, "kept-out").status().code(),
            absl::StatusCode::kNotFound);
}

// RocksDbStore alone: what only a durable store does.
class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }

  std::string DbPath() const { return dir_.path() + "/data"; }

  testing::ScopedTempDir dir_{"store_test_"};
};

TEST_F(RocksDbStoreTest, DataSurvivesCloseAndReopen) {
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
    ASSERT_TRUE(store.ok()) << store.status();
    WriteBatch batch;
    batch.PutFunction(MakeFunction("echo", 1));
    batch.PutFunction(MakeFunction("echo", 2));
    batch.PutInvocation(MakeInvocation(1, "echo", v1::PENDING));
    batch.PutInvocation(MakeInvocation(2, "echo", v1::SUCCEEDED));
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();

  absl::StatusOr<v1::Function> function = (*store)->GetFunction("echo", 0);
  ASSERT_TRUE(function.ok()) << function.status();
  EXPECT_EQ(function->version(), 2u);
  absl::StatusOr<v1::Invocation> invocation = (*store)->GetInvocation(InvocationId(2));
  ASSERT_TRUE(invocation.ok()) << invocation.status();
  EXPECT_EQ(invocation->state(), v1::SUCCEEDED);
  std::vector<std::string> unfinished;
  ASSERT_TRUE((*store)
                  ->ForEachUnfinished([&](const v1::Invocation& invocation) {
                    unfinished.push_back(invocation.id());
                  })
                  .ok());
  EXPECT_THAT(unfinished, ElementsAre(InvocationId(1)));
}

TEST_F(RocksDbStoreTest, IdempotencyKeysSurviveCloseAndReopen) {
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
    ASSERT_TRUE(store.ok()) << store.status();
    WriteBatch batch;
    batch.PutIdempotencyKey("echo", "k/1", InvocationId(1));
    batch.PutIdempotencyKey("echo", "k", InvocationId(2));
    batch.PutIdempotencyKey("echo", "gone", InvocationId(3));
    ASSERT_TRUE((*store)->Commit(batch).ok());
    WriteBatch remove;
    remove.DeleteIdempotencyKey("echo", "gone");
    ASSERT_TRUE((*store)->Commit(remove).ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::string> id = (*store)->GetIdempotencyKey("echo", "k/1");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, InvocationId(1));
  id = (*store)->GetIdempotencyKey("echo", "k");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, InvocationId(2));
  EXPECT_EQ((*store)->GetIdempotencyKey("echo", "gone").status().code(),
            absl::StatusCode::kNotFound);
}

// Incompressible returns `size` pseudo-random bytes drawn from `seed`, so that
// RocksDB's block compression cannot shrink them.
std::string Incompressible(size_t size, uint64_t seed) {
  std::string bytes(size, '\0');
  uint64_t state = seed * 0x9e3779b97f4a7c15u + 1;
  for (char& byte : bytes) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    byte = static_cast<char>(state >> 56);
  }
  return bytes;
}

TEST_F(RocksDbStoreTest, LiveBytesShrinkAfterDeletesAndCompaction) {
  absl::StatusOr<std::unique_ptr<RocksDbStore>> store = OpenRocksDbStore(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kInvocations = 2000;
  WriteBatch put;
  for (int n = 0; n < kInvocations; ++n) {
    v1::Invocation invocation = MakeInvocation(n, "echo", v1::SUCCEEDED);
    invocation.set_payload(Incompressible(1000, n));
    put.PutInvocation(invocation);
  }
  ASSERT_TRUE((*store)->Commit(put).ok());
  ASSERT_TRUE((*store)->CompactAll().ok());
  const uint64_t full = (*store)->ApproximateLiveBytes();
  EXPECT_GE(full, uint64_t{kInvocations} * 1000);

  WriteBatch remove;
  for (int n = 0; n < kInvocations; ++n) remove.DeleteInvocation(InvocationId(n));
  ASSERT_TRUE((*store)->Commit(remove).ok());
  ASSERT_TRUE((*store)->CompactAll().ok());
  EXPECT_LT((*store)->ApproximateLiveBytes(), full / 10);
}

TEST_F(RocksDbStoreTest, SecondOpenOfTheSameDirIsFailedPrecondition) {
  absl::StatusOr<std::unique_ptr<Store>> first = OpenRocksDbStore(DbPath());
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<std::unique_ptr<Store>> second = OpenRocksDbStore(DbPath());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_TRUE(IsDataDirInUse(second.status()));
  EXPECT_THAT(second.status().message(), HasSubstr(DbPath()));
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another sluice process"));

  first->reset();
  absl::StatusOr<std::unique_ptr<Store>> third = OpenRocksDbStore(DbPath());
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_F(RocksDbStoreTest, OtherErrorsAreNotDataDirInUse) {
  EXPECT_FALSE(IsDataDirInUse(absl::FailedPreconditionError("data dir x is in use")));
  // A regular file where the directory should be.
  const std::string file = dir_.path() + "/file";
  ASSERT_TRUE(std::ofstream(file).good());
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(file);
  ASSERT_FALSE(store.ok());
  EXPECT_FALSE(IsDataDirInUse(store.status()));
  EXPECT_THAT(store.status().message(), HasSubstr(file));
}

// RawDb opens the RocksDB database under a store's path directly, to see
// or make its keys.
std::unique_ptr<rocksdb::DB> RawDb(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, path, &raw);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return std::unique_ptr<rocksdb::DB>(raw);
}

// LogBytes is the size of the write-ahead logs in the RocksDB dir `path`.
uintmax_t LogBytes(const std::string& path) {
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.path().extension() == ".log") bytes += entry.file_size();
  }
  return bytes;
}

TEST_F(RocksDbStoreTest, PayloadIsWrittenOnceUnderItsOwnKey) {
  constexpr size_t kPayloadBytes = 64 * 1024;
  v1::Invocation invocation = MakeInvocation(1, "echo", v1::PENDING);
  invocation.set_payload(std::string(kPayloadBytes, 'x'));
  invocation.set_output("out");  // a field after the payload is kept
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
    ASSERT_TRUE(store.ok()) << store.status();
    WriteBatch put;
    put.PutInvocation(invocation);
    ASSERT_TRUE((*store)->Commit(put).ok());
    const uintmax_t after_put = LogBytes(DbPath());
    EXPECT_GE(after_put, kPayloadBytes);
    // Ten state changes log their records, not the payload again.
    for (int attempt = 1; attempt <= 10; ++attempt) {
      invocation.set_state(attempt == 10 ? v1::SUCCEEDED : v1::RUNNING);
      invocation.set_attempt(attempt);
      WriteBatch update;
      update.UpdateInvocation(std::make_shared<const v1::Invocation>(invocation));
      ASSERT_TRUE((*store)->Commit(update).ok());
    }
    EXPECT_LT(LogBytes(DbPath()) - after_put, kPayloadBytes / 4);
    absl::StatusOr<v1::Invocation> stored = (*store)->GetInvocation(InvocationId(1));
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->SerializeAsString(), invocation.SerializeAsString());
  }
  // The layout: the record without the payload, the payload on its own.
  std::unique_ptr<rocksdb::DB> db = RawDb(DbPath());
  ASSERT_NE(db, nullptr);
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "i/" + InvocationId(1), &value).ok());
  v1::Invocation record;
  ASSERT_TRUE(record.ParseFromString(value));
  EXPECT_EQ(record.payload(), "");
  EXPECT_EQ(record.state(), v1::SUCCEEDED);
  EXPECT_EQ(record.output(), "out");
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "p/" + InvocationId(1), &value).ok());
  EXPECT_EQ(value, invocation.payload());
}

TEST_F(RocksDbStoreTest, OpeningAStoreOfTheEarlierLayoutMovesPayloadsOutOnce) {
  v1::Invocation legacy = MakeInvocation(1, "echo", v1::PENDING);
  legacy.set_output("out");
  {
    // The earlier layout: the payload inside the record, no format key.
    std::unique_ptr<rocksdb::DB> db = RawDb(DbPath());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), "i/" + legacy.id(), legacy.SerializeAsString()).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "u/" + legacy.id(), "").ok());
  }
  for (int open = 0; open < 2; ++open) {  // the second open finds nothing to do
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<v1::Invocation> stored = (*store)->GetInvocation(legacy.id());
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->SerializeAsString(), legacy.SerializeAsString());
    if (open == 0) {
      // An update after the upgrade keeps the moved payload.
      v1::Invocation running = legacy;
      running.set_state(v1::RUNNING);
      WriteBatch update;
      update.UpdateInvocation(std::make_shared<const v1::Invocation>(running));
      ASSERT_TRUE((*store)->Commit(update).ok());
      legacy = running;
    }
  }
  std::unique_ptr<rocksdb::DB> db = RawDb(DbPath());
  ASSERT_NE(db, nullptr);
  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "m/format", &value).ok());
  EXPECT_EQ(value, "2");
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "p/" + legacy.id(), &value).ok());
  EXPECT_EQ(value, "payload 1");
}

TEST_F(RocksDbStoreTest, AStoreOfALaterFormatIsRefused) {
  {
    std::unique_ptr<rocksdb::DB> db = RawDb(DbPath());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m/format", "3").ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("format \"3\""));
}

TEST_F(RocksDbStoreTest, CorruptValueIsDataLossNamingTheKey) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, DbPath(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "i/inv_bad", "\xff\xff\xff").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "f/bad/00000000000000000001", "\xff\xff").ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();

  absl::Status status = (*store)->GetInvocation("inv_bad").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("i/inv_bad"));
  status = (*store)->ListInvocations({}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  status = (*store)->GetFunction("bad", 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), HasSubstr("f/bad/00000000000000000001"));
  status = (*store)->ListFunctions().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

}  // namespace
}  // namespace sluice
