// Tests of ExpandServeConfig: `sluice serve --config FILE`.
#include "cli/serve_config.h"

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/scoped_temp_dir.h"

namespace sluice::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ServeConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    const std::string path = dir_.path() + "/sluice.yaml";
    std::ofstream(path) << text;
    return path;
  }

  testing::ScopedTempDir dir_{"serve_config_test"};
};

TEST_F(ServeConfigTest, SettingsBecomeFlagsAndTheCommandLineWins) {
  const std::string path = Write(
      "listen: 0.0.0.0:50051\n"
      "shutdown-grace: 45s\n"
      "cgroup-root: \"\"\n"
      "manifest: [/etc/a.yaml, /etc/b.yaml]\n");
  absl::StatusOr<std::vector<std::string>> args =
      ExpandServeConfig({"sluice", "serve", "--config", path, "--shutdown-grace=5s"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args, ElementsAre("sluice", "serve", "--listen", "0.0.0.0:50051", "--cgroup-root",
                                 "", "--manifest", "/etc/a.yaml", "--manifest", "/etc/b.yaml",
                                 "--shutdown-grace=5s"));
  absl::StatusOr<std::vector<std::string>> equals =
      ExpandServeConfig({"sluice", "serve", "--config=" + path, "--listen", "127.0.0.1:1"});
  ASSERT_TRUE(equals.ok()) << equals.status();
  EXPECT_EQ((*equals)[2], "--shutdown-grace");
  EXPECT_EQ(std::count(equals->begin(), equals->end(), "--listen"), 1);
  absl::StatusOr<std::vector<std::string>> short_form =
      ExpandServeConfig({"sluice", "serve", "--config", path, "-f", "/etc/c.yaml"});
  ASSERT_TRUE(short_form.ok()) << short_form.status();
  EXPECT_EQ(std::count(short_form->begin(), short_form->end(), "--manifest"), 0)
      << "-f is --manifest: the command line's list wins";
}

TEST_F(ServeConfigTest, OtherCommandLinesAreLeftAlone) {
  const std::vector<std::string> invoke = {"sluice", "invoke", "echo", "--config", "x"};
  EXPECT_EQ(*ExpandServeConfig(invoke), invoke);
  const std::vector<std::string> serve = {"sluice", "serve", "--listen", "127.0.0.1:0"};
  EXPECT_EQ(*ExpandServeConfig(serve), serve);
}

TEST_F(ServeConfigTest, BadFilesAreRefusedNamingTheFile) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : {Case{"- listen\n", "must be a mapping of flag names to values"},
                        Case{"Listen: x\n", "\"Listen\" is not a flag name"},
                        Case{"listen: {a: b}\n", "listen: must be a value or a list of values"},
                        Case{"manifest: [[a]]\n", "manifest: list items must be values"},
                        Case{"config: other.yaml\n", "config cannot name another file"},
                        Case{"listen: [a\n", "not YAML"}}) {
    const std::string path = Write(c.text);
    absl::StatusOr<std::vector<std::string>> args =
        ExpandServeConfig({"sluice", "serve", "--config", path});
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(args.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(args.status().message(), HasSubstr(path)) << c.text;
  }
  EXPECT_THAT(ExpandServeConfig({"sluice", "serve", "--config", dir_.path() + "/none.yaml"})
                  .status()
                  .message(),
              HasSubstr("cannot read it"));
  EXPECT_FALSE(ExpandServeConfig({"sluice", "serve", "--config"}).ok());
}

}  // namespace
}  // namespace sluice::cli
