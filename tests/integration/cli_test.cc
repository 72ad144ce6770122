// The `sluice` command against a real server: the five-minute tour, exit
// codes and error messages.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/client.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;
using testing::RunCommand;
using testing::RunResult;
using testing::ServerProcess;

class CliTest : public testing::ServerTest {
 protected:
  // Sluice runs the CLI against the test server (address from SLUICE_SERVER).
  RunResult Sluice(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), testing::BinaryDir() + "/sluice");
    return RunCommand(args, stdin_data, {"SLUICE_SERVER=" + server_->address()});
  }

  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
};

TEST_F(CliTest, FiveMinuteTour) {
  const std::string manifest = WriteFile("sluice.yaml",
                                         "functions:\n"
                                         "  - name: echo\n"
                                         "    runtime: native\n    artifact: " +
                                             testing::ExamplePath("echo") +
                                             "\n"
                                             "  - name: wordcount\n"
                                             "    runtime: native\n    artifact: " +
                                             testing::ExamplePath("wordcount") +
                                             "\n"
                                             "  - name: fail\n"
                                             "    runtime: native\n    artifact: " +
                                             testing::ExamplePath("fail") +
                                             "\n"
                                             "    timeout: 5s\n");
  RunResult r = Sluice({"deploy", "-f", manifest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("deployed echo version 1"));
  EXPECT_THAT(r.out, HasSubstr("deployed fail version 1"));

  r = Sluice({"ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("wordcount"));

  r = Sluice({"invoke", "echo", "--data", "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello");

  r = Sluice({"invoke", "wordcount", "--data", "@" + WriteFile("in.txt", "one two three\n")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"words\": 3"));

  r = Sluice({"invoke", "wordcount", "--data", "-"}, "a b c d");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"words\": 4"));

  r = Sluice({"invoke", "echo", "--async", "--data", "later"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = r.out;
  id.erase(id.find_last_not_of(" \n") + 1);
  ASSERT_EQ(id.rfind("inv_", 0), 0u) << id;

  r = Sluice({"watch", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));

  r = Sluice({"get", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(r.out, HasSubstr("attempt 1 of 3 started"));
  EXPECT_THAT(r.out, HasSubstr("later"));

  r = Sluice({"-o", "json", "get", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"id\""));
  EXPECT_THAT(r.out, HasSubstr(id));

  r = Sluice({"invocations", "--function", "echo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(id));

  r = Sluice({"cancel", id});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("already finished"));

  r = Sluice({"describe", "echo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("echo"));

  r = Sluice({"rm", "echo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sluice({"describe", "echo"});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(CliTest, DeployFromFlagsMakesNewVersions) {
  RunResult r = Sluice({"deploy", "greet", "--artifact", testing::ExamplePath("echo"),
                        "--concurrency", "2", "--timeout", "3s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version 1"));
  r = Sluice({"deploy", "greet", "--artifact", testing::ExamplePath("wordcount")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("version 2"));
  r = Sluice({"invoke", "greet", "--version", "1", "--data", "v1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "v1");
}

TEST_F(CliTest, ExitCodesSayWhatWentWrong) {
  RunResult r = Sluice({"deploy", "fail", "--artifact", testing::ExamplePath("fail")});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Sluice({"invoke", "fail"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("AlwaysFails"));

  r = Sluice({"invoke", "missing"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("\"missing\" not found"));

  r = Sluice({"invoke"});
  EXPECT_EQ(r.exit_code, 2);

  r = Sluice(
      {"deploy", "-f", WriteFile("bad.yaml", "functions:\n  - name: x\n    timeout: 10x\n")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("functions[0]"));

  r = Sluice({"deploy", "junk", "--artifact", WriteFile("junk.so", "not an ELF")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not a loadable shared object"));

  r = Sluice({"get", "inv_000000000000ffffffffffffffff"});
  EXPECT_EQ(r.exit_code, 3);

  r = RunCommand({testing::BinaryDir() + "/sluice", "--server", "127.0.0.1:1", "ls"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("127.0.0.1:1"));
}

}  // namespace
}  // namespace sluice
