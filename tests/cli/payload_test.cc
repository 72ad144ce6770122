// Tests of --data, KEY=VALUE and duration flag parsing.
#include "cli/payload.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::cli {
namespace {

using ::testing::HasSubstr;

class ResolvePayloadTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }

  std::istringstream stdin_{"from stdin"};
};

TEST_F(ResolvePayloadTest, LiteralDataIsThePayload) {
  absl::StatusOr<std::string> payload = ResolvePayload("hello", stdin_, /*in_is_tty=*/false);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(*payload, "hello");
}

TEST_F(ResolvePayloadTest, AtFileReadsTheFileBytes) {
  const std::string bytes("a\0b\nc", 5);
  const std::string path = WriteFile("payload.bin", bytes);
  absl::StatusOr<std::string> payload = ResolvePayload("@" + path, stdin_, false);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(*payload, bytes);
}

TEST_F(ResolvePayloadTest, AtMissingFileIsNotFound) {
  absl::StatusOr<std::string> payload =
      ResolvePayload("@" + ::testing::TempDir() + "/no-such-payload", stdin_, false);
  EXPECT_EQ(payload.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(payload.status().message()), HasSubstr("no-such-payload"));
}

TEST_F(ResolvePayloadTest, BareAtIsInvalid) {
  EXPECT_EQ(ResolvePayload("@", stdin_, false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ResolvePayloadTest, DashReadsStdinEvenFromATerminal) {
  absl::StatusOr<std::string> payload = ResolvePayload("-", stdin_, /*in_is_tty=*/true);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, "from stdin");
}

TEST_F(ResolvePayloadTest, NoDataReadsStdinWhenItIsNotATerminal) {
  absl::StatusOr<std::string> payload = ResolvePayload(std::nullopt, stdin_, false);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, "from stdin");
}

TEST_F(ResolvePayloadTest, NoDataFromATerminalIsEmptyAndLeavesStdinAlone) {
  absl::StatusOr<std::string> payload = ResolvePayload(std::nullopt, stdin_, true);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, "");
  EXPECT_EQ(stdin_.tellg(), 0);
}

TEST(ParseKeyValuesTest, SplitsAtTheFirstEquals) {
  absl::StatusOr<std::map<std::string, std::string>> values =
      ParseKeyValues({"a=1", "b=x=y", "c="}, "--meta");
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(*values, (std::map<std::string, std::string>{{"a", "1"}, {"b", "x=y"}, {"c", ""}}));
}

TEST(ParseKeyValuesTest, RejectsMalformedPairsNamingTheFlag) {
  for (const std::vector<std::string>& pairs :
       std::vector<std::vector<std::string>>{{"novalue"}, {"=v"}, {"a=1", "a=2"}}) {
    absl::StatusOr<std::map<std::string, std::string>> values = ParseKeyValues(pairs, "--meta");
    EXPECT_EQ(values.status().code(), absl::StatusCode::kInvalidArgument) << pairs.back();
    EXPECT_THAT(std::string(values.status().message()), HasSubstr("--meta")) << pairs.back();
  }
}

TEST(ParsePositiveDurationTest, AcceptsGoStyleDurations) {
  EXPECT_EQ(*ParsePositiveDuration("500ms", "--timeout"), absl::Milliseconds(500));
  EXPECT_EQ(*ParsePositiveDuration("1m30s", "--timeout"), absl::Seconds(90));
}

TEST(ParsePositiveDurationTest, RejectsOthersNamingTheFlag) {
  for (const char* text : {"10", "10x", "0s", "-1s", "inf", ""}) {
    absl::StatusOr<absl::Duration> duration = ParsePositiveDuration(text, "--timeout");
    EXPECT_EQ(duration.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(duration.status().message()), HasSubstr("--timeout")) << text;
  }
}

}  // namespace
}  // namespace sluice::cli
