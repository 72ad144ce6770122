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

// Reads JSON lines strictly (valid UTF-8, each line one JSON object, no
// NaN, no raw control characters) and prints each member hex-encoded, one
// a line, with a blank line after each object.
constexpr char kStrictJsonLines[] = R"py(
import json, sys
data = sys.stdin.buffer.read().decode("utf-8")
if not data.endswith("\n"):
    sys.exit("the last line does not end in a newline")
def reject(constant):
    raise ValueError("not JSON: " + constant)
for number, line in enumerate(data[:-1].split("\n"), 1):
    try:
        members = json.loads(line, parse_constant=reject, object_pairs_hook=lambda pairs: pairs)
    except ValueError as error:
        sys.exit("line %d is not JSON (%s): %r" % (number, error, line))
    if not line.startswith("{") or not isinstance(members, list):
        sys.exit("line %d is not an object: %r" % (number, line))
    for key, value in members:
        kind = "s" if isinstance(value, str) else "r"
        text = value if isinstance(value, str) else json.dumps(value)
        print(key.encode().hex(), kind + text.encode().hex())
    print()
)py";

// ParseJsonLines parses every line of `text`; fails the test when one is
// not a JSON object.
std::vector<JsonObject> ParseJsonLines(const std::string& text) {
  const testing::RunResult result =
      testing::RunCommand({"/usr/bin/python3", "-c", kStrictJsonLines}, text);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::vector<JsonObject> objects(1);
  for (absl::string_view member : absl::StrSplit(result.out, '\n')) {
    if (member.empty()) {
      if (objects.size() <= lines.size()) objects.back().line = lines[objects.size() - 1];
      objects.emplace_back();
      continue;
    }
    const std::vector<std::string> parts = absl::StrSplit(member, ' ');
    if (parts.size() != 2 || parts[1].empty()) {
      ADD_FAILURE() << "unexpected checker output: " << member;
      continue;
    }
    const std::string key = absl::HexStringToBytes(parts[0]);
    objects.back().keys.push_back(key);
    objects.back().values[key] = absl::HexStringToBytes(parts[1].substr(1));
    objects.back().is_string[key] = parts[1][0] == 's';
  }
  objects.pop_back();  // after the last blank line
  if (!objects.empty() && objects.back().keys.empty()) objects.pop_back();
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
