// Tests of the structured logger: the JSON and text line formats (JSON read
// back by a strict parser: Python's json module on strictly decoded UTF-8),
// escaping, level filtering, whole lines under concurrency, and flag
// parsing.
#include "monitoring/log.h"

#include <algorithm>
#include <iostream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/support/log.h"
#include "gtest/gtest.h"
#include "tests/support/json_lines.h"
#include "tests/support/server_process.h"

namespace sluice {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// 2026-11-27T23:10:00.123456Z
const absl::Time kTime = absl::FromUnixMicros(1795821000123456);

using testing::JsonMember;
using testing::ParseJsonLines;

JsonMember Str(std::string key, std::string value) { return {std::move(key), std::move(value)}; }
JsonMember Raw(std::string key, std::string value) {
  return {std::move(key), std::move(value), false};
}

std::vector<JsonMember> ParseJsonLine(const std::string& line) {
  std::vector<std::vector<JsonMember>> objects = ParseJsonLines(line);
  EXPECT_EQ(objects.size(), 1u) << line;
  return objects.empty() ? std::vector<JsonMember>{} : objects.front();
}

TEST(LogTest, JsonLinesHaveTheStandardFieldsThenTheGivenOnes) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "gateway", "serving",
                    {{"grpc_port", 1234}, {"data_dir", "/tmp/x"}, {"ready", true}});
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-27T23:10:00.123456Z\",\"level\":\"info\",\"component\":"
            "\"gateway\",\"msg\":\"serving\",\"grpc_port\":1234,\"data_dir\":\"/tmp/x\","
            "\"ready\":true}\n");
  EXPECT_THAT(ParseJsonLine(line),
              ::testing::ElementsAre(Str("time", "2026-11-27T23:10:00.123456Z"),
                                     Str("level", "info"), Str("component", "gateway"),
                                     Str("msg", "serving"), Raw("grpc_port", "1234"),
                                     Str("data_dir", "/tmp/x"), Raw("ready", "true")));
}

TEST(LogTest, JsonLevelsAreNamedDebugInfoWarnError) {
  for (const auto& [level, name] :
       std::vector<std::pair<LogLevel, std::string>>{{LogLevel::kDebug, "debug"},
                                                     {LogLevel::kInfo, "info"},
                                                     {LogLevel::kWarning, "warn"},
                                                     {LogLevel::kError, "error"}}) {
    EXPECT_EQ(LogLevelName(level), name);
    EXPECT_THAT(FormatLogLine(LogFormat::kJson, kTime, level, "c", "m", {}),
                HasSubstr("\"level\":\"" + name + "\""));
  }
}

TEST(LogTest, JsonEscapesQuotesBackslashesAndControlCharacters) {
  const std::string text = std::string("say \"hi\" C:\\dir\nnext\r\ttab \x01\x1f\x7f nul:") +
                           std::string(1, '\0') + " end";
  const std::string line = FormatLogLine(LogFormat::kJson, kTime, LogLevel::kError, "comp\"onent",
                                         text, {{"key\n\"with\\", text}});
  EXPECT_THAT(line, HasSubstr("\"msg\":\"say \\\"hi\\\" C:\\\\dir\\nnext\\r\\ttab "
                              "\\u0001\\u001f\\u007f nul:\\u0000 end\""));
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  EXPECT_THAT(ParseJsonLine(line),
              ::testing::ElementsAre(Str("time", "2026-11-27T23:10:00.123456Z"),
                                     Str("level", "error"), Str("component", "comp\"onent"),
                                     Str("msg", text), Str("key\n\"with\\", text)));
}

TEST(LogTest, JsonKeepsValidUtf8AndReplacesInvalidBytes) {
  const std::string valid = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8";
  const std::string invalid = "ok \xFF cut \xE2\x82 surrogate \xED\xA0\x80 overlong \xC0\xAF";
  const std::string replaced =
      "ok \xEF\xBF\xBD cut \xEF\xBF\xBD\xEF\xBF\xBD surrogate "
      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD overlong \xEF\xBF\xBD\xEF\xBF\xBD";
  const std::string line = FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "function",
                                         valid, {{"text", invalid}, {"k\xFF", "v"}});
  EXPECT_THAT(
      ParseJsonLine(line),
      ::testing::ElementsAre(Str("time", "2026-11-27T23:10:00.123456Z"), Str("level", "info"),
                             Str("component", "function"), Str("msg", valid), Str("text", replaced),
                             Str("k\xEF\xBF\xBD", "v")));
}

TEST(LogTest, JsonWritesNumbersAndBooleansBareAndNonFiniteNumbersAsStrings) {
  const std::string line = FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "c", "m",
                                         {{"negative", -42},
                                          {"max", std::numeric_limits<uint64_t>::max()},
                                          {"ratio", 0.25},
                                          {"nan", std::numeric_limits<double>::quiet_NaN()},
                                          {"inf", std::numeric_limits<double>::infinity()},
                                          {"off", false}});
  const std::vector<JsonMember> members = ParseJsonLine(line);
  ASSERT_EQ(members.size(), 10u) << line;
  EXPECT_THAT(std::vector<JsonMember>(members.begin() + 4, members.end()),
              ::testing::ElementsAre(Raw("negative", "-42"), Raw("max", "18446744073709551615"),
                                     Raw("ratio", "0.25"), Str("nan", "NaN"), Str("inf", "+Inf"),
                                     Raw("off", "false")));
}

TEST(LogTest, FieldsNeverShadowTheStandardKeys) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "c", "m",
                    {{"msg", "x"}, {"time", "y"}, {"level", "z"}, {"component", "w"}});
  EXPECT_THAT(ParseJsonLine(line),
              ::testing::ElementsAre(Str("time", "2026-11-27T23:10:00.123456Z"),
                                     Str("level", "info"), Str("component", "c"), Str("msg", "m"),
                                     Str("field_msg", "x"), Str("field_time", "y"),
                                     Str("field_level", "z"), Str("field_component", "w")));
}

TEST(LogTest, JsonLinesCarryATraceIdWhenGiven) {
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  EXPECT_THAT(FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "function", "hello",
                            {{"function", "echo"}, {"trace_id", trace_id}}),
              HasSubstr(",\"function\":\"echo\",\"trace_id\":\"" + trace_id + "\"}"));
  EXPECT_THAT(FormatLogLine(LogFormat::kJson, kTime, LogLevel::kInfo, "function", "hello",
                            {{"function", "echo"}}),
              ::testing::Not(HasSubstr("trace_id")));
}

TEST(LogTest, TextLinesQuoteValuesThatNeedIt) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTime, LogLevel::kInfo, "gateway",
                          "serving gRPC on port 1234",
                          {{"grpc_port", 1234},
                           {"data_dir", "/my data"},
                           {"empty", ""},
                           {"quote", "a\"b\\c"},
                           {"eq", "a=b"},
                           {"plain", "/tmp/x"}}),
            "2026-11-27T23:10:00.123456Z info gateway: serving gRPC on port 1234 grpc_port=1234 "
            "data_dir=\"/my data\" empty=\"\" quote=\"a\\\"b\\\\c\" eq=\"a=b\" plain=/tmp/x\n");
}

TEST(LogTest, TextLinesStayOneLineOfValidUtf8) {
  const std::string line =
      FormatLogLine(LogFormat::kText, kTime, LogLevel::kWarning, "function", "two\nlines\r\x01",
                    {{"text", "bad \xFF\nbyte"}, {"odd key", "v"}});
  EXPECT_EQ(line,
            "2026-11-27T23:10:00.123456Z warn function: two\\nlines\\r\\x01 "
            "text=\"bad \xEF\xBF\xBD\\nbyte\" odd_key=v\n");
}

TEST(LogTest, LoggerWritesOnlyLinesAtOrAboveItsLevel) {
  std::ostringstream out;
  Logger logger(LogFormat::kText, LogLevel::kWarning, &out, [] { return kTime; });
  EXPECT_FALSE(logger.Enabled(LogLevel::kDebug));
  EXPECT_FALSE(logger.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(logger.Enabled(LogLevel::kWarning));
  EXPECT_TRUE(logger.Enabled(LogLevel::kError));
  logger.Log(LogLevel::kDebug, "c", "debug");
  logger.Log(LogLevel::kInfo, "c", "info");
  logger.Log(LogLevel::kWarning, "c", "warn");
  logger.Log(LogLevel::kError, "c", "error", {{"n", 1}});
  EXPECT_EQ(out.str(),
            "2026-11-27T23:10:00.123456Z warn c: warn\n"
            "2026-11-27T23:10:00.123456Z error c: error n=1\n");
}

TEST(LogTest, ConfigureChangesFormatAndLevelOfLaterLines) {
  std::ostringstream out;
  Logger logger(LogFormat::kText, LogLevel::kInfo, &out, [] { return kTime; });
  logger.Log(LogLevel::kDebug, "c", "hidden");
  logger.Configure(LogFormat::kJson, LogLevel::kDebug);
  EXPECT_EQ(logger.format(), LogFormat::kJson);
  EXPECT_EQ(logger.min_level(), LogLevel::kDebug);
  logger.Log(LogLevel::kDebug, "c", "shown");
  EXPECT_EQ(out.str(),
            "{\"time\":\"2026-11-27T23:10:00.123456Z\",\"level\":\"debug\",\"component\":\"c\","
            "\"msg\":\"shown\"}\n");
}

TEST(LogTest, ConfigureLoggingSetsTheDefaultLogger) {
  Logger& logger = DefaultLogger();
  EXPECT_EQ(&logger, &DefaultLogger());
  EXPECT_EQ(logger.format(), LogFormat::kText);
  EXPECT_EQ(logger.min_level(), LogLevel::kInfo);
  ConfigureLogging(LogFormat::kJson, LogLevel::kError);
  EXPECT_EQ(DefaultLogger().format(), LogFormat::kJson);
  EXPECT_EQ(DefaultLogger().min_level(), LogLevel::kError);
  EXPECT_FALSE(DefaultLogger().Enabled(LogLevel::kWarning));
  ConfigureLogging(LogFormat::kText, LogLevel::kInfo);
}

// CapturedStderr collects what is written to std::cerr (where
// DefaultLogger() writes) while it lives.
class CapturedStderr {
 public:
  CapturedStderr() : previous_(std::cerr.rdbuf(buffer_.rdbuf())) {}
  ~CapturedStderr() { std::cerr.rdbuf(previous_); }
  std::string str() const { return buffer_.str(); }

 private:
  std::ostringstream buffer_;
  std::streambuf* const previous_;
};

TEST(LogTest, FreeFunctionsAndGrpcMessagesGoThroughTheDefaultLogger) {
  std::string written;
  {
    CapturedStderr captured;
    ConfigureLogging(LogFormat::kJson, LogLevel::kDebug);
    RouteGrpcLogsToDefaultLogger();
    LogDebug("a", "debug");
    LogInfo("b", "info", {{"k", "v"}});
    LogWarning("c", "warn");
    LogError("d", "error");
    gpr_log_verbosity_init();  // as grpc_init does; until then gRPC logs nothing
    gpr_log(GPR_ERROR, "grpc says %d", 7);
    ConfigureLogging(LogFormat::kText, LogLevel::kInfo);
    LogDebug("a", "filtered out");
    written = captured.str();
  }
  const std::vector<std::vector<JsonMember>> objects = ParseJsonLines(written);
  ASSERT_EQ(objects.size(), 5u) << written;
  const auto head = [](const std::vector<JsonMember>& members) {
    return std::vector<JsonMember>(members.begin() + 1, members.begin() + 4);
  };
  EXPECT_THAT(head(objects[0]), ::testing::ElementsAre(Str("level", "debug"), Str("component", "a"),
                                                       Str("msg", "debug")));
  EXPECT_EQ(objects[1].back(), Str("k", "v"));
  EXPECT_THAT(head(objects[2]), ::testing::ElementsAre(Str("level", "warn"), Str("component", "c"),
                                                       Str("msg", "warn")));
  EXPECT_THAT(head(objects[3]), ::testing::ElementsAre(Str("level", "error"), Str("component", "d"),
                                                       Str("msg", "error")));
  ASSERT_EQ(objects[4].size(), 6u);
  EXPECT_THAT(head(objects[4]),
              ::testing::ElementsAre(Str("level", "error"), Str("component", "grpc"),
                                     Str("msg", "grpc says 7")));
  EXPECT_EQ(objects[4][4].key, "file");
  EXPECT_THAT(objects[4][4].value, ::testing::EndsWith("log_test.cc"));
  EXPECT_EQ(objects[4][5].key, "line");
  EXPECT_FALSE(objects[4][5].is_string);
}

TEST(LogTest, ConcurrentCallersWriteWholeLines) {
  constexpr int kThreads = 8;
  constexpr int kLinesEach = 500;
  std::ostringstream out;
  Logger logger(LogFormat::kJson, LogLevel::kInfo, &out);
  const std::string padding(300, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLinesEach; ++i) {
        logger.Log(LogLevel::kInfo, absl::StrCat("thread-", t), padding,
                   {{"thread", t}, {"line", i}});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::vector<std::vector<JsonMember>> objects = ParseJsonLines(out.str());
  ASSERT_EQ(objects.size(), static_cast<size_t>(kThreads * kLinesEach));
  std::set<std::pair<std::string, std::string>> seen;
  for (const std::vector<JsonMember>& members : objects) {
    ASSERT_EQ(members.size(), 6u);
    EXPECT_EQ(members[2], Str("component", "thread-" + members[4].value));
    EXPECT_EQ(members[3], Str("msg", padding));
    seen.emplace(members[4].value, members[5].value);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kLinesEach));
}

TEST(LogTest, ParseLogFormatAcceptsJsonAndTextOnly) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  for (const std::string bad : {"xml", "", "JSON"}) {
    const absl::StatusOr<LogFormat> format = ParseLogFormat(bad);
    ASSERT_FALSE(format.ok()) << bad;
    EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(format.status().message()),
                AllOf(HasSubstr("\"" + bad + "\""), HasSubstr("json"), HasSubstr("text")));
  }
}

TEST(LogTest, ParseLogLevelAcceptsTheFourLevels) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  const absl::StatusOr<LogLevel> level = ParseLogLevel("loud");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(level.status().message()),
              AllOf(HasSubstr("debug"), HasSubstr("info"), HasSubstr("warn"), HasSubstr("error")));
}

}  // namespace
}  // namespace sluice
