#include "runtime/function_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runtime/engine_fixture.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

using FunctionRegistryTest = EngineFixture;

TEST_F(FunctionRegistryTest, EachDeployMakesTheNextImmutableVersion) {
  const v1::Function v1 = Deploy("greet", "echo");
  const v1::Function v2 = Deploy("greet", "wordcount");
  EXPECT_EQ(v1.version(), 1u);
  EXPECT_EQ(v2.version(), 2u);
  EXPECT_NE(v1.sha256(), v2.sha256());
  EXPECT_EQ(v1.sha256(),
            ArtifactStore::Sha256Hex(testing::ReadFileOrDie(testing::ExamplePath("echo"))));
  auto old = registry_->Get("greet", 1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->sha256(), v1.sha256());
  auto latest = registry_->Get("greet", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version(), 2u);
  EXPECT_TRUE(artifacts_->Contains(v1.sha256()));
}

TEST_F(FunctionRegistryTest, DefaultsAreFilledIn) {
  const v1::Function f = Deploy("greet", "echo");
  EXPECT_EQ(f.spec().runtime(), v1::RUNTIME_NATIVE);
  EXPECT_EQ(f.spec().entry_point(), "sluice_function_invoke");
  EXPECT_EQ(f.spec().concurrency(), 4u);
  EXPECT_EQ(f.spec().max_queue(), 1000u);
  EXPECT_EQ(f.spec().timeout().seconds(), 30);
}

TEST_F(FunctionRegistryTest, ArtifactThatIsNotASharedObjectIsRefusedAndOldVersionStays) {
  Deploy("greet", "echo");
  v1::FunctionSpec spec;
  spec.set_name("greet");
  auto bad = registry_->Deploy(spec, "#!/bin/sh\necho not an ELF\n", "");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not a loadable shared object"));
  auto latest = registry_->Get("greet", 0);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version(), 1u);
}

TEST_F(FunctionRegistryTest, ArtifactWithoutTheEntryPointIsRefused) {
  v1::FunctionSpec spec;
  spec.set_name("greet");
  spec.set_entry_point("no_such_symbol");
  auto bad = registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath("echo")), "");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"no_such_symbol\" not found"));
  EXPECT_EQ(registry_->Get("greet", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FunctionRegistryTest, InvalidSpecNamesTheField) {
  const std::string so = testing::ReadFileOrDie(testing::ExamplePath("echo"));
  struct Case {
    std::function<void(v1::FunctionSpec&)> edit;
    std::string field;
  } cases[] = {
      {[](v1::FunctionSpec& s) { s.set_name("Bad_Name"); }, "spec.name"},
      {[](v1::FunctionSpec& s) { s.set_name(""); }, "spec.name: missing"},
      {[](v1::FunctionSpec& s) { s.set_concurrency(5000); }, "spec.concurrency"},
      {[](v1::FunctionSpec& s) { s.set_max_queue(5000000); }, "spec.max_queue"},
      {[](v1::FunctionSpec& s) { s.mutable_timeout()->set_seconds(-1); }, "spec.timeout"},
      {[](v1::FunctionSpec& s) { s.set_entry_point("a-b"); }, "spec.entry_point"},
      {[](v1::FunctionSpec& s) { s.mutable_retry()->set_max_attempts(101); },
       "spec.retry.max_attempts"},
      {[](v1::FunctionSpec& s) { s.mutable_retry()->mutable_initial_backoff()->set_nanos(1); },
       "spec.retry.initial_backoff"},
      {[](v1::FunctionSpec& s) {
         s.mutable_retry()->mutable_initial_backoff()->set_seconds(60);
         s.mutable_retry()->mutable_max_backoff()->set_seconds(30);
       },
       "spec.retry.max_backoff"},
      {[](v1::FunctionSpec& s) { s.mutable_retry()->set_multiplier(0.5); },
       "spec.retry.multiplier"},
      {[](v1::FunctionSpec& s) { s.mutable_retry()->add_retry_on(v1::RETRY_ON_UNSPECIFIED); },
       "spec.retry.retry_on[0]"},
      {[](v1::FunctionSpec& s) { s.mutable_max_event_age()->set_seconds(8 * 24 * 3600); },
       "spec.max_event_age"},
      {[](v1::FunctionSpec& s) { s.set_on_success("good"); },
       "spec.on_success: a function cannot be its own destination"},
      {[](v1::FunctionSpec& s) { s.set_on_failure("Not-A-Name"); }, "spec.on_failure"},
  };
  for (const Case& c : cases) {
    v1::FunctionSpec spec;
    spec.set_name("good");
    c.edit(spec);
    auto result = registry_->Deploy(spec, so, "");
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(c.field));
  }
  EXPECT_TRUE(registry_->List().empty());
}

TEST_F(FunctionRegistryTest, DeclaredShaMustMatch) {
  v1::FunctionSpec spec;
  spec.set_name("greet");
  auto result = registry_->Deploy(spec, testing::ReadFileOrDie(testing::ExamplePath("echo")),
                                  std::string(64, 'a'));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("sha256"));
}

TEST_F(FunctionRegistryTest, SkipUnchangedKeepsTheLatestVersion) {
  Deploy("greet", "echo");
  v1::FunctionSpec spec;
  spec.set_name("greet");
  const std::string so = testing::ReadFileOrDie(testing::ExamplePath("echo"));
  auto same = registry_->Deploy(spec, so, "", /*skip_unchanged=*/true);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version(), 1u);
  spec.set_concurrency(9);
  auto changed = registry_->Deploy(spec, so, "", /*skip_unchanged=*/true);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->version(), 2u);
}

TEST_F(FunctionRegistryTest, DeleteRemovesEveryVersionAndSurvivesReopen) {
  Deploy("greet", "echo");
  Deploy("greet", "echo");
  Deploy("other", "echo");
  auto n = registry_->Delete("greet");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(registry_->Get("greet", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Delete("greet").status().code(), absl::StatusCode::kNotFound);
  auto reopened =
      FunctionRegistry::Open(store_.get(), artifacts_.get(), executors_.get(), Clock::Real());
  ASSERT_TRUE(reopened.ok());
  ASSERT_EQ((*reopened)->List().size(), 1u);
  EXPECT_EQ((*reopened)->List()[0].spec().name(), "other");
}

}  // namespace
}  // namespace sluice
