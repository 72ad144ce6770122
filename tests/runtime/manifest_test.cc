// Tests of ParseManifest and LoadManifest: the sluice.yaml format.
#include "runtime/manifest.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kTwoFunctions[] = R"yaml(
functions:
  - name: echo
    runtime: native
    artifact: ../build/functions/libecho.so
    entry_point: my_entry
    concurrency: 8
    max_queue: 1000
    timeout: 1m30s
    isolation: none
    description: "Says it back"
    env: {GREETING: hello, PORT: 8080, EMPTY: ""}
  - name: sleep
    runtime: native
    artifact: /opt/functions/libsleep.so
    timeout: 500ms
)yaml";

TEST(ParseManifestTest, ParsesEveryFieldOfEveryFunction) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(kTwoFunctions, "/srv/app");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);

  const ManifestEntry& echo = (*entries)[0];
  EXPECT_EQ(echo.spec.name(), "echo");
  EXPECT_EQ(echo.spec.runtime(), v1::RUNTIME_NATIVE);
  EXPECT_EQ(echo.artifact_path, "/srv/build/functions/libecho.so");
  EXPECT_EQ(echo.spec.entry_point(), "my_entry");
  EXPECT_EQ(echo.spec.concurrency(), 8u);
  EXPECT_EQ(echo.spec.max_queue(), 1000u);
  EXPECT_EQ(echo.spec.timeout().seconds(), 90);
  EXPECT_EQ(echo.spec.timeout().nanos(), 0);
  EXPECT_EQ(echo.spec.isolation(), v1::ISOLATION_NONE);
  EXPECT_EQ(echo.spec.description(), "Says it back");
  ASSERT_EQ(echo.spec.env().size(), 3u);
  EXPECT_EQ(echo.spec.env().at("GREETING"), "hello");
  EXPECT_EQ(echo.spec.env().at("PORT"), "8080");
  EXPECT_EQ(echo.spec.env().at("EMPTY"), "");

  const ManifestEntry& sleep = (*entries)[1];
  EXPECT_EQ(sleep.spec.name(), "sleep");
  EXPECT_EQ(sleep.artifact_path, "/opt/functions/libsleep.so");
  EXPECT_EQ(sleep.spec.timeout().seconds(), 0);
  EXPECT_EQ(sleep.spec.timeout().nanos(), 500000000);
  // Optional fields left out keep their proto defaults.
  EXPECT_EQ(sleep.spec.concurrency(), 0u);
  EXPECT_EQ(sleep.spec.entry_point(), "");
  EXPECT_EQ(sleep.spec.isolation(), v1::ISOLATION_UNSPECIFIED);
}

TEST(ParseManifestTest, EmptyBaseDirLeavesRelativeArtifactsRelative) {
  absl::StatusOr<std::vector<ManifestEntry>> entries =
      ParseManifest("functions:\n  - {name: a, runtime: native, artifact: ./out/../liba.so}\n", "");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].artifact_path, "liba.so");
}

struct BadManifest {
  std::string yaml;
  std::string message;  // expected in the error message
};

class BadManifestTest : public ::testing::TestWithParam<BadManifest> {};

TEST_P(BadManifestTest, IsInvalidArgumentNamingTheField) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = ParseManifest(GetParam().yaml, "/srv/app");
  ASSERT_FALSE(entries.ok()) << "accepted:\n" << GetParam().yaml;
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()), HasSubstr(GetParam().message));
}

// A function entry with all required fields, to prefix bad entries with.
constexpr char kGood[] = "  - {name: ok, runtime: native, artifact: a.so}\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadManifestTest,
    ::testing::Values(
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: b, runtime: native, artifact: b.so, timeout: 10x}\n",
                    "functions[1].timeout: \"10x\" is not a duration (use 500ms, 10s, 1m)"},
        BadManifest{"functions:\n  - {runtime: native, artifact: a.so}\n",
                    "functions[0].name: missing"},
        BadManifest{std::string("functions:\n") + kGood +
                        "  - {name: b, runtime: native, artifact: b.so}\n"
                        "  - {name: c, runtime: native, artifact: c.so, concurrncy: 3}\n",
                    "functions[2]: unknown key \"concurrncy\""},
        BadManifest{"functions:\n  - name: a\n    runtime: [native\n",
                    "YAML syntax error at line 4, column 1"},
        BadManifest{"functions:\n  - name: a\n  runtime: native\n", "YAML syntax error at line 3"},
        BadManifest{std::string("functions:\n") + kGood + kGood,
                    "functions[1].name: \"ok\" is already used by functions[0]"},
        BadManifest{"functions:\n  - {name: a, artifact: a.so}\n", "functions[0].runtime: missing"},
        BadManifest{"functions:\n  - {name: a, runtime: lambda, artifact: a.so}\n",
                    "functions[0].runtime: \"lambda\" is not supported (only \"native\")"},
        BadManifest{"functions:\n  - {name: a, runtime: native}\n",
                    "functions[0].artifact: missing"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: ''}\n",
                    "functions[0].artifact: must not be empty"},
        BadManifest{"functions:\n  - {name: [a], runtime: native, artifact: a.so}\n",
                    "functions[0].name: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, concurrency: -1}\n",
                    "functions[0].concurrency: \"-1\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, concurrency: 0}\n",
                    "functions[0].concurrency: \"0\" is not a positive integer"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, max_queue: lots}\n",
                    "functions[0].max_queue: \"lots\" is not a positive integer"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, max_queue: 99999999999}\n",
            "functions[0].max_queue: 99999999999 is too large"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: 10}\n",
                    "functions[0].timeout: \"10\" is not a duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: -1s}\n",
                    "functions[0].timeout: \"-1s\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: inf}\n",
                    "functions[0].timeout: \"inf\" must be a positive, finite duration"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, timeout: }\n",
                    "functions[0].timeout: has no value"},
        BadManifest{
            "functions:\n  - {name: a, runtime: native, artifact: a.so, isolation: process}\n",
            "functions[0].isolation: \"process\" is not supported (only \"none\")"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, entry_point: ''}\n",
                    "functions[0].entry_point: must not be empty"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: [A]}\n",
                    "functions[0].env: must be a mapping of names to values, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A: [1]}}\n",
                    "functions[0].env.A: must be a single value, not a list"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A: }}\n",
                    "functions[0].env.A: has no value"},
        BadManifest{"functions:\n  - {name: a, runtime: native, artifact: a.so, env: {A=B: c}}\n",
                    "functions[0].env: \"A=B\" is not a valid variable name"},
        BadManifest{"functions:\n  - {name: a, name: b, runtime: native, artifact: a.so}\n",
                    "functions[0]: key \"name\" appears twice"},
        BadManifest{"functions:\n  - echo\n",
                    "functions[0]: must be a mapping of function fields, not a single value"},
        BadManifest{"functions: {name: a}\n", "functions: must be a list, not a mapping"},
        BadManifest{"functions: []\n", "functions: must list at least one function"},
        BadManifest{"functions:\n", "functions: missing"},
        BadManifest{"fnctions: []\n", "manifest: unknown key \"fnctions\""},
        BadManifest{"- name: a\n", "manifest: must be a mapping with a \"functions\" list"},
        BadManifest{"# nothing\n", "manifest: is empty"},
        BadManifest{std::string("functions:\n") + kGood + "---\nfunctions:\n" + kGood,
                    "manifest: holds 2 YAML documents"}));

class LoadManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "deploy");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& relative, const std::string& text) {
    const std::filesystem::path path = dir_ / relative;
    std::ofstream(path) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(LoadManifestTest, ResolvesArtifactsAgainstTheManifestDirectory) {
  const std::string path = Write(
      "deploy/sluice.yaml", "functions:\n  - {name: a, runtime: native, artifact: ../lib/a.so}\n");
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].artifact_path, (dir_ / "lib/a.so").lexically_normal().string());
}

TEST_F(LoadManifestTest, MissingFileIsNotFound) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest((dir_ / "nope.yaml").string());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(entries.status().message()), HasSubstr("nope.yaml: no such file"));
}

TEST_F(LoadManifestTest, ErrorsStartWithThePath) {
  const std::string path = Write(
      "deploy/bad.yaml", "functions:\n  - {name: a, runtime: native, artifact: a.so, x: 1}\n");
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest(path);
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()),
              StartsWith(path + ": functions[0]: unknown key \"x\""));
}

TEST_F(LoadManifestTest, DirectoryIsInvalidArgument) {
  absl::StatusOr<std::vector<ManifestEntry>> entries = LoadManifest((dir_ / "deploy").string());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
