// Tests of the local half of `sluice deploy`: specs from flags or a
// manifest, and reading the artifact.
#include "cli/deploy_command.h"

#include <filesystem>
#include <fstream>

#include "cli/artifact_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::cli {
namespace {

using ::testing::HasSubstr;

class DeployCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  }

  std::filesystem::path dir_;
};

TEST_F(DeployCommandTest, FlagsBecomeOneSpec) {
  DeployFlags flags;
  flags.name = "echo";
  flags.artifact = "libecho.so";
  flags.entry_point = "entry";
  flags.concurrency = 8;
  flags.max_queue = 50;
  flags.timeout = "1m30s";
  flags.env = {"A=1", "B=x=y"};
  flags.isolation = "none";
  flags.description = "says it back";
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  const ManifestEntry& entry = entries->front();
  EXPECT_EQ(entry.artifact_path, "libecho.so");
  EXPECT_EQ(entry.spec.name(), "echo");
  EXPECT_EQ(entry.spec.runtime(), v1::RUNTIME_NATIVE);
  EXPECT_EQ(entry.spec.entry_point(), "entry");
  EXPECT_EQ(entry.spec.concurrency(), 8u);
  EXPECT_EQ(entry.spec.max_queue(), 50u);
  EXPECT_EQ(entry.spec.timeout().seconds(), 90);
  EXPECT_EQ(entry.spec.env().at("B"), "x=y");
  EXPECT_EQ(entry.spec.isolation(), v1::ISOLATION_NONE);
  EXPECT_EQ(entry.spec.description(), "says it back");
  // Worker fields not given stay unset for the server to default.
  EXPECT_EQ(entry.spec.handler(), "");
  EXPECT_EQ(entry.spec.memory_mb(), 0u);
  EXPECT_EQ(entry.spec.min_warm(), 0u);
  EXPECT_FALSE(entry.spec.has_idle_timeout());
  EXPECT_EQ(entry.spec.max_open_files(), 0u);
  // Retry and destination fields not given stay unset too.
  EXPECT_FALSE(entry.spec.has_retry());
  EXPECT_FALSE(entry.spec.has_max_event_age());
  EXPECT_EQ(entry.spec.on_success(), "");
  EXPECT_EQ(entry.spec.on_failure(), "");
}

TEST_F(DeployCommandTest, RetryAndDestinationFlagsReachTheSpec) {
  DeployFlags flags;
  flags.name = "resize";
  flags.artifact = "libresize.so";
  flags.max_attempts = 5;
  flags.initial_backoff = "500ms";
  flags.max_backoff = "1m";
  flags.backoff_multiplier = 1.5;
  flags.retry_on = {"function-error,timeout", "crash", "timeout"};
  flags.max_event_age = "1h";
  flags.on_success = "notify";
  flags.on_failure = "alert";
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  const v1::FunctionSpec& spec = entries->front().spec;
  ASSERT_TRUE(spec.has_retry());
  EXPECT_EQ(spec.retry().max_attempts(), 5u);
  EXPECT_EQ(spec.retry().initial_backoff().nanos(), 500000000);
  EXPECT_EQ(spec.retry().max_backoff().seconds(), 60);
  EXPECT_DOUBLE_EQ(spec.retry().multiplier(), 1.5);
  // Comma lists and repeats combine; an outcome given twice is kept once.
  ASSERT_EQ(spec.retry().retry_on_size(), 3);
  EXPECT_EQ(spec.retry().retry_on(0), v1::RETRY_ON_FUNCTION_ERROR);
  EXPECT_EQ(spec.retry().retry_on(1), v1::RETRY_ON_TIMEOUT);
  EXPECT_EQ(spec.retry().retry_on(2), v1::RETRY_ON_CRASH);
  EXPECT_EQ(spec.max_event_age().seconds(), 3600);
  EXPECT_EQ(spec.on_success(), "notify");
  EXPECT_EQ(spec.on_failure(), "alert");
}

TEST_F(DeployCommandTest, OneRetryFlagLeavesTheOtherRetryFieldsUnset) {
  DeployFlags flags;
  flags.name = "resize";
  flags.artifact = "libresize.so";
  flags.max_backoff = "10s";
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  const v1::RetryPolicy& retry = entries->front().spec.retry();
  EXPECT_EQ(retry.max_backoff().seconds(), 10);
  EXPECT_EQ(retry.max_attempts(), 0u);
  EXPECT_FALSE(retry.has_initial_backoff());
  EXPECT_EQ(retry.multiplier(), 0);
  EXPECT_TRUE(retry.retry_on().empty());
}

TEST_F(DeployCommandTest, WorkerFlagsReachTheSpec) {
  DeployFlags flags;
  flags.name = "greet";
  flags.artifact = "greet.zip";
  flags.runtime = "lambda";
  flags.handler = "function.handler";
  flags.isolation = "process";
  flags.memory_mb = 256;
  flags.min_warm = 2;
  flags.idle_timeout = "1m30s";
  flags.max_open_files = 4096;
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  const v1::FunctionSpec& spec = entries->front().spec;
  EXPECT_EQ(spec.runtime(), v1::RUNTIME_LAMBDA);
  EXPECT_EQ(spec.handler(), "function.handler");
  EXPECT_EQ(spec.isolation(), v1::ISOLATION_PROCESS);
  EXPECT_EQ(spec.memory_mb(), 256u);
  EXPECT_EQ(spec.min_warm(), 2u);
  EXPECT_EQ(spec.idle_timeout().seconds(), 90);
  EXPECT_EQ(spec.max_open_files(), 4096u);

  flags.runtime = "exec";
  entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ(entries->front().spec.runtime(), v1::RUNTIME_EXEC);
}

TEST_F(DeployCommandTest, MalformedFlagsAreInvalidArgumentNamingTheFlag) {
  const auto error_of = [](DeployFlags flags) {
    absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(entries.status().message());
  };
  DeployFlags base;
  base.name = "echo";
  base.artifact = "a.so";

  DeployFlags no_artifact = base;
  no_artifact.artifact.clear();
  EXPECT_THAT(error_of(no_artifact), HasSubstr("--artifact"));
  DeployFlags no_name = base;
  no_name.name.clear();
  EXPECT_THAT(error_of(no_name), HasSubstr("NAME"));
  DeployFlags bad_timeout = base;
  bad_timeout.timeout = "10x";
  EXPECT_THAT(error_of(bad_timeout), HasSubstr("--timeout \"10x\""));
  DeployFlags bad_env = base;
  bad_env.env = {"NOEQUALS"};
  EXPECT_THAT(error_of(bad_env), HasSubstr("--env"));
  DeployFlags bad_runtime = base;
  bad_runtime.runtime = "python";
  EXPECT_THAT(error_of(bad_runtime),
              HasSubstr("--runtime \"python\" is not a runtime (use native, lambda or exec)"));
  DeployFlags empty_runtime = base;
  empty_runtime.runtime = "";
  EXPECT_THAT(error_of(empty_runtime), HasSubstr("--runtime \"\""));
  DeployFlags bad_isolation = base;
  bad_isolation.isolation = "vm";
  EXPECT_THAT(error_of(bad_isolation),
              HasSubstr("--isolation \"vm\" is not an isolation (use none or process)"));
  DeployFlags bad_idle_timeout = base;
  bad_idle_timeout.idle_timeout = "5";
  EXPECT_THAT(error_of(bad_idle_timeout), HasSubstr("--idle-timeout \"5\" is not a duration"));
  DeployFlags zero_idle_timeout = base;
  zero_idle_timeout.idle_timeout = "0s";
  EXPECT_THAT(error_of(zero_idle_timeout),
              HasSubstr("--idle-timeout \"0s\" must be a positive, finite duration"));
  DeployFlags bad_initial_backoff = base;
  bad_initial_backoff.initial_backoff = "fast";
  EXPECT_THAT(error_of(bad_initial_backoff),
              HasSubstr("--initial-backoff \"fast\" is not a duration"));
  DeployFlags bad_max_backoff = base;
  bad_max_backoff.max_backoff = "-1m";
  EXPECT_THAT(error_of(bad_max_backoff),
              HasSubstr("--max-backoff \"-1m\" must be a positive, finite duration"));
  DeployFlags bad_multiplier = base;
  bad_multiplier.backoff_multiplier = -2;
  EXPECT_THAT(error_of(bad_multiplier), HasSubstr("--backoff-multiplier -2 is not a positive"));
  DeployFlags bad_retry_on = base;
  bad_retry_on.retry_on = {"crash,oom"};
  EXPECT_THAT(error_of(bad_retry_on),
              HasSubstr("--retry-on \"oom\" is not an outcome (use function-error, crash, "
                        "timeout or lease-lost)"));
  DeployFlags empty_retry_on = base;
  empty_retry_on.retry_on = {"crash,"};
  EXPECT_THAT(error_of(empty_retry_on), HasSubstr("--retry-on \"\" is not an outcome"));
  DeployFlags bad_max_event_age = base;
  bad_max_event_age.max_event_age = "1d";
  EXPECT_THAT(error_of(bad_max_event_age), HasSubstr("--max-event-age \"1d\" is not a duration"));
}

constexpr char kManifest[] =
    "functions:\n"
    "  - {name: a, runtime: native, artifact: lib/a.so}\n"
    "  - {name: b, runtime: native, artifact: lib/b.so, concurrency: 2}\n"
    "  - {name: c, runtime: lambda, artifact: c.zip, handler: main.handle, memory_mb: 128,\n"
    "     min_warm: 1, idle_timeout: 30s, max_open_files: 256, isolation: process,\n"
    "     retry: {max_attempts: 4, retry_on: [crash]}, max_event_age: 2h, on_failure: a}\n";

TEST_F(DeployCommandTest, ManifestGivesEveryFunctionWithResolvedPaths) {
  DeployFlags flags;
  flags.manifest = Write("sluice.yaml", kManifest);
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].artifact_path, (dir_ / "lib/a.so").string());
  EXPECT_EQ((*entries)[1].spec.concurrency(), 2u);
  const v1::FunctionSpec& c = (*entries)[2].spec;
  EXPECT_EQ(c.runtime(), v1::RUNTIME_LAMBDA);
  EXPECT_EQ(c.handler(), "main.handle");
  EXPECT_EQ(c.memory_mb(), 128u);
  EXPECT_EQ(c.min_warm(), 1u);
  EXPECT_EQ(c.idle_timeout().seconds(), 30);
  EXPECT_EQ(c.max_open_files(), 256u);
  EXPECT_EQ(c.isolation(), v1::ISOLATION_PROCESS);
  EXPECT_EQ(c.retry().max_attempts(), 4u);
  ASSERT_EQ(c.retry().retry_on_size(), 1);
  EXPECT_EQ(c.retry().retry_on(0), v1::RETRY_ON_CRASH);
  EXPECT_EQ(c.max_event_age().seconds(), 7200);
  EXPECT_EQ(c.on_failure(), "a");
}

TEST_F(DeployCommandTest, NameWithManifestPicksOneFunction) {
  DeployFlags flags;
  flags.manifest = Write("sluice.yaml", kManifest);
  flags.name = "b";
  absl::StatusOr<std::vector<ManifestEntry>> entries = DeployEntries(flags);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().spec.name(), "b");

  flags.name = "d";
  EXPECT_THAT(std::string(DeployEntries(flags).status().message()),
              HasSubstr("has no function named \"d\""));
}

TEST_F(DeployCommandTest, MissingManifestIsNotFound) {
  DeployFlags flags;
  flags.manifest = (dir_ / "none.yaml").string();
  EXPECT_EQ(DeployEntries(flags).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeployCommandTest, DigestArtifactGivesSha256AndSize) {
  absl::StatusOr<ArtifactDigest> digest = DigestArtifact(Write("abc", "abc"));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest->size, 3u);

  digest = DigestArtifact(Write("empty", ""));
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(digest->sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestArtifact((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(DigestArtifact(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DeployCommandTest, ForEachChunkSplitsAtTheChunkSize) {
  const std::string path = Write("ten", "0123456789");
  std::vector<std::string> chunks;
  ASSERT_TRUE(ForEachChunk(path, 4, [&](absl::string_view chunk) {
                chunks.emplace_back(chunk);
                return true;
              }).ok());
  EXPECT_EQ(chunks, (std::vector<std::string>{"0123", "4567", "89"}));

  int calls = 0;
  EXPECT_TRUE(absl::IsCancelled(ForEachChunk(path, 4, [&](absl::string_view) {
    ++calls;
    return false;
  })));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sluice::cli
