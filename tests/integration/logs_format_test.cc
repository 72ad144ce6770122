// The server's own log end to end: a real `sluice serve --log-format json`
// whose standard error must be JSON lines throughout (start-up, function
// output, shutdown), the text format by default, and a bad --log-format
// refused at once.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"
#include "tests/support/json_lines.h"

namespace sluice {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::ServerProcess;

// JsonObject is one parsed JSON line: its members in order, strings as
// their decoded text and other values as their JSON text.
struct JsonObject {
  std::vector<std::string> keys;
  std::map<std::string, std::string> values;
  std::map<std::string, bool> is_string;
  std::string line;

  bool Has(const std::string& key, const std::string& value) const {
    auto it = values.find(key);
    return it != values.end() && it->second == value;
  }
};

// ParseJsonLines parses every line of `text` (strictly; see
// tests/support/json_lines.h); fails the test when one is not a JSON object.
std::vector<JsonObject> ParseJsonLines(const std::string& text) {
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::vector<JsonObject> objects;
  for (const std::vector<testing::JsonMember>& members : testing::ParseJsonLines(text)) {
    JsonObject& object = objects.emplace_back();
    if (objects.size() <= lines.size()) object.line = lines[objects.size() - 1];
    for (const testing::JsonMember& member : members) {
      object.keys.push_back(member.key);
      object.values[member.key] = member.value;
      object.is_string[member.key] = member.is_string;
    }
  }
  return objects;
}

class LogsFormatTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(LogsFormatTest, JsonServerLogsEveryLineAsAJsonObject) {
  const std::string stderr_path = dir_ + "/stderr.log";
  auto started = ServerProcess::Start(dir_ + "/data", {"--log-format", "json"}, {}, stderr_path);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  auto functions = v1::Functions::NewStub(server->Channel());
  auto invocations = v1::Invocations::NewStub(server->Channel());

  // crash with "print" writes a line to stdout and one to stderr.
  v1::DeployResponse deployed;
  grpc::Status s = testing::DeployExample(*functions, "printer", "crash", &deployed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::InvokeRequest request;
  request.set_function("printer");
  request.set_payload("print");
  v1::InvokeResponse response;
  s = invocations->Invoke(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string id = response.invocation_id();
  ASSERT_FALSE(id.empty());
  const auto trace_header = context.GetServerInitialMetadata().find("sluice-trace-id");
  ASSERT_NE(trace_header, context.GetServerInitialMetadata().end());
  const std::string trace_id(trace_header->second.data(), trace_header->second.size());
  ASSERT_EQ(trace_id.size(), 32u);
  // The output reaches the log as the worker's pipes are drained.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        const std::string log = testing::ReadFileOrDie(stderr_path);
        return log.find("\"msg\":\"hello from " + id) != std::string::npos &&
               log.find("\"msg\":\"warning from " + id) != std::string::npos;
      },
      absl::Seconds(20)));
  const int status = server->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  const std::string log = testing::ReadFileOrDie(stderr_path);
  const std::vector<JsonObject> objects = ParseJsonLines(log);
  ASSERT_EQ(objects.size(), static_cast<size_t>(std::count(log.begin(), log.end(), '\n'))) << log;
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)");
  const JsonObject* serving = nullptr;
  const JsonObject* stdout_line = nullptr;
  const JsonObject* stderr_line = nullptr;
  bool drained = false;
  for (const JsonObject& object : objects) {
    ASSERT_GE(object.keys.size(), 4u) << object.line;
    EXPECT_THAT(std::vector<std::string>(object.keys.begin(), object.keys.begin() + 4),
                ::testing::ElementsAre("time", "level", "component", "msg"))
        << object.line;
    EXPECT_TRUE(std::regex_match(object.values.at("time"), rfc3339)) << object.line;
    EXPECT_THAT(object.values.at("level"), ::testing::AnyOf("debug", "info", "warn", "error"));
    if (object.Has("component", "gateway") && object.values.contains("grpc_port")) {
      serving = &object;
    }
    if (object.Has("component", "function") && object.Has("msg", "hello from " + id)) {
      stdout_line = &object;
    }
    if (object.Has("component", "function") && object.Has("msg", "warning from " + id)) {
      stderr_line = &object;
    }
    if (object.Has("component", "shutdown") && object.Has("msg", "drained, shutting down")) {
      drained = true;
    }
  }
  ASSERT_NE(serving, nullptr) << log;
  EXPECT_EQ(serving->values.at("grpc_port"), std::to_string(server->grpc_port()));
  EXPECT_FALSE(serving->is_string.at("grpc_port"));
  EXPECT_EQ(serving->values.at("metrics_port"), std::to_string(server->metrics_port()));
  ASSERT_NE(stdout_line, nullptr) << log;
  EXPECT_TRUE(stdout_line->Has("level", "info"));
  EXPECT_TRUE(stdout_line->Has("function", "printer")) << stdout_line->line;
  EXPECT_TRUE(stdout_line->Has("invocation_id", id)) << stdout_line->line;
  EXPECT_TRUE(stdout_line->Has("trace_id", trace_id)) << stdout_line->line;
  EXPECT_TRUE(stdout_line->Has("stream", "stdout")) << stdout_line->line;
  EXPECT_TRUE(stdout_line->Has("version", std::to_string(deployed.function().version())))
      << stdout_line->line;
  ASSERT_NE(stderr_line, nullptr) << log;
  EXPECT_TRUE(stderr_line->Has("invocation_id", id)) << stderr_line->line;
  EXPECT_TRUE(stderr_line->Has("stream", "stderr")) << stderr_line->line;
  EXPECT_TRUE(drained) << log;
}

TEST_F(LogsFormatTest, TextIsTheDefaultFormat) {
  const std::string stderr_path = dir_ + "/stderr.log";
  auto started = ServerProcess::Start(dir_ + "/data", {}, {}, stderr_path);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<ServerProcess> server = *std::move(started);
  const int port = server->grpc_port();
  EXPECT_EQ(server->Stop(), 0);
  const std::string log = testing::ReadFileOrDie(stderr_path);
  EXPECT_TRUE(std::regex_search(
      log,
      std::regex(
          R"((^|\n)\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z info gateway: serving gRPC on port )" +
          std::to_string(port) + R"(, .* grpc_port=)" + std::to_string(port) + " ")))
      << log;
}

TEST_F(LogsFormatTest, UnknownLogFormatIsRefusedNamingTheFormats) {
  const testing::RunResult result = testing::RunCommand(
      {testing::BinaryDir() + "/sluice", "serve", "--log-format", "xml", "--listen", "127.0.0.1:0",
       "--metrics-listen", "127.0.0.1:0", "--data-dir", dir_ + "/data"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.err, AllOf(HasSubstr("--log-format"), HasSubstr("xml"), HasSubstr("json"),
                                HasSubstr("text")));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data"));
}

}  // namespace
}  // namespace sluice
